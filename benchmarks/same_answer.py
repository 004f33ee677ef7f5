"""Same answer: fit states in one process and compare the Rt summaries of two checkouts.

Issue 14's check that a faster computation gives the same estimate: posterior median Rt
within 0.02 on at least 95% of the dates, and the 80% HDIs overlapping on every date.

``fit`` fits ``--states`` for ``--run-date`` with ``--preset`` one after the other in this
process (so the second state of a bucket reuses the compiled model) and writes each
state's summary (``rt_assets.summary.summarize``: mean, median, 80% HDI per date) and its
timings to ``--out/<label>/``. Run it in two checkouts (the reference with
``PYTHONPATH=<its root>``, so that its ``rt_assets`` is the one imported), then
``compare`` the two folders. Exit 1 when a state misses either criterion.

``lake`` writes the same files from the summaries a daily run stored in a lake
(``<lake>/rt/summary/<run date>/<state>.parquet``, e.g. ``benchmarks/out/daily/lake``), so
that two daily runs (two checkouts, two library stacks) can be compared on every state.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import pandas as pd

RUN_BY_DEFAULT = False  # minutes per state with the full preset
OUT = Path(__file__).parent / "out" / "same_answer"
STATES = ["VT", "CA", "NY", "TX"]
MEDIAN_TOLERANCE = 0.02
MEDIAN_SHARE = 0.95


def fit(args: argparse.Namespace) -> int:
    from benchmarks import _data
    from rt_assets import model as m
    from rt_assets import summary
    from rt_assets.logs import configure_logging

    configure_logging()
    folder = args.out / args.label
    folder.mkdir(parents=True, exist_ok=True)
    counts = _data.processed(args.run_date)
    for state in args.states:
        started = time.perf_counter()
        idata = m.fit(
            _data.observed(state, args.run_date),
            args.preset,
            seed=m.rt_seed(args.run_date, state),
            region=state,
            cores=args.cores,
        )
        wall = time.perf_counter() - started
        frame = summary.summarize(idata, counts, state)
        frame.to_csv(folder / f"{state}.csv", index=False)
        attrs = idata.posterior.attrs
        record = {
            "state": state,
            "run_date": args.run_date,
            "preset": args.preset,
            "model_version": attrs.get("model_version"),
            "wall_s": round(wall, 2),
            "compile_s": attrs.get("compile_seconds"),
            "sampling_s": attrs.get("sampling_seconds"),
            "cores": args.cores,
            **m.convergence(idata),
        }
        (folder / f"{state}.json").write_text(json.dumps(record, indent=1))
        print(json.dumps(record), flush=True)
    return 0


def from_lake(args: argparse.Namespace) -> int:
    """Each state's stored summary of ``--run-date`` as ``--out/<label>/<state>.csv``."""
    from resources.lake_store import EXTENSIONS, LakeStore
    from rt_assets import keys

    folder = args.out / args.label
    folder.mkdir(parents=True, exist_ok=True)
    stored = LakeStore(args.lake).path(keys.SUMMARY, args.run_date)
    summaries = sorted(stored.glob(f"*{EXTENSIONS['parquet']}"))
    if not summaries:
        print(f"no summaries for {args.run_date} under {args.lake}", file=sys.stderr)
        return 1
    for path in summaries:
        pd.read_parquet(path).to_csv(folder / f"{path.stem}.csv", index=False)
    print(f"{len(summaries)} states' summaries written to {folder}")
    return 0


def agreement(reference: pd.DataFrame, candidate: pd.DataFrame) -> dict:
    """Share of dates with medians within the tolerance, and dates whose HDIs do not overlap."""
    both = reference.merge(candidate, on="date", suffixes=("_ref", "_new"))
    if len(both) != len(reference) or len(both) != len(candidate):
        raise ValueError(
            f"the summaries cover different dates ({len(reference)} and {len(candidate)} rows, "
            f"{len(both)} shared)"
        )
    close = (both["median_ref"] - both["median_new"]).abs() <= MEDIAN_TOLERANCE
    apart = (both["upper_80_ref"] < both["lower_80_new"]) | (
        both["upper_80_new"] < both["lower_80_ref"]
    )
    return {
        "dates": len(both),
        "median_within": float(close.mean()),
        "max_median_diff": float((both["median_ref"] - both["median_new"]).abs().max()),
        "hdi_disjoint_dates": both.loc[apart, "date"].tolist(),
    }


def compare(args: argparse.Namespace) -> int:
    reference, candidate = args.reference, args.candidate
    failed = []
    print(f"{'state':<6}{'dates':>6}{'median within 0.02':>20}{'max diff':>10}{'HDIs apart':>12}")
    for path in sorted(reference.glob("*.csv")):
        other = candidate / path.name
        if not other.exists():
            print(f"{path.stem:<6} missing in {candidate}")
            failed.append(path.stem)
            continue
        result = agreement(pd.read_csv(path), pd.read_csv(other))
        ok = result["median_within"] >= MEDIAN_SHARE and not result["hdi_disjoint_dates"]
        print(
            f"{path.stem:<6}{result['dates']:>6}{result['median_within']:>20.1%}"
            f"{result['max_median_diff']:>10.3f}{len(result['hdi_disjoint_dates']):>12}"
            f"  {'ok' if ok else 'MISSED'}"
        )
        if not ok:
            failed.append(path.stem)
    if failed:
        print(f"missed the same-answer criteria: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks same_answer", description=__doc__)
    sub = parser.add_subparsers(dest="mode", required=True)
    fitting = sub.add_parser("fit", help="fit the states, write their summaries")
    fitting.add_argument("--label", required=True, help="sub-folder of --out for this checkout")
    fitting.add_argument("--states", nargs="+", default=STATES)
    fitting.add_argument("--run-date", default="2021-03-07")
    fitting.add_argument("--preset", default="full")
    fitting.add_argument("--cores", type=int, default=None, help="threads for the chains")
    fitting.add_argument("--out", type=Path, default=OUT)
    stored = sub.add_parser("lake", help="write the summaries a daily run stored in a lake")
    stored.add_argument("--label", required=True, help="sub-folder of --out for this lake")
    stored.add_argument("--lake", type=Path, required=True, help="the lake's root folder")
    stored.add_argument("--run-date", default="2021-03-07")
    stored.add_argument("--out", type=Path, default=OUT)
    comparing = sub.add_parser("compare", help="compare two folders written by fit or lake")
    # Two positionals, not one of nargs=2 with a tuple metavar: argparse cannot print that
    # in --help or in its missing-argument error.
    comparing.add_argument("reference", type=Path, help="folder of the reference summaries")
    comparing.add_argument("candidate", type=Path, help="folder of the candidate summaries")
    args = parser.parse_args(argv)
    return {"fit": fit, "lake": from_lake, "compare": compare}[args.mode](args)


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
