"""Rebuild the bad-input corpus from the bundled data.

Run: `uv run python -m tests.reliability.corpus.build_corpus`.

Each file is a small good source with one defect; the expected outcome of
every file is declared in ``tests/reliability/cases.py`` and documented in
docs/guarantees.md. The files are committed so that a reader can open them.
"""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from lake_assets import nycflights
from rt_assets import sources

HERE = Path(__file__).parent
COVID_STATES = ["NY", "VT"]
COVID_FIRST, COVID_LAST = "2020-03-01", "2020-04-30"
COVID_COLUMNS = ["date", "state", "positive", "totalTestResults", "deathIncrease"]


def covid_base() -> pd.DataFrame:
    raw = sources.csv_text_bytes(Path(sources.bundled_archive_path()).read_bytes())
    table = pd.read_csv(io.BytesIO(raw), dtype=str, keep_default_na=False)
    keep = table["state"].isin(COVID_STATES) & table["date"].between(COVID_FIRST, COVID_LAST)
    # Newest first, as the real archive is.
    return table.loc[keep, COVID_COLUMNS].reset_index(drop=True)


def _csv(frame: pd.DataFrame) -> bytes:
    return frame.to_csv(index=False, lineterminator="\n").encode()


def _row(frame: pd.DataFrame, date: str, state: str) -> int:
    hits = frame.index[(frame["date"] == date) & (frame["state"] == state)]
    return int(hits[0])


def covid_cases(base: pd.DataFrame) -> dict[str, bytes]:
    cases: dict[str, bytes] = {"covid_good.csv": _csv(base)}
    cases["covid_missing_columns.csv"] = _csv(base.drop(columns=["totalTestResults"]))
    bad = base.copy()
    bad.loc[_row(bad, "2020-04-20", "VT"), "positive"] = "81O"  # letter O for zero
    cases["covid_non_numeric.csv"] = _csv(bad)
    bad = base.copy()
    bad.loc[_row(bad, "2020-04-29", "VT"), "positive"] = "100"  # was 862; the day after recovers
    cases["covid_cumulative_drop.csv"] = _csv(bad)
    cases["covid_duplicate_rows.csv"] = _csv(
        pd.concat([base, base.loc[[_row(base, "2020-04-15", "NY")]]], ignore_index=True)
    )
    bad = base.copy()
    bad.loc[bad["state"] == "VT", "state"] = "XV"  # a code nobody publishes
    cases["covid_unknown_state.csv"] = _csv(pd.concat([bad, base[base["state"] == "VT"]]))
    cases["covid_empty.csv"] = b""
    good = _csv(base)
    cases["covid_truncated.csv"] = good[: good.rstrip(b"\n").rfind(b"\n") + 12]
    cases["covid_non_utf8.csv"] = good.replace(b"2020-04-10,VT,", b"2020-04-10,V\xd4,", 1)
    bad = base.copy()
    future = base[base["date"] == COVID_LAST].assign(date="2020-05-09")
    cases["covid_future_dates.csv"] = _csv(pd.concat([future, bad], ignore_index=True))
    bad = base.copy()
    bad.loc[bad["state"] == "VT", "totalTestResults"] = "0"
    cases["covid_zero_tests.csv"] = _csv(bad)
    bad = base.copy()
    bad.loc[bad["state"] == "VT", "positive"] = "0"
    cases["covid_no_positives.csv"] = _csv(bad)
    return cases


def flights_base(rows: int = 400) -> pd.DataFrame:
    frame = nycflights.to_canonical(nycflights.read_nycflights())
    return frame.iloc[:rows].reset_index(drop=True)


def _flights_csv(frame: pd.DataFrame) -> bytes:
    return nycflights.canonical_csv_bytes(frame)


def flight_cases(base: pd.DataFrame) -> dict[str, bytes]:
    good = _flights_csv(base)
    header, _, body = good.partition(b"\n")
    cases: dict[str, bytes] = {"flights_good_2013.csv": good}
    for column in ("DEP_DELAY", "FL_DATE"):
        cut = header.replace(column.encode() + b",", b"", 1) + b"\n"
        frame = base.drop(columns=[column])
        rows = frame.drop(columns=[nycflights.TRAILING_COLUMN]).to_csv(
            index=False, header=False, lineterminator=",\n", float_format="%.10g"
        )
        cases[f"flights_missing_{column.lower()}_2013.csv"] = cut + rows.encode()
    bad = base.copy()
    bad["FL_DATE"] = bad["FL_DATE"].astype(object)
    bad.loc[[5, 17], "FL_DATE"] = ["2013-13-01", "01/02/2013"]
    cases["flights_unparseable_dates_2013.csv"] = _flights_csv(bad)
    bad = base.copy()
    bad.loc[[3, 9], "DEP_DELAY"] = [99999.0, -5000.0]
    cases["flights_absurd_delays_2013.csv"] = _flights_csv(bad)
    cases["flights_empty_2013.csv"] = b""
    lines = good.splitlines(keepends=True)
    cases["flights_repeated_header_2013.csv"] = b"".join(lines[:200] + [lines[0]] + lines[200:])
    bad = base.copy()
    bad["FL_DATE"] = bad["FL_DATE"].astype(str).str.replace("2013-", "2012-", regex=False)
    cases["flights_wrong_year_2013.csv"] = _flights_csv(bad)
    return cases


def main() -> None:
    for name, data in {**covid_cases(covid_base()), **flight_cases(flights_base())}.items():
        (HERE / name).write_bytes(data)
        print(f"{name}: {len(data)} bytes")


if __name__ == "__main__":
    main()
