"""Anomaly detector quality and cost on a synthetic year with injected anomalies.

    uv run python -m benchmarks.lake_detectors [--rows 7000000] [--csv PATH] [--arima-airports 30]

Builds the gold table of a synthetic year (lake_assets.synthetic, ~350
origins) with the lake's own cleaning and aggregation, runs the three
detectors and scores them against the injected anomalies written beside the
year: average precision (all airport-days pooled, ranked by score) and
precision at K flags per airport (each airport's K highest scores).
IsolationForest and the robust detector run on every airport; ARIMA's order
search costs seconds per airport, so it runs on a seeded sample of airports,
where the three are also compared head to head, and its cost for all airports
is extrapolated.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks.lake_common import synthetic_year

K_PER_SERIES = 5


def gold_of(csv: Path, year: int) -> pd.DataFrame:
    import tempfile

    from lake_assets.cleaning import aggregate_daily, clean_to_parquet, read_silver_for_gold

    with tempfile.TemporaryDirectory() as tmp:
        silver = f"{tmp}/silver.parquet"
        clean_to_parquet(lambda: csv.open("rb"), year, silver, str(csv))
        return aggregate_daily(read_silver_for_gold(silver))


def truth_labels(scored: pd.DataFrame, truth_csv: Path) -> np.ndarray:
    truth = pd.read_csv(truth_csv, dtype=str)
    keys = set(zip(truth["origin"], truth["fl_date"], strict=True))
    dates = scored["fl_date"].astype("string")
    return np.array([(o, d) in keys for o, d in zip(scored["origin"], dates, strict=True)])


def quality(scored: pd.DataFrame, labels: np.ndarray, name: str) -> tuple[float, float]:
    from sklearn.metrics import average_precision_score

    score = scored[f"{name}_score"].to_numpy(float)
    ok = scored["status"].to_numpy() == "scored"
    s = np.nan_to_num(score[ok], nan=-1e9)
    ap = average_precision_score(labels[ok], s)
    top = (
        pd.DataFrame({"origin": scored["origin"][ok], "s": s, "y": labels[ok]})
        .sort_values("s", ascending=False, kind="stable")
        .groupby("origin")
        .head(K_PER_SERIES)
    )
    return float(ap), float(top["y"].mean())


def main(argv: list[str] | None = None) -> int:
    from lake_assets import detectors

    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=7_000_000)
    parser.add_argument("--year", type=int, default=2015)
    parser.add_argument("--csv", default=None)
    # The robust detector's settings were chosen on seed 1; report on another seed.
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--arima-airports", type=int, default=30)
    args = parser.parse_args(argv)
    csv = synthetic_year(args.rows, args.year, seed=args.seed, csv=args.csv)
    gold = gold_of(csv, args.year)
    truth = csv.with_name(csv.name + ".anomalies.csv")

    everything, report = detectors.detect(gold, detectors=("iforest", "robust"))
    labels = truth_labels(everything, truth)
    eligible = sorted(set(gold["origin"]) - set(report.insufficient))
    rng = np.random.default_rng(0)
    sample = sorted(
        rng.choice(eligible, size=min(args.arima_airports, len(eligible)), replace=False)
    )
    # The sample gets all three detectors; the robust one compares against the
    # other airports, so it sees the whole year's airports as in production.
    arima_rows = gold[gold["origin"].isin(sample)]
    arima_scored, arima_report = detectors.detect(arima_rows, detectors=("arima",))
    merged = everything[everything["origin"].isin(sample)].merge(
        arima_scored[["origin", "fl_date", "arima_score", "arima_flag"]],
        on=["origin", "fl_date"],
    )
    sample_labels = truth_labels(merged, truth)
    n_all = report.scored_airports
    per_airport = arima_report.seconds["arima"] / len(sample)

    print(
        f"input: {csv}; {n_all} airports scored, {len(report.insufficient)} with too little "
        f"data (reported: {sorted(report.insufficient)}); {int(labels.sum())} injected "
        f"anomalous airport-days"
    )
    print()
    print(
        f"| detector | AP (all airports) | P@{K_PER_SERIES}/airport (all) | AP (ARIMA sample "
        f"of {len(sample)}) | P@{K_PER_SERIES}/airport (sample) | time |"
    )
    print("|---|---:|---:|---:|---:|---|")
    for name, label in [
        ("iforest", "IsolationForest"),
        ("arima", "ARIMA (p,q<=4, AIC)"),
        ("robust", "robust (baseline + peers + MAD)"),
    ]:
        if name == "arima":
            full = ("-", "-")
            cost = (
                f"{arima_report.seconds['arima']:.0f} s for {len(sample)} airports "
                f"({per_airport:.1f} s each; ~{per_airport * n_all / 60:.0f} min for {n_all})"
            )
        else:
            full = tuple(f"{v:.3f}" for v in quality(everything, labels, name))
            cost = f"{report.seconds[name]:.1f} s for {n_all} airports"
        sub = quality(merged, sample_labels, name)
        print(f"| {label} | {full[0]} | {full[1]} | {sub[0]:.3f} | {sub[1]:.3f} | {cost} |")
    return 0


if __name__ == "__main__":
    start = time.perf_counter()
    code = main()
    print(f"\n(total {time.perf_counter() - start:.0f} s)")
    sys.exit(code)
