"""Op retry policies: exponential backoff for the steps that fail for passing reasons.

- ``POD_LOSS_RETRY`` for ``rt/inference``: a step pod evicted from a spot node or
  OOM-killed fails its health check; the k8s executor then retries the step
  under this policy with a fresh pod. Few retries and long waits: a sampler
  that failed on its own (divergences, bad data) fails the same way again, and
  each attempt costs minutes of a high-memory node.
- ``NETWORK_RETRY`` for steps that download (raw snapshots, the COVID Tracking
  Project / Our World in Data files) or talk to Postgres and S3: more attempts,
  short waits, full jitter so many partitions don't hammer a source in step.

Backoff delays: delay * 2**(attempt-1), jittered. Deterministic otherwise.
"""

from __future__ import annotations

import dagster as dg

POD_LOSS = "pod_loss"
NETWORK = "network"

POD_LOSS_RETRY = dg.RetryPolicy(
    max_retries=2, delay=60, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.PLUS_MINUS
)
NETWORK_RETRY = dg.RetryPolicy(
    max_retries=4, delay=5, backoff=dg.Backoff.EXPONENTIAL, jitter=dg.Jitter.FULL
)

_POLICIES = {POD_LOSS: POD_LOSS_RETRY, NETWORK: NETWORK_RETRY}


def retry_policy(kind: str) -> dg.RetryPolicy:
    """The retry policy for what a step may lose: its pod (``"pod_loss"``: evicted or
    OOM-killed) or a network call (``"network"``)."""
    try:
        return _POLICIES[kind]
    except KeyError:
        raise ValueError(f"retry kind must be one of {sorted(_POLICIES)}, got {kind!r}") from None
