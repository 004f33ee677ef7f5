"""The one place that decides which resources and executor a code location gets.

Reads the environment when called (by each code location's `definitions.py`),
never at import time, and never touches the network.

- ``DAGSTER_DEPLOYMENT=local`` (default): Dagster's in-process executor (a run's steps in
  its own process; ``LOCAL_STEP_START``), the lake in ``./.lake``, SQLite warehouse.
- ``DAGSTER_DEPLOYMENT=production``: every step is a Kubernetes Job
  (``k8s_job_executor``); each resource a location uses must then be set up for
  production (``checked_resources``): the lake IO manager needs an object-store
  ``LAKE_URL``, the warehouse a PostgreSQL ``WAREHOUSE_URL``. A location is only
  checked for the resources it declares (rt has no warehouse).
"""

from __future__ import annotations

from typing import Any

from resources.k8s import HEAVY, STEP_KIND_TAG
from resources.settings import (
    K8S_JOB_TTL_SECONDS,
    K8S_MAX_CONCURRENT_STEPS,
    LOCAL_STEP_START,
    RT_MAX_INFERENCE_PODS,
    deployment,
    get,
)


def checked_resources(resources: dict[str, Any]) -> dict[str, Any]:
    """A code location's resources, as given; in production, refused (ValueError naming
    every problem) if any of them is not set up for production.

    Each resource says what it needs through a ``production_problems()`` method, so
    the check lives with the resource it protects.
    """
    if deployment() == "production":
        problems = [
            problem
            for resource in resources.values()
            if hasattr(resource, "production_problems")
            for problem in resource.production_problems()
        ]
        if problems:
            raise ValueError("DAGSTER_DEPLOYMENT=production but: " + "; ".join(problems))
    return resources


def k8s_executor_config() -> dict[str, Any]:
    """Config of the production ``k8s_job_executor`` (values from the environment)."""
    max_inference = get(RT_MAX_INFERENCE_PODS)
    return {
        "max_concurrent": get(K8S_MAX_CONCURRENT_STEPS),
        # Heavy steps have their own cap inside the overall one.
        "tag_concurrency_limits": [
            {"key": STEP_KIND_TAG, "value": HEAVY, "limit": max_inference},
        ],
        # Op retry policies apply, including to a step whose pod was evicted or
        # OOM-killed (the executor's health check turns that into a step failure).
        "retries": {"enabled": {}},
        "step_k8s_config": {
            "job_spec_config": {
                "ttl_seconds_after_finished": get(K8S_JOB_TTL_SECONDS),
                # Retries are Dagster's (with backoff and events), never a silent
                # Kubernetes pod restart of a half-done step.
                "backoff_limit": 0,
            },
        },
        # Step Jobs are owned by the run pod: deleting a run's Job removes its steps.
        "enable_owner_references": True,
    }


def executor():  # an ExecutorDefinition
    """The executor for this deployment, retries on. Locally ``LOCAL_STEP_START`` chooses:
    ``in_process`` (the default) runs every step of a run in the run's own process (one
    process and one import of the code location per run); ``spawn`` (Dagster's default) and
    ``forkserver`` select the multiprocess executor, a fresh interpreter per step or each
    step forked from a per-run server. A date|state run is a chain of steps, so separate
    processes bought no parallelism; in-process, a backfill ran 1.75x faster than with
    spawn (``python -m benchmarks backfill``, benchmarks/results/). In production a
    configured ``k8s_job_executor``."""
    if deployment() != "production":
        import dagster as dg

        retries = {"retries": {"enabled": {}}}
        step_start = get(LOCAL_STEP_START)
        if step_start == "in_process":
            return dg.in_process_executor.configured(retries, name="in_process")
        config = {**retries, "start_method": {step_start: {}}}
        return dg.multiprocess_executor.configured(config, name="multiprocess")
    from dagster_k8s import k8s_job_executor

    return k8s_job_executor.configured(k8s_executor_config(), name="k8s")
