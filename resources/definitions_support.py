"""The one place that decides which resources and executor a code location gets.

Reads the environment when called (by each code location's `definitions.py`),
never at import time, and never touches the network.

- ``DAGSTER_DEPLOYMENT=local`` (default): Dagster's default multiprocess
  executor, the lake in ``./.lake``, SQLite warehouse.
- ``DAGSTER_DEPLOYMENT=production``: every step is a Kubernetes Job
  (``k8s_job_executor``); the lake and warehouse come from ``LAKE_URL`` and
  ``WAREHOUSE_URL``, which must then be set (``production_problems``).
"""

from __future__ import annotations

import os
from typing import Any

from resources.alerts import AlertsResource
from resources.io_manager import LakeIOManager
from resources.k8s import HEAVY, STEP_KIND_TAG
from resources.settings import deployment, is_local_lake
from resources.warehouse import WarehouseResource

# rt.live ran at most 25 inference containers at once.
DEFAULT_MAX_INFERENCE_PODS = 25
DEFAULT_MAX_CONCURRENT_STEPS = 25
# Finished step Jobs (and their pods and logs) are deleted this long after they
# end, whether they succeeded or failed; the logs are in Dagster's event log.
DEFAULT_JOB_TTL_SECONDS = 600


def shared_resources() -> dict[str, Any]:
    """Resources every code location gets, keyed by the names assets use."""
    if deployment() == "production":
        problems = production_problems()
        if problems:
            raise ValueError("DAGSTER_DEPLOYMENT=production but: " + "; ".join(problems))
    return {
        "io_manager": LakeIOManager(),
        "alerts": AlertsResource(),
        "warehouse": WarehouseResource(),
    }


def _int_env(name: str, default: int, minimum: int = 1) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None
    if value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def k8s_executor_config() -> dict[str, Any]:
    """Config of the production ``k8s_job_executor`` (values from the environment)."""
    max_inference = _int_env("RT_MAX_INFERENCE_PODS", DEFAULT_MAX_INFERENCE_PODS)
    return {
        "max_concurrent": _int_env("K8S_MAX_CONCURRENT_STEPS", DEFAULT_MAX_CONCURRENT_STEPS),
        # Heavy steps have their own cap inside the overall one.
        "tag_concurrency_limits": [
            {"key": STEP_KIND_TAG, "value": HEAVY, "limit": max_inference},
        ],
        # Op retry policies apply, including to a step whose pod was evicted or
        # OOM-killed (the executor's health check turns that into a step failure).
        "retries": {"enabled": {}},
        "step_k8s_config": {
            "job_spec_config": {
                "ttl_seconds_after_finished": _int_env(
                    "K8S_JOB_TTL_SECONDS", DEFAULT_JOB_TTL_SECONDS, minimum=0
                ),
                # Retries are Dagster's (with backoff and events), never a silent
                # Kubernetes pod restart of a half-done step.
                "backoff_limit": 0,
            },
        },
        # Step Jobs are owned by the run pod: deleting a run's Job removes its steps.
        "enable_owner_references": True,
    }


def executor():  # noqa: ANN201 - an ExecutorDefinition, or None for Dagster's default
    """The executor for this deployment: ``None`` (Dagster's multiprocess default)
    locally, a configured ``k8s_job_executor`` in production."""
    if deployment() != "production":
        return None
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(k8s_executor_config(), name="k8s")


def production_problems() -> list[str]:
    """What is wrong with the environment for a production deployment (empty: fine).

    Guards against the dev/prod slip-up: production must never fall back to the
    local `.lake` folder or the SQLite warehouse.
    """
    problems = []
    lake = os.environ.get("LAKE_URL", "").strip()
    if not lake:
        problems.append("LAKE_URL is not set (production would write to ./.lake)")
    elif is_local_lake(lake):
        problems.append(f"LAKE_URL={lake!r} is a local path, not an object store URL")
    warehouse = os.environ.get("WAREHOUSE_URL", "").strip()
    if not warehouse:
        problems.append("WAREHOUSE_URL is not set (production would use SQLite)")
    elif not warehouse.startswith("postgresql"):
        problems.append(f"WAREHOUSE_URL must be a postgresql+psycopg:// URL, got {warehouse!r}")
    return problems
