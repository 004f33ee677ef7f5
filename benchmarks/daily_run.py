"""The whole daily run for one run date: 51 states, `full` preset, on this machine.

Default (``--mode pipeline``): the real Dagster daily run, ``rt_assets.pipeline.run_daily``
with the local (in-process) executor: counts, then one run per state (inference, its
blocking convergence check, summary; ``--parallel-states`` runs at once in worker
processes, default 2, so that one state's model compiles while another samples), then the
national CSV, staging and promotion, into a fresh lake and Dagster home under ``--out``.
Reports the total wall time, the slowest states, compile and sampling time, peak memory
(the inference step's ``peak_rss_mib`` metadata: its worker's peak so far, an upper bound
of one step's peak) and which states miss the `full` preset's gate, with why.

``--mode steps``: each state's fit in a fresh process, ``--workers`` at a time with
``RT_SAMPLER_CORES=1``, as the multiprocess or Kubernetes executors run the step; gives
each step's own peak memory (ru_maxrss of its process).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from benchmarks import _data
from resources.settings import SAMPLER_CORES_ENV
from rt_assets import model as m
from rt_assets.logs import configure_logging

RUN_BY_DEFAULT = False  # about 20 minutes on 2 cores
OUT = Path(__file__).parent / "out" / "daily"


# --------------------------------------------------------------------------- pipeline mode


def _pipeline(regions: list[str], args: argparse.Namespace) -> list[dict]:
    lake, home = args.out / "lake", args.out / "dagster_home"
    for path in (lake, home):
        shutil.rmtree(path, ignore_errors=True)
        path.mkdir(parents=True)
    os.environ.update({"LAKE_URL": str(lake.resolve()), "DAGSTER_HOME": str(home)})
    import dagster as dg

    from resources.lake_store import LakeStore
    from rt_assets import keys
    from rt_assets.partitions import date_state_key
    from rt_assets.pipeline import run_daily

    with dg.DagsterInstance.local_temp(str(home)) as instance:
        result = run_daily(
            args.run_date,
            regions,
            instance,
            approve_warnings=True,  # no previous publication in a fresh lake
            parallel_states=args.parallel_states,
            sampler_preset=args.preset,
        )
        metadata = {}
        records = instance.fetch_materializations(keys.INFERENCE, limit=10 * len(regions)).records
        for record in records:
            materialization = record.asset_materialization
            state = str(materialization.partition).split("|")[-1]
            metadata.setdefault(state, {k: v.value for k, v in materialization.metadata.items()})
    print(
        f"counts ok: {result.counts_ok}; published: {result.published} "
        f"{result.publish_error}".rstrip(),
        flush=True,
    )
    rows = []
    for region in regions:
        row = {"region": region, "step_s": result.state_seconds.get(region, float("nan"))}
        if region in result.states_failed:
            row["failed"] = result.states_failed[region]
        stored = LakeStore(lake).path(
            keys.INFERENCE, date_state_key(args.run_date, region), "netcdf"
        )
        if stored.exists():
            import xarray as xr

            idata = xr.load_datatree(stored)
            meta = metadata.get(region, {})
            row.update(m.convergence(idata))
            row.update(
                days=int(idata.posterior.sizes["date"]),
                compile_s=float(meta.get("compile_seconds", float("nan"))),
                sampling_s=float(meta.get("sampling_seconds", float("nan"))),
                peak_rss_mib=float(meta.get("peak_rss_mib", float("nan"))),
            )
        else:
            row["error"] = row.get("failed", "no inference stored")
        rows.append(row)
    return rows


# --------------------------------------------------------------------------- steps mode


def _one(region, preset, run_date, out_dir):
    seed = m.rt_seed(run_date, region)
    cmd = [sys.executable, "-m", "benchmarks._child", "product", region, preset, str(seed)]
    cmd += [str(out_dir), run_date]
    env = {**os.environ, SAMPLER_CORES_ENV: os.environ.get(SAMPLER_CORES_ENV, "1")}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        return {
            "region": region,
            "error": proc.stderr[-2000:],
            "step_s": time.perf_counter() - started,
        }
    result = json.loads(lines[-1][len("RESULT ") :])
    result["step_s"] = time.perf_counter() - started
    return result


def _steps(regions: list[str], args: argparse.Namespace) -> list[dict]:
    results = []
    started = time.perf_counter()
    with ThreadPoolExecutor(args.workers) as pool:
        futures = [pool.submit(_one, r, args.preset, args.run_date, args.out) for r in regions]
        for future in as_completed(futures):
            r = future.result()
            results.append(r)
            if "error" in r:
                print(f"  {r['region']}: FAILED\n{r['error']}", flush=True)
            else:
                print(
                    f"  {r['region']}: {r['step_s']:.0f} s (sampling {r['sampling_s']:.0f} s), "
                    f"peak {r['peak_rss_mib']:.0f} MiB  [{time.perf_counter() - started:.0f} s]",
                    flush=True,
                )
    return results


# --------------------------------------------------------------------------- report


def report(rows: list[dict], total: float, preset: str) -> str:
    ok = [r for r in rows if "error" not in r]
    lines = [
        f"total wall time: {total / 60:.1f} min for {len(rows)} states "
        f"({len(rows) - len(ok)} without a posterior)",
        "slowest states (step wall s, compile s, sampling s, days):",
    ]
    for r in sorted(ok, key=lambda r: -r["step_s"])[:5]:
        lines.append(
            f"  {r['region']}: {r['step_s']:.0f}, {r['compile_s']:.0f}, "
            f"{r['sampling_s']:.0f}, {r['days']}"
        )
    if ok:
        steps = sorted(r["step_s"] for r in ok)
        lines.append(
            f"per-state step: median {steps[len(steps) // 2]:.0f} s, max {steps[-1]:.0f} s"
        )
        peaks = sorted(r["peak_rss_mib"] for r in ok)
        lines.append(
            f"peak memory per inference step: max {peaks[-1]:.0f} MiB, "
            f"median {peaks[len(peaks) // 2]:.0f} MiB"
        )
        lines.append(
            f"convergence: max r_hat {max(r['max_rhat'] for r in ok):.4f}, "
            f"min ESS bulk {min(r['min_ess_bulk'] for r in ok):.0f}, "
            f"tail {min(r['min_ess_tail'] for r in ok):.0f}, "
            f"divergences {sum(r['divergences'] for r in ok)}"
        )
    missing = {r["region"]: m.gate(r, preset) for r in ok}
    missing = {k: v for k, v in missing.items() if v}
    lines.append(f"states missing the {preset} preset's gate: {len(missing) or 'none'}")
    lines += [f"  {k}: {'; '.join(v)}" for k, v in missing.items()]
    lines += [f"  {r['region']}: {r['error'][-300:]}" for r in rows if "error" in r]
    return "\n".join(lines)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks daily_run", description=__doc__)
    parser.add_argument("--run-date", default="2021-03-07")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--mode", choices=("pipeline", "steps"), default="pipeline")
    parser.add_argument("--parallel-states", type=int, default=2, help="pipeline mode")
    parser.add_argument("--workers", type=int, default=2, help="steps mode")
    parser.add_argument("--states", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    configure_logging()

    regions = args.states.split(",") if args.states else _data.regions(args.run_date)
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"{len(regions)} states, run date {args.run_date}, preset {args.preset}, mode "
        f"{args.mode}, {os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}",
        flush=True,
    )
    started = time.perf_counter()
    rows = _pipeline(regions, args) if args.mode == "pipeline" else _steps(regions, args)
    total = time.perf_counter() - started
    (args.out / f"daily_run-{args.mode}.json").write_text(
        json.dumps({"total_s": total, "mode": args.mode, "states": rows}, indent=1)
    )
    print()
    print(report(rows, total, args.preset))
    print(f"load average after: {', '.join(f'{v:.1f}' for v in os.getloadavg())}")
    return 0 if all("error" not in r for r in rows) else 1
