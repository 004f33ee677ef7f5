"""The whole daily inference for one run date: 51 states, full preset, 2 worker processes.

Like Dagster's multiprocess executor on a 2-core machine: at most ``--workers`` inference
steps at once, each in a fresh process (so each pays its own compile, as a step does),
with ``RT_SAMPLER_CORES=1`` so that two steps share two cores. Prints the total wall
time, the slowest states, per-state peak memory (ru_maxrss of the step's process) and
convergence against the stricter gate (r_hat < 1.01, bulk/tail ESS > 400, 0 divergences).
"""

import argparse
import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path

from benchmarks import _data
from rt_assets import model as m

RUN_BY_DEFAULT = False  # about half an hour on 2 cores
OUT = Path(__file__).parent / "out" / "daily"


def _one(region, preset, run_date, out_dir):
    seed = m.rt_seed(run_date, region)
    cmd = [sys.executable, "-m", "benchmarks._child", "product", region, preset, str(seed)]
    cmd += [str(out_dir), run_date]
    env = {**os.environ, m.CORES_ENV: os.environ.get(m.CORES_ENV, "1")}
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


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks daily_run", description=__doc__)
    parser.add_argument("--run-date", default="2021-03-07")
    parser.add_argument("--preset", default="full")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--states", default="", help="comma-separated subset (default: all)")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    regions = args.states.split(",") if args.states else _data.regions(args.run_date)
    args.out.mkdir(parents=True, exist_ok=True)
    print(
        f"{len(regions)} states, run date {args.run_date}, preset {args.preset}, "
        f"{args.workers} workers",
        flush=True,
    )
    started = time.perf_counter()
    results = []
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
                    f"peak {r['peak_rss_mib']:.0f} MiB, r_hat {r['max_rhat']:.3f}, "
                    f"ESS {r['min_ess_bulk']:.0f}/{r['min_ess_tail']:.0f}, "
                    f"{r['divergences']} div  [{time.perf_counter() - started:.0f} s]",
                    flush=True,
                )
    total = time.perf_counter() - started
    ok = [r for r in results if "error" not in r]
    (args.out / "daily_run.json").write_text(json.dumps({"total_s": total, "states": results}))
    print(
        f"\ntotal wall time: {total / 60:.1f} min for {len(regions)} states "
        f"({len(results) - len(ok)} failed)"
    )
    print("slowest states:")
    for r in sorted(ok, key=lambda r: -r["step_s"])[:5]:
        print(f"  {r['region']}: {r['step_s']:.0f} s, {r['days']} days")
    peaks = sorted(r["peak_rss_mib"] for r in ok)
    if peaks:
        print(
            f"peak memory per step: max {peaks[-1]:.0f} MiB, "
            f"median {peaks[len(peaks) // 2]:.0f} MiB"
        )
    strict = [
        r["region"] for r in ok
        if not (r["max_rhat"] < 1.01 and min(r["min_ess_bulk"], r["min_ess_tail"]) > 400
                and r["divergences"] == 0)
    ]  # fmt: skip
    print(f"states missing the strict gate: {', '.join(strict) or 'none'}")
    return 0 if len(ok) == len(results) else 1
