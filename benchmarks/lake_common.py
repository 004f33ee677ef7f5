"""Shared helpers of the lake benchmarks: a synthetic year on disk, child processes."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

OUT = Path("benchmarks/out/lake")


def synthetic_year(rows: int, year: int = 2015, seed: int = 0, csv: str | None = None) -> Path:
    """Path of a synthetic year (generated once per (rows, year, seed) and reused)."""
    if csv:
        return Path(csv)
    from lake_assets.synthetic import generate

    path = OUT / f"synthetic_{year}_{rows}_{seed}.csv"
    if not path.exists() or not path.with_name(path.name + ".anomalies.csv").exists():
        start = time.perf_counter()
        generate(year, rows, path, seed=seed)
        print(f"generated {path} in {time.perf_counter() - start:.0f} s", flush=True)
    return path


def run_child(module: str, *args: str) -> dict:
    """Run ``python -m module args`` in a fresh process; it prints one JSON line last."""
    proc = subprocess.run(
        [sys.executable, "-m", module, *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{module} {args} failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def peak_rss_mb() -> float:
    """Peak resident memory of this process (MiB).

    VmHWM where Linux has it: ``ru_maxrss`` survives ``exec``, so a child started
    by a large parent would report at least the parent's peak.
    """
    import resource

    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU seconds of this process so far, all threads."""
    import resource

    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


STEP_EVENTS = ("STEP_START", "STEP_SUCCESS")


def step_seconds(instance, run_id: str) -> dict[str, float]:
    """Wall seconds of each step of a Dagster run, from its STEP_START and STEP_SUCCESS events."""
    marks: dict[str, dict[str, float]] = {}
    for entry in instance.all_logs(run_id):
        event = entry.dagster_event
        if event is not None and event.step_key and event.event_type_value in STEP_EVENTS:
            marks.setdefault(event.step_key, {})[event.event_type_value] = entry.timestamp
    return {
        step.removeprefix("lake__"): round(m["STEP_SUCCESS"] - m["STEP_START"], 2)
        for step, m in marks.items()
        if len(m) == 2
    }


LAKE_TO_GOLD = ("bronze_flights", "silver_flights", "gold_dep_delay_by_date")


def materialize_to_gold(lake: str, year: str):
    """bronze -> silver (+ quarantine) -> gold of ``year`` with the lake's real assets and
    IO manager on ``lake``, timed: (result, instance, wall s, CPU s). The instance is made
    before the clock starts: a deployment has one already, and creating it here only
    measures importing Dagster's storage modules."""
    import dagster as dg

    from lake_assets import assets
    from resources.io_manager import LakeIOManager

    selection = [
        a
        for a in dg.load_assets_from_modules([assets])
        if any(k.path[-1] in LAKE_TO_GOLD for k in a.keys)
    ]
    instance = dg.DagsterInstance.ephemeral()
    cpu = cpu_seconds()
    start = time.perf_counter()
    result = dg.materialize(
        selection,
        partition_key=year,
        resources={"io_manager": LakeIOManager(base_url=lake)},
        instance=instance,
        raise_on_error=False,
    )
    return result, instance, time.perf_counter() - start, cpu_seconds() - cpu
