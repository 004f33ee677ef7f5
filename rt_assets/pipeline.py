"""Run the daily pipeline for one date in-process: three phases, one Dagster run each.

Assets with different partitions cannot share a run, so ``run_daily``
materializes (1) raw and processed counts for the date, (2) inference, its
convergence check and the summary for each ``date|state`` key, (3) the national
CSV, the staged msgpack with its check, and the promotion. Every run is recorded
in the given DagsterInstance, so the UI shows them afterwards.
"""

import logging
import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from rt_assets import assets, checks, site_assets
from rt_assets.logs import configure_logging
from rt_assets.partitions import date_state_key
from rt_assets.resources import rt_resources

log = logging.getLogger("rt_assets.pipeline")

ALL_ASSETS: list = [
    assets.raw_counts,
    assets.processed_counts,
    assets.inference,
    assets.summary_table,
    assets.national_csv,
    assets.staged_msgpack,
    assets.published,
    site_assets.rt_site,
    checks.inference_converged,
    checks.staged_vs_previous,
]
PHASE_COUNTS = [assets.raw_counts, assets.processed_counts]
PHASE_STATE = [assets.inference, checks.inference_converged, assets.summary_table]
PHASE_PUBLISH = [
    assets.national_csv,
    assets.staged_msgpack,
    checks.staged_vs_previous,
    assets.published,
    site_assets.rt_site,
]


@dataclass
class DailyResult:
    run_date: str
    counts_ok: bool = False
    states_ok: list[str] = field(default_factory=list)
    states_failed: dict[str, str] = field(default_factory=dict)
    state_seconds: dict[str, float] = field(default_factory=dict)
    published: bool = False
    publish_error: str = ""
    run_ids: list[str] = field(default_factory=list)


def default_resources() -> dict[str, Any]:
    return rt_resources()


def _failure(result: dg.ExecuteInProcessResult) -> str:
    messages = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data:
            err = event.step_failure_data.error
            user = event.step_failure_data.user_failure_data
            while err is not None and err.cause is not None:
                err = err.cause  # the user's exception, not Dagster's wrapper
            if user is not None and user.description:
                messages.append(user.description)
            else:
                messages.append(err.message.strip() if err else "step failed")
        if event.event_type_value == "ASSET_CHECK_EVALUATION":
            data = event.event_specific_data
            if data is not None and not data.passed:
                messages.append(f"check {data.check_name} failed")
    return "; ".join(messages) or "run failed"


# Dagster's console logger defaults to DEBUG: step plumbing would drown the progress lines.
CONSOLE_INFO = {"loggers": {"console": {"config": {"log_level": "INFO"}}}}


def _materialize(selection: list, partition_key: str, instance, resources, run_config=None):
    run_config = {**CONSOLE_INFO, **(run_config or {})}
    return dg.materialize(
        ALL_ASSETS,
        selection=selection,
        partition_key=partition_key,
        instance=instance,
        resources=resources,
        run_config=run_config,
        raise_on_error=False,
        tags={"rt/run_daily": partition_key.split("|")[0]},
    )


def _state_run(job: tuple, instance: dg.DagsterInstance, resources: dict) -> tuple:
    run_date, state, i, n = job
    log.info("phase 2/3: inference %s (%d/%d)", state, i, n)
    started = time.perf_counter()
    result = _materialize(PHASE_STATE, date_state_key(run_date, state), instance, resources)
    failure = "" if result.success else _failure(result)
    return state, round(time.perf_counter() - started, 1), result.run_id, failure


_WORKER: dict[str, Any] = {}


def _init_worker(ref) -> None:  # noqa: ANN001
    configure_logging()
    _WORKER["instance"] = dg.DagsterInstance.from_ref(ref)
    _WORKER["resources"] = default_resources()  # Dagster resources do not pickle


def _state_in_worker(job: tuple) -> tuple:
    return _state_run(job, _WORKER["instance"], _WORKER["resources"])


def _collect(out: DailyResult, outcomes) -> None:  # noqa: ANN001
    for state, seconds, run_id, failure in outcomes:
        out.state_seconds[state] = seconds
        out.run_ids.append(run_id)
        if not failure:
            out.states_ok.append(state)
            log.info("%s: done in %.1f s", state, seconds)
        else:
            out.states_failed[state] = failure
            log.warning("%s: %s", state, failure)


def run_publication(
    run_date: str,
    instance: dg.DagsterInstance,
    resources: dict[str, Any] | None = None,
    approve_warnings: bool = False,
) -> dg.ExecuteInProcessResult:
    """Phase 3 alone: national CSV, staged msgpack and its check, promotion."""
    run_config = {"ops": {"rt__published": {"config": {"approve_warnings": approve_warnings}}}}
    return _materialize(
        PHASE_PUBLISH, run_date, instance, resources or default_resources(), run_config
    )


def run_daily(
    run_date: str,
    states: list[str],
    instance: dg.DagsterInstance,
    resources: dict[str, Any] | None = None,
    approve_warnings: bool = False,
    parallel_states: int = 1,
) -> DailyResult:
    """Materialize the whole graph for ``run_date`` and ``states``; never raises on a step.

    ``parallel_states`` > 1 runs that many per-state runs at once in worker processes
    (persistent instances and default resources only): with 2, one state's model
    compiles on one core while another samples. Results do not depend on it (each state
    has its own seed).
    """
    parallel = parallel_states > 1 and len(states) > 1
    if parallel and resources is not None:
        raise ValueError(
            "parallel_states > 1 builds the default resources (LAKE_URL, WAREHOUSE_URL, ...) "
            "in each worker process: pass resources=None"
        )
    resources = resources or default_resources()
    out = DailyResult(run_date)
    log.info("phase 1/3: counts for %s", run_date)
    result = _materialize(PHASE_COUNTS, run_date, instance, resources)
    out.run_ids.append(result.run_id)
    out.counts_ok = result.success
    if not result.success:
        out.publish_error = f"counts failed: {_failure(result)}"
        log.error(out.publish_error)
        return out

    jobs = [(run_date, state, i, len(states)) for i, state in enumerate(states, 1)]
    if parallel and instance.is_persistent:
        # Worker processes, not threads: model compilation holds the GIL for seconds,
        # and would stall the other state's Dagster step in a thread.
        ref = instance.get_ref()
        with ProcessPoolExecutor(
            min(parallel_states, len(states)),
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(ref,),
        ) as pool:
            outcomes = pool.map(_state_in_worker, jobs)
            _collect(out, outcomes)
    else:
        if parallel:
            log.info("an ephemeral instance cannot be shared with workers: one state at a time")
        _collect(out, (_state_run(job, instance, resources) for job in jobs))
    log.info("phase 3/3: national CSV, staging, promotion for %s", run_date)
    result = run_publication(run_date, instance, resources, approve_warnings)
    out.run_ids.append(result.run_id)
    out.published = result.success
    if not result.success:
        out.publish_error = _failure(result)
        log.error("publication refused or failed: %s", out.publish_error)
    return out
