"""Kubernetes step settings: which steps are heavy (high-memory pool) or light.

Assets put `op_tags=step_tags(HEAVY)` or `op_tags=step_tags(LIGHT)` on their
definitions; the k8s executor reads the `dagster-k8s/config` tag from there.
(Filled in by the production work: requests, limits, node selector, tolerations.)
"""

HEAVY = "heavy"
LIGHT = "light"


def step_tags(kind: str) -> dict:
    """Op tags for a step of the given kind (`HEAVY` or `LIGHT`)."""
    if kind not in (HEAVY, LIGHT):
        raise ValueError(f"step kind must be {HEAVY!r} or {LIGHT!r}, got {kind!r}")
    return {"rt-lake/step-kind": kind}
