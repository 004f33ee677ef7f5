"""A history backfill as a user launches it: the re-run command's one backfill, run by a real
dagster-daemon, once per ``--step-start`` variant (``LOCAL_STEP_START``: ``spawn``,
Dagster's default and the baseline, a process per step; ``forkserver``, steps forked from a
per-run server; ``in_process``, the product's default, every step in the run's own
process), on the same slice, each in a fresh lake.

Each variant starts ``dagster-webserver`` + ``dagster-daemon`` on 127.0.0.1 (the harness of
the browser tests, ``tests/fixtures/dagster_server.py``), launches ONE backfill of every
asset from ``rt/raw_counts`` on for ``--dates`` x ``--states`` (``rt_assets.rerun``, what
the Materialize dialog launches), waits for it, then reads the runs and their steps from
the instance: wall time, runs, the time inside steps against the time in runs, the time
between runs, ``date|state`` partitions per hour and the projection to the whole history
(18,972 ``date|state`` partitions, 372 dates). The projection is an upper bound: the slice's
dates are spread over the year, and early dates have shorter series.

``--baseline-ref REF`` measures the code of commit REF first (a git worktree, with the
same venv and step start), then the checkout's. Each variant starts with an empty
PyTensor/numba cache of its own (``PYTENSOR_FLAGS=base_compiledir``), as on a fresh
machine: what a variant compiles once and then loads from that cache is part of its cost.
With ``--warm-cache``, a process of the variant's code first compiles the model of every
length the slice needs into that cache (timed, outside the backfill), as a long backfill
finds it after its first runs: a history's 18,972 partitions share ~13 lengths.
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

RUN_BY_DEFAULT = False  # minutes per partition with the full preset
OUT = Path(__file__).parent / "out" / "backfill"
HISTORY_DATES = 372  # 2020-03-01 .. 2021-03-07
HISTORY_PARTITIONS = HISTORY_DATES * 51
DEFAULT_DATES = "2020-06-01,2020-10-01,2021-02-01"
DEFAULT_STATES = "VT,NH"


def measure(
    root: Path,
    args: argparse.Namespace,
    step_start: str,
    label: str,
    code: Path | None = None,
    dequeue_interval: int | None = None,
) -> dict:
    """One backfill; ``code``: a checkout whose code the servers run (default this one);
    ``dequeue_interval``: the run queue's (default: the documented one)."""
    from rt_assets.rerun import DagsterGraphQL, parse_dates, parse_states, rerun
    from tests.fixtures.dagster_server import REPO_ROOT, start_dagster_server

    dates, states = parse_dates(args.dates), parse_states(args.states)
    env = {
        "RT_SAMPLER_PRESET": args.preset,
        "LOCAL_STEP_START": step_start,
        **variant_env(root, code),
    }
    queue = {} if dequeue_interval is None else {"dequeue_interval": dequeue_interval}
    server = start_dagster_server(
        root, extra_env=env, max_runs=args.max_runs, repo_root=code or REPO_ROOT, **queue
    )
    try:
        started = time.time()
        backfill_id, _ = rerun(server.url, dates, states, {}, root="rt/raw_counts")
        status = DagsterGraphQL(server.url).wait(backfill_id, args.timeout)
        wall = time.time() - started
        instance = server.instance()
        import dagster as dg

        runs = instance.get_runs(dg.RunsFilter(tags={"dagster/backfill": backfill_id}))
        fits = inference_costs(instance)
        rows = []
        for run in runs:
            stats = instance.get_run_stats(run.run_id)
            steps = instance.get_run_step_stats(run.run_id)
            rows.append(
                {
                    "partition": run_partitions(run.tags),
                    "partitions": partition_count(run.tags),
                    "status": run.status.value,
                    "launched": stats.launch_time,
                    "start": stats.start_time,
                    "end": stats.end_time,
                    "steps": {
                        s.step_key: (s.end_time or 0) - (s.start_time or 0)
                        for s in steps
                        if s.start_time
                    },
                }
            )
    finally:
        server.stop()
    return {"step_start": label, "status": status, "wall_s": wall, "runs": rows, "fits": fits}


RANGE_START, RANGE_END = "dagster/asset_partition_range_start", "dagster/asset_partition_range_end"


def run_partitions(tags: dict) -> str:
    """A run's partition, or its range of partitions (a backfill's batch): ``a..b``."""
    if RANGE_START in tags:
        return f"{tags[RANGE_START]}..{tags[RANGE_END]}"
    return tags.get("dagster/partition", "")


def partition_count(tags: dict) -> int:
    """How many partitions a run materializes: one, or its batch's dates (one state)."""
    import datetime as dt

    if RANGE_START not in tags:
        return 1
    first, last = (dt.date.fromisoformat(tags[t].split("|")[0]) for t in (RANGE_START, RANGE_END))
    return (last - first).days + 1


def inference_costs(instance) -> list[dict]:
    """Each ``rt/inference`` materialization's compile and sampling seconds (its metadata)."""
    import dagster as dg

    records = instance.fetch_materializations(dg.AssetKey(["rt", "inference"]), limit=10_000)
    fits = []
    for record in records.records:
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        fits.append(
            {
                "partition": str(record.asset_materialization.partition),
                "compile_s": meta.get("compile_seconds"),
                "sampling_s": meta.get("sampling_seconds"),
                # Absent before the entry points were cached (the baseline's code).
                "compiled_model": meta.get("compiled_model", "compiled"),
                "peak_rss_mib": meta.get("peak_rss_mib"),
            }
        )
    return fits


WARM = """
import sys, time
import numpy as np
from rt_assets.logs import quiet_model_compilation
from rt_assets.model import sampling
quiet_model_compilation()
for length in map(int, sys.argv[1:]):
    started = time.perf_counter()
    model = sampling.compiled_model(length)
    # The log density called from Python (the Laplace approximation's search, where the
    # code has one): numba compiles that call on its first use, then caches it too.
    model.logp_func(np.zeros(model.n_dim))
    print(length, round(time.perf_counter() - started, 1), flush=True)
"""


def slice_lengths(dates: list[str], states: list[str]) -> list[int]:
    """The model lengths (padded) of the slice's ``date|state`` series."""
    from benchmarks._data import observed
    from rt_assets.model import padded_length, prepare

    series = [prepare(observed(state, date)) for date in dates for state in states]
    return sorted({padded_length(len(data.dates)) for data in series})


def variant_env(root: Path, code: Path | None) -> dict[str, str]:
    """The environment that gives a variant its own PyTensor/numba cache and its code."""
    env = {"PYTENSOR_FLAGS": f"base_compiledir={root / 'pytensor'}"}
    if code is not None:
        env["PYTHONPATH"] = str(code)
    return env


def warm_cache(root: Path, code: Path | None, lengths: list[int]) -> float:
    """Compile the models of ``lengths`` into the variant's cache; the seconds it took."""
    from tests.fixtures.dagster_server import REPO_ROOT

    env = {**os.environ, **variant_env(root, code)}
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", WARM, *map(str, lengths)], env=env, cwd=code or REPO_ROOT, check=True
    )
    return time.perf_counter() - started


def baseline_checkout(ref: str, out: Path) -> Path:
    """A git worktree of ``ref`` under ``out`` (replaced), with this checkout's page bundle."""
    from tests.fixtures.dagster_server import REPO_ROOT

    path = out / "baseline-src"
    if path.exists():
        subprocess.run(["git", "worktree", "remove", "--force", str(path)], cwd=REPO_ROOT)
        shutil.rmtree(path, ignore_errors=True)
    subprocess.run(
        ["git", "worktree", "add", "--detach", str(path), ref], cwd=REPO_ROOT, check=True
    )
    dist = REPO_ROOT / "site" / "dist"  # built by `make setup`, not tracked
    if dist.exists():
        (path / "site" / "dist").symlink_to(dist)
    return path


def summarize(result: dict, n_date_state: int) -> dict:
    runs = [r for r in result["runs"] if r["start"] and r["end"]]
    per_state = [r for r in runs if "|" in r["partition"]]
    in_runs = sum(r["end"] - r["start"] for r in runs)
    in_steps = sum(sum(r["steps"].values()) for r in runs)
    by_step: dict[str, float] = {}
    for r in runs:
        for key, seconds in r["steps"].items():
            by_step[key] = by_step.get(key, 0.0) + seconds
    queued = sum(r["start"] - r["launched"] for r in runs if r["launched"])
    wall = result["wall_s"]
    # The date|state phase: from the first launch to the last date|state run's end (the
    # per-date publication runs follow it).
    launches = [r["launched"] for r in runs if r["launched"] is not None]
    phase = max((r["end"] for r in per_state), default=0) - min(launches, default=0)
    # Runs of the code before batching have no partition count: one each.
    n_per_state = sum(r.get("partitions", 1) for r in per_state)
    return {
        "step_start": result["step_start"],
        "status": result["status"],
        "wall_min": wall / 60,
        "runs": len(result["runs"]),
        "runs_failed": sum(r["status"] != "SUCCESS" for r in result["runs"]),
        "date_state_runs": len(per_state),
        "date_state_partitions": n_per_state,
        "run_s_per_date_state": (
            sum(r["end"] - r["start"] for r in per_state) / n_per_state if per_state else 0
        ),
        "in_runs_s": in_runs,
        "in_steps_s": in_steps,
        "outside_steps_share": 1 - in_steps / in_runs if in_runs else float("nan"),
        "launch_to_start_s": queued / len(runs) if runs else 0,
        "step_s": {k: round(v, 1) for k, v in sorted(by_step.items(), key=lambda kv: -kv[1])},
        "compile_s": sum(f["compile_s"] or 0 for f in result.get("fits", [])),
        "sampling_s": sum(f["sampling_s"] or 0 for f in result.get("fits", [])),
        "compiled_model": {
            how: sum(f["compiled_model"] == how for f in result.get("fits", []))
            for how in sorted({f["compiled_model"] for f in result.get("fits", [])})
        },
        "date_state_per_hour": n_date_state / wall * 3600,
        "history_projection_h": wall * HISTORY_PARTITIONS / n_date_state / 3600,
        "date_state_phase_s": phase,
        "date_state_phase_per_hour": n_date_state / phase * 3600 if phase > 0 else 0,
        "history_phase_h": phase * HISTORY_PARTITIONS / n_date_state / 3600,
        "peak_rss_mib": max(
            (f.get("peak_rss_mib") or 0 for f in result.get("fits", [])), default=0
        ),
    }


def report(summaries: list[dict]) -> str:
    lines = []
    for s in summaries:
        lines += [
            f"step start {s['step_start']}: backfill {s['status']} in {s['wall_min']:.1f} min, "
            f"{s['runs']} runs ({s['runs_failed']} failed), {s['date_state_runs']} of them for "
            f"{s['date_state_partitions']} date|state partitions",
            f"  per date|state run {s['run_s_per_date_state']:.0f} s; time in runs "
            f"{s['in_runs_s']:.0f} s, in steps {s['in_steps_s']:.0f} s "
            f"({s['outside_steps_share']:.0%} outside steps); launch to start "
            f"{s['launch_to_start_s']:.0f} s per run",
            f"  steps (s, summed): {json.dumps(s['step_s'])}",
            f"  in the inference steps: compiling {s['compile_s']:.0f} s, sampling "
            f"{s['sampling_s']:.0f} s; models {json.dumps(s['compiled_model'])}",
            f"  {s['date_state_per_hour']:.1f} date|state partitions per hour; the whole history "
            f"({HISTORY_PARTITIONS} partitions) at this rate: {s['history_projection_h']:.0f} h",
            f"  date|state phase (first launch to the last date|state run's end) "
            f"{s['date_state_phase_s']:.0f} s: {s['date_state_phase_per_hour']:.0f} per hour, "
            f"the history's partitions in {s['history_phase_h']:.1f} h; "
            f"inference steps' peak RSS {s['peak_rss_mib']:.0f} MiB",
        ]
    base = summaries[0] if summaries else None
    for new in summaries[1:]:
        outside = [s["in_runs_s"] - s["in_steps_s"] for s in (base, new)]
        lines.append(
            f"{new['step_start']} / {base['step_start']}: wall "
            f"{new['wall_min'] / base['wall_min']:.2f}x, time in runs outside steps "
            f"{outside[1] / max(1.0, outside[0]):.2f}x, date|state partitions per hour "
            f"{new['date_state_phase_per_hour'] / max(1.0, base['date_state_phase_per_hour']):.2f}x"
        )
    return "\n".join(lines)


def bytecode_state() -> str:
    """Whether the dependencies' bytecode is compiled: without it (and with
    PYTHONDONTWRITEBYTECODE=1, as on this machine) every process compiles the imports."""
    import dagster

    cache = Path(dagster.__file__).parent / "__pycache__"
    compiled = any(cache.glob("__init__.*.pyc"))
    env = os.environ.get("PYTHONDONTWRITEBYTECODE") or "unset"
    return (
        f"dependencies' bytecode {'compiled' if compiled else 'NOT compiled'}, "
        f"PYTHONDONTWRITEBYTECODE={env}"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks backfill", description=__doc__)
    parser.add_argument("--dates", default=DEFAULT_DATES, help="as rt_assets.rerun --dates")
    parser.add_argument("--states", default=DEFAULT_STATES, help="as rt_assets.rerun --states")
    parser.add_argument("--preset", default="full")
    parser.add_argument(
        "--step-start", default="spawn,in_process",
        help="LOCAL_STEP_START values to run, comma-separated; the first is the baseline "
        "(spawn, forkserver, in_process)",
    )  # fmt: skip
    parser.add_argument(
        "--baseline-ref",
        help="also measure the code of this commit, first, as the baseline (a git worktree)",
    )
    parser.add_argument(
        "--warm-cache",
        action="store_true",
        help="compile the slice's model lengths into each variant's cache before its backfill",
    )
    parser.add_argument("--max-runs", type=int, default=2, help="max_concurrent_runs")
    parser.add_argument(
        "--dequeue-intervals",
        help="run queue polling intervals (s) to run, comma-separated, each with the first "
        "--step-start; the first is the baseline (default: the documented dagster.yaml's)",
    )
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    from rt_assets.rerun import parse_dates, parse_states

    n_date_state = len(parse_dates(args.dates)) * len(parse_states(args.states))
    from resources.settings import LOCAL_STEP_START

    variants = [v.strip() for v in args.step_start.split(",") if v.strip()]
    for variant in variants:
        try:
            LOCAL_STEP_START.parse(variant)
        except ValueError as exc:
            parser.error(f"--step-start {variant}: {exc}")
    print(
        f"backfill of {args.dates} x {args.states} ({n_date_state} date|state partitions), "
        f"preset {args.preset}, {args.max_runs} runs at once, {os.cpu_count()} CPUs, "
        f"load average {os.getloadavg()[0]:.1f}; {bytecode_state()}",
        flush=True,
    )
    lengths = []
    if args.warm_cache:
        lengths = slice_lengths(parse_dates(args.dates), parse_states(args.states))
    planned = [(variant, variant, None, None) for variant in variants]
    if args.dequeue_intervals:
        intervals = [int(v) for v in args.dequeue_intervals.split(",") if v.strip()]
        planned = [(variants[0], f"{variants[0]} dequeue {i}s", None, i) for i in intervals]
    if args.baseline_ref:
        code = baseline_checkout(args.baseline_ref, args.out)
        planned.insert(0, (variants[0], f"{args.baseline_ref} {variants[0]}", code, None))
    summaries = []
    for variant, label, code, interval in planned:
        name = label.replace(" ", "-")
        root = args.out / name
        if root.exists():
            shutil.rmtree(root)
        root.mkdir(parents=True)
        if args.warm_cache:
            seconds = warm_cache(root, code, lengths)
            print(f"{label}: cache warmed with lengths {lengths} in {seconds:.0f} s", flush=True)
        result = measure(root, args, variant, label, code, interval)
        (args.out / f"{name}.json").write_text(json.dumps(result, indent=1))
        summaries.append(summarize(result, n_date_state))
        print(report(summaries[-1:]), flush=True)
    print()
    print(report(summaries))
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0 if all(s["runs_failed"] == 0 for s in summaries) else 1


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
