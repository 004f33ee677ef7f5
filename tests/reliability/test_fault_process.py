"""A step process is killed: the run is reported failed, and re-running from failure completes.

One state's rt counts run with Dagster's multiprocess executor (each step in its
own process) against a real on-disk instance. ``COVID_SOURCE`` is a named pipe
nobody writes to, so ``rt/raw_counts`` is certainly inside its step, blocked on
the read, when the test SIGKILLs that step's process (its pid is the one the
step's own events carry): what an OOM kill or an evicted pod does. The step
carries the network retry policy, so Dagster starts it again after each crash
with backoff; the test kills every attempt, as a node that keeps dying would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import threading
import time

import dagster as dg
import pytest

from resources.retries import NETWORK_RETRY
from tests.reliability.cases import BAD_DAY, CORPUS
from tests.reliability.fault_jobs import counts_job
from tests.reliability.rt_runs import published_under, rt_env

pytestmark = pytest.mark.slow

DAY = BAD_DAY
STATE = "NY"
# Step processes fork from one server that imported the code once: a step
# starts in a fraction of a second instead of re-importing PyMC each time.
FORKSERVER = {
    "execution": {
        "config": {
            "multiprocess": {
                "start_method": {"forkserver": {"preload_modules": ["rt_assets.assets"]}}
            }
        }
    }
}
TAGS = {"dagster/partition": f"{DAY}|{STATE}"}


def step_pids(instance: dg.DagsterInstance, step_key: str) -> set[int]:
    pids = set()
    # a retried attempt announces itself with STEP_RESTARTED, not STEP_START
    for event_type in (dg.DagsterEventType.STEP_START, dg.DagsterEventType.STEP_RESTARTED):
        for record in instance.get_event_records(
            dg.EventRecordsFilter(event_type=event_type), limit=50
        ):
            entry = record.event_log_entry
            pid = entry.dagster_event.pid if entry.dagster_event else None
            if entry.step_key == step_key and pid and pid != os.getpid():
                pids.add(pid)
    return pids


def kill_every_attempt(
    instance: dg.DagsterInstance, step_key: str, run: threading.Thread, timeout_s: float
) -> set[int]:
    """SIGKILL each process that starts ``step_key`` until the run ends."""
    killed: set[int] = set()
    deadline = time.monotonic() + timeout_s
    while run.is_alive() and time.monotonic() < deadline:
        for pid in step_pids(instance, step_key) - killed:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            killed.add(pid)
        time.sleep(0.2)
    return killed


def release(fifo) -> None:
    """Give any reader still blocked on the pipe an end of file (cleanup on failure)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
    except OSError:  # no reader left: nothing is blocked
        return
    os.close(fd)


def test_killed_step_fails_the_run_and_reexecution_completes(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    fifo = tmp_path / "source.csv"
    os.mkfifo(fifo)
    rt_env(monkeypatch, lake, fifo)
    job = dg.reconstructable(counts_job)
    outcome: dict = {}

    (tmp_path / "dagster_home").mkdir()
    with dg.instance_for_test(temp_dir=str(tmp_path / "dagster_home")) as instance:

        def run() -> None:
            with dg.execute_job(
                job, instance=instance, tags=TAGS, run_config=FORKSERVER, raise_on_error=False
            ) as result:
                outcome["success"] = result.success
                outcome["run_id"] = result.run_id

        thread = threading.Thread(target=run, daemon=True)
        thread.start()
        try:
            killed = kill_every_attempt(instance, "rt__raw_counts", thread, timeout_s=400)
        finally:
            release(fifo)
            thread.join(timeout=60)
        assert not thread.is_alive(), "the run hangs after its step process was killed"
        # the first attempt and every retry the policy allows were killed
        assert len(killed) == NETWORK_RETRY.max_retries + 1

        assert outcome["success"] is False
        run_id = outcome["run_id"]
        assert instance.get_run_by_id(run_id).status == dg.DagsterRunStatus.FAILURE
        events = [e.dagster_event for e in instance.all_logs(run_id) if e.dagster_event]
        failures = [e for e in events if e.is_step_failure]
        assert [e.step_key for e in failures] == ["rt__raw_counts"]
        retries = [e for e in events if e.event_type == dg.DagsterEventType.STEP_UP_FOR_RETRY]
        assert len(retries) == NETWORK_RETRY.max_retries
        assert not (lake / "rt/raw_counts").exists()
        assert not list(lake.rglob("*.tmp")), "a half-written temporary file was left"

        # The same COVID_SOURCE path now holds the good file (step processes fork
        # from a server started with the first run's environment).
        fifo.unlink()
        shutil.copyfile(CORPUS / "covid_good.csv", fifo)
        options = dg.ReexecutionOptions.from_failure(run_id, instance)
        with dg.execute_job(
            job,
            instance=instance,
            reexecution_options=options,
            tags=TAGS,
            run_config=FORKSERVER,
            raise_on_error=False,
        ) as again:
            assert again.success
            assert again.dagster_run.parent_run_id == run_id
        assert (lake / f"rt/raw_counts/{DAY}.csv.gz").exists()  # the date's snapshot
        assert (lake / f"rt/raw_counts/{DAY}/{STATE}.csv.gz").exists()
        assert (lake / f"rt/processed_counts/{DAY}/{STATE}.parquet").exists()
        assert published_under(lake) == []
