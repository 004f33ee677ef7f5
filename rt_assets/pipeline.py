"""Run the daily pipeline for one date in-process: three phases, one Dagster run each.

Assets with different partitions cannot share a run, so ``run_daily``
materializes (1) the date's snapshot of the source (``rt/raw_counts`` for the first
state), (2) the counts, inference, its convergence check and the summary for each
``date|state`` key, (3) the national
CSV, the staged msgpack with its check, and the promotion; the phases are derived
from the asset graph (rt_assets/phases.py). Each phase runs as the location's job
for it (rt_assets/jobs.py: ``rt_counts_job``, ``rt_inference_job``,
``rt_publication_job``), so the UI lists the runs by phase, not as
``__ephemeral_asset_job__``. Every run is recorded in the given DagsterInstance, so
the UI shows them afterwards. Progress (each phase,
each state's start and end) goes to a ``progress`` callback, by default the log.
"""

import gc
import logging
import multiprocessing
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass, field
from typing import Any

import dagster as dg

from resources.cpus import usable_cpus
from resources.settings import sampler_cores, sampler_preset_name
from rt_assets import jobs, phases
from rt_assets.logs import configure_logging, dagster_console_level
from rt_assets.model.presets import chain_threads, get_preset
from rt_assets.partitions import date_state_key
from rt_assets.progress import Progress, ProgressCallback
from rt_assets.resources import rt_resources

log = logging.getLogger("rt_assets.pipeline")

# The assets and checks of the daily run, and each phase's (rt_assets/phases.py derives
# the phases from the graph); a phase's selection brings its assets' checks along.
ALL_ASSETS: list = phases.DAILY_ASSETS
PHASE_COUNTS = phases.DAILY_PHASES.selection("counts")
PHASE_STATE = phases.DAILY_PHASES.selection("state")
PHASE_PUBLISH = phases.DAILY_PHASES.selection("publish")


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


def _failed_checks(result: dg.ExecuteInProcessResult) -> list[str]:
    return [e.check_name for e in result.get_asset_check_evaluations() if not e.passed]


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


def phase_job(
    phase: str, resources: dict[str, Any], definitions: Sequence | None = None
) -> dg.JobDefinition:
    """The named job of ``phase`` bound to ``resources``, for an in-process run.

    ``definitions`` (assets and checks, default the location's ``ALL_ASSETS``) is the
    graph the phases are derived from."""
    if definitions is None:
        definitions, job = ALL_ASSETS, jobs.PHASE_JOBS[phase]
    else:
        job = jobs.phase_jobs(phases.daily_phases(phases.graph_of(definitions)))[phase]
    defs = dg.Definitions(
        assets=[a for a in definitions if not isinstance(a, dg.AssetChecksDefinition)],
        asset_checks=[c for c in definitions if isinstance(c, dg.AssetChecksDefinition)],
        jobs=[job],
        resources=resources,
    )
    return defs.resolve_job_def(job.name)


def _materialize(phase: str, partition_key: str, instance, resources, run_config=None):
    console = {"loggers": {"console": {"config": {"log_level": dagster_console_level()}}}}
    run_config = {**console, **(run_config or {})}
    return phase_job(phase, resources).execute_in_process(
        partition_key=partition_key,
        instance=instance,
        run_config=run_config,
        raise_on_error=False,
        tags={"rt/run_daily": partition_key.split("|")[0]},
    )


def sampler_config(preset: str | None, threads: int | None = None) -> dict[str, Any]:
    """Run config of the ``rt_sampler`` resource: the preset and the threads of one fit's
    chains, each only where given (else the resource's default); empty if neither is."""
    config = {"preset": preset} if preset else {}
    if threads:
        config["cores"] = threads
    return {"resources": {"rt_sampler": {"config": config}}} if config else {}


def worker_threads(preset: str | None, at_once: int, cpus: int | None = None) -> int | None:
    """Threads for each fit's chains when ``at_once`` states sample at once on this machine:
    ``chain_threads`` of the preset's chains and ``cpus`` (default: the CPUs this process
    may use). None where ``RT_SAMPLER_CORES`` sets them, where one state runs at a time,
    or where the preset is unknown (the inference step then says so)."""
    if at_once < 2 or sampler_cores():
        return None
    try:
        chains = get_preset(preset or sampler_preset_name()).chains
    except ValueError:
        return None
    return chain_threads(chains, cpus or usable_cpus(), at_once)


def _state_run(job: tuple, instance: dg.DagsterInstance, resources: dict) -> tuple:
    run_date, state, run_config = job
    started = time.perf_counter()
    key = date_state_key(run_date, state)
    result = _materialize("state", key, instance, resources, run_config)
    # The convergence check does not block (a backfill's batch goes on), so a state whose fit
    # failed it has a successful run: its failed check is what makes it a failed state.
    failure = "" if result.success and not _failed_checks(result) else _failure(result)
    run_id = result.run_id
    # A finished run leaves reference cycles that hold on to its data (tens of MiB); Python's
    # collector counts objects, not bytes, and reaches them late: a worker fitting ~25 states
    # grew to 1.9 GiB. Collecting after each state slows that growth (docs/performance.md).
    del result
    gc.collect()
    return state, round(time.perf_counter() - started, 1), run_id, failure


_WORKER: dict[str, Any] = {}


def _init_worker(ref, log_level: int) -> None:
    configure_logging(log_level)  # the parent's: a quiet command has quiet workers
    _WORKER["instance"] = dg.DagsterInstance.from_ref(ref)
    _WORKER["resources"] = default_resources()  # Dagster resources do not pickle


def _state_in_worker(job: tuple) -> tuple:
    return _state_run(job, _WORKER["instance"], _WORKER["resources"])


def _record(out: DailyResult, outcome: tuple, progress: ProgressCallback) -> None:
    state, seconds, run_id, failure = outcome
    out.state_seconds[state] = seconds
    out.run_ids.append(run_id)
    if not failure:
        out.states_ok.append(state)
        progress(Progress("finished", 2, state, seconds))
    else:
        out.states_failed[state] = failure
        progress(Progress("failed", 2, state, seconds, failure))


def log_progress(p: Progress) -> None:
    """``run_daily``'s default progress: log lines."""
    if p.event == "phase":
        log.info("phase %d/3: %s", p.phase, p.message)
    elif p.event == "started":
        log.info("phase 2/3: inference %s (%s)", p.state, p.message)
    elif p.event == "finished" and p.state:
        log.info("%s: done in %.1f s", p.state, p.seconds)
    elif p.event == "failed" and p.state:
        log.warning("%s: %s", p.state, p.message)
    elif p.event == "failed":
        log.error(p.message)


def _run_states(
    run_date: str,
    states: list[str],
    instance: dg.DagsterInstance,
    resources: dict[str, Any],
    parallel_states: int,
    out: DailyResult,
    progress: ProgressCallback,
    run_config: dict[str, Any],
) -> None:
    def started(i: int) -> None:
        progress(Progress("started", 2, states[i], message=f"{i + 1}/{len(states)}"))

    if parallel_states > 1 and len(states) > 1 and instance.is_persistent:
        # Worker processes, not threads: model compilation holds the GIL for seconds,
        # and would stall the other state's Dagster step in a thread.
        workers = min(parallel_states, len(states))
        with ProcessPoolExecutor(
            workers,
            mp_context=multiprocessing.get_context("spawn"),
            initializer=_init_worker,
            initargs=(instance.get_ref(), logging.getLogger().getEffectiveLevel()),
        ) as pool:
            futures = [pool.submit(_state_in_worker, (run_date, s, run_config)) for s in states]
            # The pool starts states in submission order, one as each worker frees up.
            for i in range(workers):
                started(i)
            for n_done, future in enumerate(as_completed(futures), 1):
                _record(out, future.result(), progress)
                if workers + n_done - 1 < len(states):
                    started(workers + n_done - 1)
    else:
        if parallel_states > 1 and len(states) > 1:
            log.info("an ephemeral instance cannot be shared with workers: one state at a time")
        for i, state in enumerate(states):
            started(i)
            _record(out, _state_run((run_date, state, run_config), instance, resources), progress)
    # Completion order is the workers' business; the result lists states as asked.
    out.states_ok.sort(key=states.index)
    out.state_seconds = {s: out.state_seconds[s] for s in states if s in out.state_seconds}


def run_publication(
    run_date: str,
    instance: dg.DagsterInstance,
    resources: dict[str, Any] | None = None,
    approve_warnings: bool = False,
) -> dg.ExecuteInProcessResult:
    """Phase 3 alone: national CSV, staged msgpack and its check, promotion."""
    run_config = {"ops": {"rt__published": {"config": {"approve_warnings": approve_warnings}}}}
    return _materialize("publish", run_date, instance, resources or default_resources(), run_config)


def run_daily(
    run_date: str,
    states: list[str],
    instance: dg.DagsterInstance,
    resources: dict[str, Any] | None = None,
    approve_warnings: bool = False,
    parallel_states: int = 1,
    progress: ProgressCallback | None = None,
    sampler_preset: str | None = None,
) -> DailyResult:
    """Materialize the whole graph for ``run_date`` and ``states``; never raises on a step.

    ``parallel_states`` > 1 runs that many per-state runs at once in worker processes
    (persistent instances and default resources only): with 2, one state's model
    compiles on one core while another samples. Results do not depend on it (each state
    has its own seed).

    ``progress`` receives each phase and each state's start and end (``Progress``), in
    this process, as they happen; None logs them.

    ``sampler_preset`` names the inference steps' preset (run config of the
    ``rt_sampler`` resource); None keeps the resource's default (RT_SAMPLER_PRESET).
    """
    if not states:
        raise ValueError("run_daily needs at least one state")
    parallel = parallel_states > 1 and len(states) > 1
    if parallel and resources is not None:
        raise ValueError(
            "parallel_states > 1 builds the default resources (LAKE_URL, WAREHOUSE_URL, ...) "
            "in each worker process: pass resources=None"
        )
    resources = resources or default_resources()
    progress = progress or log_progress
    out = DailyResult(run_date)
    progress(Progress("phase", 1, message=f"snapshot of the source for {run_date}"))
    result = _materialize("counts", date_state_key(run_date, states[0]), instance, resources)
    out.run_ids.append(result.run_id)
    out.counts_ok = result.success
    if not result.success:
        out.publish_error = f"counts failed: {_failure(result)}"
        progress(Progress("failed", 1, message=out.publish_error))
        return out

    at_once = min(parallel_states, len(states)) if instance.is_persistent else 1
    threads = worker_threads(sampler_preset, at_once)
    how = f", {at_once} at a time" if at_once > 1 else ""
    if threads:
        how += f", each state's chains on {threads} thread{'s' if threads > 1 else ''}"
    progress(Progress("phase", 2, message=f"inference for {len(states)} states{how}"))
    _run_states(
        run_date,
        states,
        instance,
        resources,
        parallel_states,
        out,
        progress,
        sampler_config(sampler_preset, threads),
    )
    progress(Progress("phase", 3, message=f"national CSV, staging, promotion for {run_date}"))
    result = run_publication(run_date, instance, resources, approve_warnings)
    out.run_ids.append(result.run_id)
    out.published = result.success
    if not result.success:
        out.publish_error = _failure(result)
        progress(
            Progress("failed", 3, message=f"publication refused or failed: {out.publish_error}")
        )
    else:
        progress(Progress("finished", 3, message="published"))
    return out
