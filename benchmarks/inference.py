"""Rt inference: rt.live's formulation (baseline) vs the product's model, same data, ESS/s ratio.

Each fit runs alone in its own subprocess (``benchmarks/_child.py``), one after the
other, so wall time and peak memory (ru_maxrss) are its own. Prints per state and
variant: wall time (build + compile + sampling), sampling time, min bulk/tail ESS of
r_t, ESS/s (min bulk ESS / wall), divergences, max r_hat, peak RSS, the ratio of ESS/s
to the baseline's, and whether the answer is the same as the baseline's (median Rt
within 0.02 on >= 95% of dates, 80% HDIs overlapping on every date).
"""

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

import arviz as az
import numpy as np
import xarray as xr

OUT = Path(__file__).parent / "out"
STATES = ("VT", "CA")  # a small and a large state, both with a full year of data


def _fit(variant, region, preset, seed, out_dir, run_date, timeout):
    cmd = [sys.executable, "-m", "benchmarks._child", variant, region, preset, str(seed)]
    cmd += [str(out_dir), run_date]
    print(f"  fitting {variant} on {region} with preset {preset} ...", flush=True)
    # stderr (the samplers' logs) goes straight to ours, for progress.
    proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True, timeout=timeout, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    if proc.returncode or not lines:
        raise RuntimeError(f"{variant}/{region} failed with exit code {proc.returncode}")
    result = json.loads(lines[-1][len("RESULT ") :])
    (out_dir / f"{variant}-{region}.json").write_text(json.dumps(result, indent=1))
    return result


def same_answer(out_dir: Path, variant: str, baseline: str, region: str) -> dict:
    def summary(name):
        post = xr.load_datatree(out_dir / f"{name}-{region}.nc").posterior["r_t"]
        hdi = az.hdi(post, prob=0.8)
        median = post.median(("chain", "draw"))
        return median.values, hdi.sel(ci_bound="lower").values, hdi.sel(ci_bound="upper").values

    med_a, lo_a, hi_a = summary(variant)
    med_b, lo_b, hi_b = summary(baseline)
    close = np.abs(med_a - med_b) <= 0.02
    overlap = (lo_a <= hi_b) & (lo_b <= hi_a)
    return {
        "median_within_0.02": float(close.mean()),
        "max_median_diff": float(np.abs(med_a - med_b).max()),
        "hdi_overlap_all": bool(overlap.all()),
        "same_answer": bool(close.mean() >= 0.95 and overlap.all()),
    }


def table(rows: list[dict]) -> str:
    head = (
        f"{'state':<5} {'variant':<10} {'preset':<7} {'days':>4} {'wall s':>7} {'sample s':>8} "
        f"{'ESS bulk':>8} {'ESS tail':>8} {'ESS/s':>7} {'ratio':>6} {'div':>4} {'r_hat':>6} "
        f"{'peak MiB':>8} {'same':>5} {'load':>5}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r['region']:<5} {r['variant']:<10} {r['preset']:<7} {r['days']:>4} "
            f"{r['wall_s']:>7.1f} {r['sampling_s']:>8.1f} {r['min_ess_bulk']:>8.0f} "
            f"{r['min_ess_tail']:>8.0f} {r['ess_per_s']:>7.2f} {r.get('ratio', 1.0):>6.1f} "
            f"{r['divergences']:>4} {r['max_rhat']:>6.3f} {r['peak_rss_mib']:>8.0f} "
            f"{str(r.get('same_answer', '-')):>5} {r.get('load_avg', float('nan')):>5.1f}"
        )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks inference", description=__doc__)
    parser.add_argument("--states", default=",".join(STATES))
    parser.add_argument("--run-date", default="2021-03-07")
    parser.add_argument("--baseline-preset", default="rtlive", help="rt.live's settings")
    parser.add_argument("--preset", default="full", help="preset of the product's fit")
    parser.add_argument(
        "--ablation", action="store_true", help="also the intermediate steps (op_pymc, op_nutpie)"
    )
    parser.add_argument("--reuse", action="store_true", help="reuse results already in --out")
    parser.add_argument("--seed", type=int, default=20210307)
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument("--timeout", type=int, default=3600, help="seconds per fit")
    args = parser.parse_args(argv)

    variants = ["baseline", "product"]
    if args.ablation:
        variants = ["baseline", "op_pymc", "op_nutpie", "product"]
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    started = time.perf_counter()
    for region in args.states.split(","):
        by_variant = {}
        for variant in variants:
            preset = args.baseline_preset if variant != "product" else args.preset
            cached = args.out / f"{variant}-{region}.json"
            if args.reuse and cached.exists() and (args.out / f"{variant}-{region}.nc").exists():
                result = json.loads(cached.read_text())
            else:
                result = _fit(
                    variant, region, preset, args.seed, args.out, args.run_date, args.timeout
                )
            result["ess_per_s"] = result["min_ess_bulk"] / result["wall_s"]
            by_variant[variant] = result
        base = by_variant["baseline"]
        for variant, result in by_variant.items():
            result["ratio"] = result["ess_per_s"] / base["ess_per_s"]
            if variant != "baseline":
                result.update(same_answer(args.out, variant, "baseline", region))
            rows.append(result)
        print(table(rows), flush=True)
    print(f"\nrun date {args.run_date}; total {time.perf_counter() - started:.0f} s")
    print(table(rows))
    (args.out / "inference.json").write_text(json.dumps(rows, indent=1))
    products = [r for r in rows if r["variant"] == "product"]
    ok = all(r["ratio"] >= 10 and r["same_answer"] for r in products)
    print(
        "goal (ESS/s >= 10x baseline and same answer on every state):", "met" if ok else "NOT met"
    )
    return 0
