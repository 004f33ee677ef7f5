"""`python -m rt_assets.demo`: the daily rt pipeline on the embedded defaults.

Runs one date for a few states with the bundled archive into the local lake
(``./.lake`` unless LAKE_URL says otherwise), records the runs in DAGSTER_HOME
(default ``./.dagster``, so `make ui` shows them), and prints where the national
CSV and the published msgpack are.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from pathlib import Path

from rt_assets.logs import configure_logging

DEFAULT_DATE = "2020-05-15"
# A spring-2020 date: short series, so the demo takes about a minute. The `fast` preset
# (2 chains x 200 draws, low-rank mass matrix) passes rt.live's gate (r_hat <= 1.1, no
# divergences) here and on the year-long series of 2021-03-07 too (max r_hat 1.03-1.04 on
# VT, NH, RI, NY); RT_SAMPLER_PRESET=full applies the strict gate (about 25 s per state).
DEFAULT_STATES = ("NH", "RI", "VT")

DAGSTER_YAML = """\
# Written by `python -m rt_assets.demo`: local run storage for the demo and the UI.
telemetry:
  enabled: false
"""


def ensure_dagster_home() -> Path:
    home = Path(os.environ.get("DAGSTER_HOME") or Path.cwd() / ".dagster").resolve()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--date", default=DEFAULT_DATE, help="run date (data up to date - 1)")
    parser.add_argument(
        "--states", default=",".join(DEFAULT_STATES), help="comma-separated state codes"
    )
    parser.add_argument(
        "--approve-warnings", action="store_true", help="promote even if staging warns"
    )
    args = parser.parse_args(argv)
    configure_logging()

    home = ensure_dagster_home()
    import dagster as dg
    import pandas as pd
    from upath import UPath

    from resources.io_manager import object_path
    from resources.settings import lake_url
    from rt_assets.model import get_preset
    from rt_assets.pipeline import run_daily
    from rt_assets.sources import STATES, source_location

    states = [s.strip().upper() for s in args.states.split(",") if s.strip()]
    unknown = sorted(set(states) - set(STATES))
    if unknown:
        parser.error(f"unknown state codes {unknown}; use two-letter codes of the 50 states + DC")
    preset = get_preset()
    log = logging.getLogger("rt_assets.demo")
    log.info(
        "rt demo: date %s, states %s, preset %s, source %s, lake %s, DAGSTER_HOME %s",
        args.date, ",".join(states), preset.name, source_location(), lake_url(), home,
    )  # fmt: skip
    started = time.perf_counter()
    with dg.DagsterInstance.get() as instance:
        result = run_daily(args.date, states, instance, approve_warnings=args.approve_warnings)
    elapsed = time.perf_counter() - started

    base = lake_url()
    csv_path = object_path(base, "rt/published_csv", args.date, "csv")
    msgpack_path = object_path(base, "rt/published_msgpack", args.date, "msgpack")
    national_path = object_path(base, "rt/national_csv", args.date, "csv")
    print()
    print(f"rt demo finished in {elapsed:.0f} s (preset {preset.name})")
    for state, seconds in result.state_seconds.items():
        status = "ok" if state in result.states_ok else f"FAILED: {result.states_failed[state]}"
        print(f"  {state}: {seconds:.0f} s, {status}")
    if not result.published:
        print(f"not published: {result.publish_error}")
        print(f"national CSV (if written): {national_path}")
        return 1
    national = pd.read_csv(str(csv_path))
    print("latest Rt per state (mean [80% HDI]):")
    for region, rows in national.groupby("region"):
        last = rows.iloc[-1]
        print(
            f"  {region} {last['date']}: {last['mean']:.2f} "
            f"[{last['lower_80']:.2f}, {last['upper_80']:.2f}]"
        )
    print(f"national CSV:      {national_path}")
    print(f"published CSV:     {csv_path}")
    print(f"published msgpack: {msgpack_path}")
    print(f"web page:          {UPath(base).joinpath('rt', 'site', args.date, 'index.html')}")
    print("  look at it with:  uv run python -m rt_assets.serve_site")
    print(f"Dagster runs in {home} (open the UI with `make ui`)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
