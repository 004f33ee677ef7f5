"""Kubernetes step settings: which steps are heavy (high-memory pool) or light.

Assets put ``op_tags=step_tags(HEAVY)`` (rt/inference) or ``op_tags=step_tags(LIGHT)``
(everything else) on their definitions. In production the ``k8s_job_executor``
reads the ``dagster-k8s/config`` tag and merges it into each step's Job: the
"heavy queue / light queue" split rt.live ran with.

Sizing of the heavy step (see README ("Running in production"), "Sizing the high-memory
pool"): peak RSS of one state's ``rt_assets.model.fit`` with the ``full`` preset
is measured by ``deploy/measure_inference_memory.py``; the request is 1.5x
that peak (plus the step worker's own overhead), the limit 2x, so that a
slightly larger state is not OOM-killed while a runaway one still is.

Every value can be overridden through the environment (``K8S_HEAVY_MEMORY``
and friends, see ``ENV``). The tags are built when the asset modules are
imported, so they are fixed for the life of a code server: set the variables
on the code location's deployment, where the run and step pods inherit them.
"""

from __future__ import annotations

import json
import os

HEAVY = "heavy"
LIGHT = "light"

STEP_KIND_TAG = "rt-lake/step-kind"
K8S_CONFIG_TAG = "dagster-k8s/config"  # the key dagster-k8s reads (USER_DEFINED_K8S_CONFIG_KEY)
POOL_LABEL = "rt-lake/pool"  # node label and taint key of the dedicated pool

# Defaults. Heavy: nutpie samples 4 chains in 4 threads (full preset), so 4 CPUs;
# memory from measurement (README ("Running in production")). Light: downloads, corrections,
# summaries and the lake's pandas steps stay well under 1 GiB.
DEFAULTS: dict[str, dict[str, str]] = {
    HEAVY: {
        "cpu_request": "4",
        "cpu_limit": "4",
        # Measured peak 771 MiB (NY; CA 764, TX 768; full preset with 1000 draws,
        # 2021-03-07) + 128 MiB for the step worker; request 1.5x and limit 2x that,
        # rounded up to 256 Mi (README ("Running in production")).
        "memory_request": "1536Mi",
        "memory_limit": "2Gi",
        "ephemeral_request": "1Gi",
        "ephemeral_limit": "4Gi",
        "pool": "high-memory",
        # A step that runs longer than this is stuck, not slow: rt.live's
        # slowest states finished in well under an hour.
        "active_deadline_s": "7200",
    },
    LIGHT: {
        "cpu_request": "250m",
        "cpu_limit": "1",
        "memory_request": "512Mi",
        "memory_limit": "2Gi",
        "ephemeral_request": "256Mi",
        "ephemeral_limit": "2Gi",
        "pool": "",  # empty: the default pool, no selector, no toleration
        "active_deadline_s": "3600",
    },
}

# Environment variable for each setting: K8S_<KIND>_<SETTING>, e.g. K8S_HEAVY_MEMORY_LIMIT.
ENV = {
    kind: {name: f"K8S_{kind.upper()}_{name.upper()}" for name in values}
    for kind, values in DEFAULTS.items()
}

# Non-root user of the images in docker/ (uid 10001); the root filesystem is
# read-only, so anything that writes (pytensor's compile cache, matplotlib's
# config, temp files) writes under /tmp, an emptyDir.
RUN_AS_USER = 10001
TMP_VOLUME = "tmp"


def setting(kind: str, name: str) -> str:
    """One setting for a step kind: the environment override, else the default."""
    _check_kind(kind)
    value = os.environ.get(ENV[kind][name], "").strip()
    return value or DEFAULTS[kind][name]


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
