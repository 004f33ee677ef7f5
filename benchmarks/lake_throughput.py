"""Bronze -> gold throughput on one synthetic year, against the original approach.

    uv run python -m benchmarks.lake_throughput [--rows 7000000] [--csv PATH]

Each runs in a fresh process, one after the other, in the same benchmark run:
- original: pandas reads the whole CSV, drops rows without a departure
  delay, groups by origin and date (mean delay);
- lake: the Dagster assets bronze_flights -> silver_flights (+ quarantine)
  -> gold_dep_delay_by_date materialized in process with the real IO manager
  (landing file -> bronze copy -> typed Parquet -> daily aggregate);
- engine: today's silver/gold path alone (``lake_assets.cleaning``:
  ``clean_to_parquet`` then ``aggregate_silver_file``), no Dagster, no bronze copy;
- duckdb: the same path on DuckDB (``benchmarks.engine_duckdb``), the
  candidate of issue 15, with its memory limit (``--duckdb-memory``).
Reports wall time, CPU time, peak memory (max RSS), the ratio of each to
today's engine, and the lines of each silver/gold path. Issue 15's rule: the
engine is replaced only if DuckDB is within 1.25x of today's engine's wall
time and peaks at 2 GB or less.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from benchmarks.lake_common import (
    cpu_seconds,
    materialize_to_gold,
    peak_rss_mb,
    run_child,
    step_seconds,
    synthetic_year,
)


def original(csv: str) -> dict:
    import pandas as pd

    cpu = cpu_seconds()
    start = time.perf_counter()
    frame = pd.read_csv(csv)
    frame = frame.dropna(subset=["DEP_DELAY"])
    gold = frame.groupby(["ORIGIN", "FL_DATE"])["DEP_DELAY"].mean()
    return {
        "seconds": time.perf_counter() - start,
        "cpu_s": cpu_seconds() - cpu,
        "rows": int(len(gold)),
        "rss_mb": peak_rss_mb(),
    }


def lake(csv: str, year: str) -> dict:
    base = Path(tempfile.mkdtemp(prefix="lake-bench-"))
    try:
        (base / "landing").mkdir()
        os.link(csv, base / "landing" / f"{year}.csv") if _same_fs(csv, base) else shutil.copy(
            csv, base / "landing" / f"{year}.csv"
        )
        os.environ["LAKE_URL"] = str(base)
        result, instance, seconds, cpu = materialize_to_gold(str(base), year)
        import pandas as pd

        gold = pd.read_parquet(base / "lake" / "gold_dep_delay_by_date" / f"{year}.parquet")
        assert result.success
        return {
            "seconds": seconds,
            "cpu_s": cpu,
            "rows": int(len(gold)),
            "rss_mb": peak_rss_mb(),
            "steps": step_seconds(instance, result.run_id),
        }
    finally:
        shutil.rmtree(base, ignore_errors=True)


def engine(csv: str, year: str) -> dict:
    """Today's silver/gold path, as the silver and gold assets call it, without Dagster."""
    from lake_assets import cleaning

    out = Path(tempfile.mkdtemp(prefix="lake-engine-"))
    try:
        cpu = cpu_seconds()
        start = time.perf_counter()
        result = cleaning.clean_to_parquet(
            lambda: open(csv, "rb"),  # noqa: SIM115 - clean_to_parquet closes it
            int(year),
            str(out / "silver.parquet"),
            local_path=csv,
        )
        silver_s = time.perf_counter() - start
        gold = cleaning.aggregate_silver_file(str(out / "silver.parquet"))
        return _measured(start, cpu, gold, result.counts, silver_s)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def duckdb_engine(csv: str, year: str, memory: str) -> dict:
    """The DuckDB silver/gold path; connecting and its settings are inside the timing."""
    from benchmarks import engine_duckdb

    out = Path(tempfile.mkdtemp(prefix="lake-duckdb-"))
    try:
        cpu = cpu_seconds()
        start = time.perf_counter()
        con = engine_duckdb.connect(memory_limit=memory)
        result = engine_duckdb.clean_to_parquet(
            csv, int(year), str(out / "silver.parquet"), con=con
        )
        silver_s = time.perf_counter() - start
        gold = engine_duckdb.aggregate_silver_file(str(out / "silver.parquet"), con=con)
        return _measured(start, cpu, gold, result.counts, silver_s)
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _measured(start: float, cpu: float, gold, counts: dict, silver_s: float) -> dict:
    return {
        "seconds": time.perf_counter() - start,
        "cpu_s": cpu_seconds() - cpu,
        "rows": int(len(gold)),
        "rss_mb": peak_rss_mb(),
        "steps": {"silver": round(silver_s, 2)},
        "silver_rows": counts["silver_rows"],
        "quarantined": counts["quarantined_rows"],
        "duplicates": counts["duplicates_dropped"],
    }


def lines_of_code() -> dict[str, tuple[int, int]]:
    """(lines, code lines: not blank, not a comment) of each silver/gold path's own source.

    The schema module (``lake_assets/schema.py``) serves both engines and is not counted.
    """
    import inspect

    from benchmarks import engine_duckdb
    from lake_assets import cleaning

    def count(text: str) -> tuple[int, int]:
        lines = text.splitlines()
        code = [ln for ln in lines if ln.strip() and not ln.strip().startswith("#")]
        return len(lines), len(code)

    # The engine is a package (issue 15 split it by concern): all its modules count.
    engine_source = "".join(
        path.read_text() for path in sorted(Path(cleaning.__file__).parent.glob("*.py"))
    )
    return {
        "original": count(inspect.getsource(original)),
        "engine": count(engine_source),
        "duckdb": count(inspect.getsource(engine_duckdb)),
    }


def _load() -> str:
    return ", ".join(f"{v:.1f}" for v in os.getloadavg())


def _same_fs(a: str, b: Path) -> bool:
    return os.stat(a).st_dev == os.stat(b).st_dev


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=7_000_000)
    parser.add_argument("--year", default="2015")
    parser.add_argument("--csv", default=None)
    parser.add_argument("--child", choices=["original", "lake", "engine", "duckdb"], default=None)
    parser.add_argument("--duckdb-memory", default="1500MB", help="DuckDB's memory_limit")
    args = parser.parse_args(argv)
    if args.child:
        csv = args.csv
        out = {
            "original": lambda: original(csv),
            "lake": lambda: lake(csv, args.year),
            "engine": lambda: engine(csv, args.year),
            "duckdb": lambda: duckdb_engine(csv, args.year, args.duckdb_memory),
        }[args.child]()
        print(json.dumps(out))
        return 0
    csv = str(synthetic_year(args.rows, int(args.year), csv=args.csv).resolve())
    size = os.path.getsize(csv) / 1e6
    print(f"input: {csv} ({size:,.0f} MB), {os.cpu_count()} CPUs", flush=True)
    print(f"load average before: {_load()}", flush=True)
    base = run_child("benchmarks.lake_throughput", "--child", "original", "--csv", csv)
    ours = run_child(
        "benchmarks.lake_throughput", "--child", "lake", "--csv", csv, "--year", args.year
    )
    today = run_child(
        "benchmarks.lake_throughput", "--child", "engine", "--csv", csv, "--year", args.year
    )
    duck = run_child(
        "benchmarks.lake_throughput",
        *("--child", "duckdb", "--csv", csv, "--year", args.year),
        *("--duckdb-memory", args.duckdb_memory),
    )
    print(f"load average after: {_load()} (1, 5, 15 min; other jobs share the machine)")
    print()
    # CPU seconds (user + system, all threads) do not depend on what else runs
    # on the machine; wall seconds do, for a multi-threaded pipeline most.
    print("| approach | wall s | CPU s | peak RSS MB | gold rows |")
    print("|---|---:|---:|---:|---:|")
    print(
        f"| original (pandas read_csv, dropna, groupby) | {base['seconds']:.1f} | "
        f"{base['cpu_s']:.1f} | {base['rss_mb']:,.0f} | {base['rows']:,} |"
    )
    print(
        f"| lake assets bronze -> silver -> gold | {ours['seconds']:.1f} | "
        f"{ours['cpu_s']:.1f} | {ours['rss_mb']:,.0f} | {ours['rows']:,} |"
    )
    steps = ", ".join(f"{k} {v:.1f} s" for k, v in ours.get("steps", {}).items())
    print(f"\nlake steps: {steps}; the rest is Dagster's run and event handling")
    print(
        f"speed-up: {base['seconds'] / ours['seconds']:.1f}x "
        f"(targets: lake <= 60 s, <= 3,000 MB, >= 3x)"
    )
    _engines_table(base, today, duck, args.duckdb_memory)
    return 0


def _engines_table(base: dict, today: dict, duck: dict, memory: str) -> None:
    """Issue 15's comparison: the silver/gold paths alone, against today's engine."""
    loc = lines_of_code()
    print("\nsilver/gold paths alone (no Dagster, no bronze copy), ratio to today's engine:\n")
    print(
        "| path | wall s | CPU s | peak RSS MB | wall / today's | silver s | silver rows "
        "| quarantined | duplicates | gold rows | lines (code) |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    rows = [
        ("original (pandas, no cleaning)", base, "original"),
        ("today's engine (lake_assets/cleaning/)", today, "engine"),
        (f"DuckDB (benchmarks/engine_duckdb.py, memory_limit {memory})", duck, "duckdb"),
    ]
    for name, r, key in rows:
        total, code = loc[key]
        silver = r.get("steps", {}).get("silver", "-")
        print(
            f"| {name} | {r['seconds']:.1f} | {r['cpu_s']:.1f} | {r['rss_mb']:,.0f} | "
            f"{r['seconds'] / today['seconds']:.2f}x | {silver} | "
            f"{r.get('silver_rows', 0):,} | {r.get('quarantined', 0):,} | "
            f"{r.get('duplicates', 0):,} | {r['rows']:,} | {total:,} ({code:,}) |"
        )
    ratio = duck["seconds"] / today["seconds"]
    meets = ratio <= 1.25 and duck["rss_mb"] <= 2048
    print(
        f"\nissue 15's rule (DuckDB within 1.25x of today's wall time, <= 2 GB peak): "
        f"{ratio:.2f}x, {duck['rss_mb']:,.0f} MB: {'met' if meets else 'not met'}"
    )


if __name__ == "__main__":
    sys.exit(main())
