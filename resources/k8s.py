"""Kubernetes step settings: which steps are heavy (high-memory pool) or light.

Assets put ``op_tags=step_tags(HEAVY)`` (rt/inference) or ``op_tags=step_tags(LIGHT)``
(everything else) on their definitions. In production the ``k8s_job_executor``
reads the ``dagster-k8s/config`` tag and merges it into each step's Job: the
"heavy queue / light queue" split rt.live ran with.

The sizes are settings (``K8S_HEAVY_MEMORY_LIMIT`` and friends: their defaults, with
the measurements behind the heavy step's, are in ``resources.settings.K8S_STEP``;
docs/production.md, "Sizing the high-memory pool"). The tags are built
when the asset modules are imported, so they are fixed for the life of a code server:
set the variables on the code location's deployment, where the run and step pods
inherit them.
"""

from __future__ import annotations

import json

from resources.settings import k8s_step_setting

HEAVY = "heavy"
LIGHT = "light"

STEP_KIND_TAG = "rt-lake/step-kind"
K8S_CONFIG_TAG = "dagster-k8s/config"  # the key dagster-k8s reads (USER_DEFINED_K8S_CONFIG_KEY)
POOL_LABEL = "rt-lake/pool"  # node label and taint key of the dedicated pool

# Non-root user of the images in docker/ (uid 10001); the root filesystem is
# read-only, so anything that writes (pytensor's compile cache, matplotlib's
# config, temp files) writes under /tmp, an emptyDir.
RUN_AS_USER = 10001
TMP_VOLUME = "tmp"


def setting(kind: str, name: str) -> str:
    """One setting for a step kind: the environment override, else the default."""
    _check_kind(kind)
    return k8s_step_setting(kind, name)


def _check_kind(kind: str) -> None:
    if kind not in (HEAVY, LIGHT):
        raise ValueError(f"step kind must be {HEAVY!r} or {LIGHT!r}, got {kind!r}")


def container_security_context() -> dict:
    return {
        "run_as_non_root": True,
        "run_as_user": RUN_AS_USER,
        "run_as_group": RUN_AS_USER,
        "allow_privilege_escalation": False,
        "read_only_root_filesystem": True,
        "capabilities": {"drop": ["ALL"]},
        "seccomp_profile": {"type": "RuntimeDefault"},
    }


def k8s_config(kind: str) -> dict:
    """The ``dagster-k8s/config`` value (snake_case, as dagster-k8s expects) for a step kind."""
    _check_kind(kind)

    def get(name: str) -> str:
        return setting(kind, name)

    pod_spec: dict = {
        "security_context": {
            "run_as_non_root": True,
            "run_as_user": RUN_AS_USER,
            "run_as_group": RUN_AS_USER,
            "fs_group": RUN_AS_USER,
            "seccomp_profile": {"type": "RuntimeDefault"},
        },
        "volumes": [{"name": TMP_VOLUME, "empty_dir": {"size_limit": get("ephemeral_limit")}}],
    }
    pool = get("pool")
    if pool:
        pod_spec["node_selector"] = {POOL_LABEL: pool}
        # The pool is tainted so that only steps that ask for it land there.
        pod_spec["tolerations"] = [
            {"key": POOL_LABEL, "operator": "Equal", "value": pool, "effect": "NoSchedule"}
        ]
    return {
        "container_config": {
            "resources": {
                "requests": {
                    "cpu": get("cpu_request"),
                    "memory": get("memory_request"),
                    "ephemeral-storage": get("ephemeral_request"),
                },
                "limits": {
                    "cpu": get("cpu_limit"),
                    "memory": get("memory_limit"),
                    "ephemeral-storage": get("ephemeral_limit"),
                },
            },
            "security_context": container_security_context(),
            "volume_mounts": [{"name": TMP_VOLUME, "mount_path": "/tmp"}],  # noqa: S108
        },
        "pod_spec_config": pod_spec,
        "pod_template_spec_metadata": {"labels": {POOL_LABEL: pool or "default"}},
        "job_spec_config": {"active_deadline_seconds": int(get("active_deadline_s"))},
    }


def step_tags(kind: str) -> dict[str, str]:
    """Op tags for a step of the given kind (``HEAVY`` or ``LIGHT``).

    The k8s config is a JSON string with sorted keys: op tags are strings, and
    the same settings must give byte-identical tags (definition snapshots).
    """
    _check_kind(kind)
    return {
        STEP_KIND_TAG: kind,
        K8S_CONFIG_TAG: json.dumps(k8s_config(kind), sort_keys=True),
    }
