"""`python -m rt_assets.daily`: one run date of the rt pipeline from one command, with progress.

    uv run python -m rt_assets.daily --date 2021-01-27 --states all --parallel 2

Runs ``rt_assets.pipeline.run_daily``: the counts, then each state's inference, its
convergence check and summary (``--parallel`` states at a time, in worker processes),
then the national CSV, the staged msgpack and its check, the promotion and the web
page. Progress goes to stdout: a live status line on a terminal, one line per event
otherwise. The runs are recorded, with their full logs, in DAGSTER_HOME (default
``./.dagster``, where `make ui` looks). Exit status 0 when every state passed and the
day was published, 1 otherwise, 2 for bad arguments.
"""

from __future__ import annotations

import argparse
import datetime as dt
import logging
import sys
import time
from pathlib import Path

from resources.commands import ensure_dagster_home
from rt_assets.logs import configure_logging
from rt_assets.progress import display_for, format_duration


def parse_states(text: str, known: list[str]) -> list[str]:
    """``all`` or a comma list of state codes, in the order given; ValueError names unknown ones."""
    if text.strip().lower() == "all":
        return list(known)
    states = list(dict.fromkeys(s.strip().upper() for s in text.split(",") if s.strip()))
    unknown = [s for s in states if s not in known]
    if unknown:
        raise ValueError(
            f"unknown state code{'s' if len(unknown) > 1 else ''} {', '.join(unknown)}: "
            "use `all` or two-letter codes of the 50 states and DC, e.g. NY,CA"
        )
    if not states:
        raise ValueError("no state given: use `all` or a comma list such as NY,CA")
    return states


def _iso_date(text: str) -> str:
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def build_parser(
    prog: str, description: str, date: str | None, states: str
) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=prog, description=description)
    parser.add_argument(
        "--date",
        type=_iso_date,
        default=date,
        required=date is None,
        help="run date, YYYY-MM-DD (the model sees data up to the day before)"
        + (f"; default {date}" if date else ""),
    )
    parser.add_argument(
        "--states", default=states, help=f"`all` or comma-separated state codes; default {states}"
    )
    parser.add_argument(
        "--parallel",
        type=int,
        default=1,
        metavar="N",
        help="states sampled at once, each in its own worker process; default 1",
    )
    parser.add_argument(
        "--preset",
        help="sampler preset (fast, full, rtlive, tiny); default $RT_SAMPLER_PRESET or fast",
    )
    parser.add_argument(
        "--approve-warnings", action="store_true", help="promote even if staging warns"
    )
    return parser


def main(
    argv: list[str] | None = None,
    *,
    prog: str = "python -m rt_assets.daily",
    description: str = __doc__.splitlines()[0],
    date: str | None = None,
    states: str = "all",
) -> int:
    """The command; ``rt_assets.demo`` calls it with its own defaults."""
    parser = build_parser(prog, description, date, states)
    args = parser.parse_args(argv)
    if args.parallel < 1:
        parser.error("--parallel must be at least 1")
    # Quiet: the console shows this command's progress and results, not library chatter.
    configure_logging(logging.WARNING)

    from rt_assets.sources import STATES

    try:
        states_list = parse_states(args.states, list(STATES))
    except ValueError as exc:
        parser.error(str(exc))
    from resources.settings import sampler_preset_name
    from rt_assets.model import get_preset
    from rt_assets.partitions import date_partitions, run_dates_text

    try:
        preset = get_preset(args.preset or sampler_preset_name())
    except ValueError as exc:
        parser.error(str(exc))
    if not date_partitions.has_partition_key(args.date):
        parser.error(
            f"run date {args.date} is not a partition of rt (run dates {run_dates_text()}: "
            "COVID_SOURCE_LAST_DATE, docs/configuration.md)"
        )
    home = ensure_dagster_home()
    return run_day(args.date, states_list, args.parallel, args.approve_warnings, home, preset.name)


def run_day(
    run_date: str,
    states: list[str],
    parallel: int,
    approve_warnings: bool,
    home: Path,
    preset_name: str,
) -> int:
    import dagster as dg

    from resources.io_manager import LakeIOManager
    from rt_assets.model import get_preset
    from rt_assets.pipeline import run_daily
    from rt_assets.sources import source_location

    preset = get_preset(preset_name)
    lake = LakeIOManager().store().base
    at_once = min(parallel, len(states))
    print(
        f"rt run {run_date}: {len(states)} state{'s' if len(states) > 1 else ''}, "
        f"preset {preset.name}, {at_once} at a time\n"
        f"  source {source_location()}\n  lake {lake}\n  DAGSTER_HOME {home}",
        flush=True,
    )
    started = time.monotonic()
    with dg.DagsterInstance.get() as instance, display_for(states, at_once) as display:
        result = run_daily(
            run_date,
            states,
            instance,
            approve_warnings=approve_warnings,
            parallel_states=parallel,
            progress=display,
            sampler_preset=preset.name,
        )
    return print_summary(result, time.monotonic() - started, preset.name, home)


def print_summary(result, elapsed: float, preset: str, home: Path) -> int:
    """Each state's latest Rt (or why it has none) and where the outputs are; the exit status."""
    import pandas as pd

    from resources.io_manager import LakeIOManager
    from rt_assets import keys

    # The lake of the rt location's IO manager, configured as run_daily's definitions are.
    day, store = result.run_date, LakeIOManager().store()
    national_path = store.path(keys.NATIONAL_CSV, day, "csv")
    csv_path = store.path(keys.PUBLISHED_CSV, day, "csv")
    msgpack_path = store.path(keys.PUBLISHED_MSGPACK, day, "msgpack")
    print(f"\nrt run {day} finished in {format_duration(elapsed)} (preset {preset})")
    if not result.counts_ok:
        print(f"not run: {result.publish_error}", file=sys.stderr)
        return 1
    latest = {}
    table = csv_path if result.published else national_path
    if store.exists(table):  # not published: what the national CSV holds, if it was written
        national = pd.read_csv(str(table))
        latest = {region: rows.iloc[-1] for region, rows in national.groupby("region")}
    print("state  latest Rt: mean [80% HDI]        step time")
    for state, seconds in result.state_seconds.items():
        if state in latest:
            row = latest[state]
            rt = f"{row['date']}  {row['mean']:.2f} [{row['lower_80']:.2f}, {row['upper_80']:.2f}]"
        else:
            rt = f"FAILED: {result.states_failed[state]}" if state in result.states_failed else "-"
        print(f"  {state:<4} {rt:<32} {format_duration(seconds):>8}")
    if not result.published:
        print(f"not published: {result.publish_error}", file=sys.stderr)
        print(f"national CSV (if written): {national_path}")
        return 1
    print(f"national CSV:      {national_path}")
    print(f"published CSV:     {csv_path}")
    print(f"published msgpack: {msgpack_path}")
    print(f"web page:          {store.folder(*keys.SITE.path, day, 'index.html')}")
    print("  look at it with:  uv run python -m rt_assets.serve_site")
    print(f"Dagster runs in {home} (open the UI with `make ui`)")
    return 1 if result.states_failed else 0


if __name__ == "__main__":
    sys.exit(main())
