"""Readers for the COVID Tracking Project daily state history (pure, no Dagster).

Two formats are accepted, told apart by the ``date`` column:
- the final archive (``all-states-history.csv``): ``date`` as ``YYYY-MM-DD``;
- the retired v1 API (``states/daily.csv``): ``date`` as an integer ``YYYYMMDD``.
Both carry ``state``, ``positive`` and ``totalTestResults`` (cumulative); old v1
files may only have ``total`` (positive + negative), used as the fallback.

Every reader works on bytes, so the stored snapshot and the parsed table never
disagree; fetching (``fetch_source``) is the one function that does I/O.
"""

from __future__ import annotations

import csv
import gzip
import io
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from resources import settings
from resources.lake_store import is_gzip

# 50 states plus DC: the regions rt.live published.
STATES: tuple[str, ...] = (
    "AK", "AL", "AR", "AZ", "CA", "CO", "CT", "DC", "DE", "FL", "GA", "HI", "IA", "ID", "IL",
    "IN", "KS", "KY", "LA", "MA", "MD", "ME", "MI", "MN", "MO", "MS", "MT", "NC", "ND", "NE",
    "NH", "NJ", "NM", "NV", "NY", "OH", "OK", "OR", "PA", "RI", "SC", "SD", "TN", "TX", "UT",
    "VA", "VT", "WA", "WI", "WV", "WY",
)  # fmt: skip

# The final archive's last day of data; its file name carries it, and it is the default
# end of the run dates (COVID_SOURCE_LAST_DATE, rt_assets/partitions.py).
BUNDLED_LAST_DATE = "2021-03-07"
BUNDLED_ARCHIVE = f"covidtracking_all_states_history_{BUNDLED_LAST_DATE}.csv.gz"
SOURCE_ENV = settings.COVID_SOURCE.name

ARCHIVE = "archive"
V1 = "v1"

# Columns of the normalised source table every later step reads.
NORMALISED_COLUMNS = ["region", "date", "positive_cumulative", "tests_cumulative", "new_deaths"]


class SourceError(ValueError):
    """The source cannot be read or does not fit the request; the message says why."""


@dataclass(frozen=True)
class Coverage:
    first: pd.Timestamp
    last: pd.Timestamp

    def describe(self) -> str:
        return f"{self.first:%Y-%m-%d} to {self.last:%Y-%m-%d}"


def bundled_archive_path() -> str:
    return str(resources.files("rt_assets") / "data" / BUNDLED_ARCHIVE)


def source_location() -> str:
    """``COVID_SOURCE`` (a path or URL), or the bundled archive; read when called."""
    return settings.covid_source() or bundled_archive_path()


def fetch_source(location: str, timeout_s: float = 60.0) -> bytes:
    """The bytes at ``location`` exactly as served: a local path, http(s) URL or fsspec URL."""
    if location.startswith(("http://", "https://")):
        import requests

        response = requests.get(location, timeout=timeout_s)
        if response.status_code != 200:
            raise SourceError(f"COVID source {location} answered HTTP {response.status_code}")
        return response.content
    from upath import UPath

    path = UPath(location)
    try:
        return path.read_bytes()
    except FileNotFoundError as exc:
        raise SourceError(f"COVID source {location} does not exist (set {SOURCE_ENV})") from exc


def gzip_bytes(data: bytes) -> bytes:
    """Deterministic gzip (no timestamp, no name): same input, same bytes."""
    return data if is_gzip(data) else gzip.compress(data, compresslevel=9, mtime=0)


def csv_text_bytes(data: bytes) -> bytes:
    return gzip.decompress(data) if is_gzip(data) else data


def detect_format(frame: pd.DataFrame, name: str) -> str:
    if "date" not in frame.columns or "state" not in frame.columns:
        raise SourceError(
            f"{name}: not a COVID Tracking state history: needs columns 'date' and 'state', "
            f"found {list(frame.columns)[:12]}"
        )
    sample = frame["date"].dropna().astype(str).str.strip()
    if sample.str.fullmatch(r"\d{8}").all():
        return V1
    if sample.str.fullmatch(r"\d{4}-\d{2}-\d{2}").all():
        return ARCHIVE
    bad = sample[~sample.str.fullmatch(r"\d{8}|\d{4}-\d{2}-\d{2}")]
    raise SourceError(
        f"{name}: column 'date' must be YYYY-MM-DD (archive) or YYYYMMDD (v1 API); "
        f"rows {list(bad.index[:5] + 2)} hold {list(bad.head(5))}"
    )


def check_text(text: bytes, name: str) -> None:
    """Fail on an empty, non-UTF-8 or cut-off file, naming the line (and column) at fault.

    pandas would read a truncated last line as a row of blanks and a stray byte
    as an unreadable file; neither may pass as data.
    """
    if not text.strip():
        raise SourceError(f"{name}: the file is empty ({len(text)} bytes)")
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = text.rfind(b"\n", 0, exc.start) + 1
        line = text.count(b"\n", 0, exc.start) + 1
        header = next(csv.reader([text.split(b"\n", 1)[0].decode("utf-8", "replace")]), [])
        field = text.count(b",", line_start, exc.start)
        column = header[field] if field < len(header) else f"field {field + 1}"
        raise SourceError(
            f"{name}: not UTF-8 text: byte 0x{text[exc.start]:02x} at line {line}, "
            f"column {column!r}"
        ) from None
    rows = csv.reader(io.StringIO(decoded))
    header = next(rows)
    for line, row in enumerate(rows, start=2):
        if row and len(row) != len(header):
            raise SourceError(
                f"{name}: line {line} has {len(row)} fields, the header has {len(header)} "
                "(truncated or malformed file)"
            )


def _numbers(values: pd.Series, column: str, name: str) -> pd.Series:
    """``values`` as floats; blanks become NaN, anything else that is not a number fails."""
    numbers = pd.to_numeric(values, errors="coerce")
    bad = numbers.isna() & values.notna() & (values.astype(str).str.strip() != "")
    if bad.any():
        lines = list(values.index[bad][:5] + 2)
        raise SourceError(
            f"{name}: column {column!r} holds values that are not numbers at CSV lines "
            f"{lines}: {list(values[bad].astype(str).head(5))}"
        )
    return numbers


def read_source(data: bytes, name: str = "COVID source") -> pd.DataFrame:
    """Parse a snapshot (plain or gzip CSV) into the normalised table.

    Columns: ``region``, ``date`` (datetime64), ``positive_cumulative`` and
    ``tests_cumulative`` (float, NaN where blank), ``new_deaths`` (float); sorted
    by region and date. Rows of every jurisdiction are kept; choosing regions is
    the corrections' job.
    """
    text = csv_text_bytes(data)
    check_text(text, name)
    try:
        frame = pd.read_csv(io.BytesIO(text), dtype={"date": str, "state": str})
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise SourceError(f"{name}: not a readable CSV: {exc}") from exc
    fmt = detect_format(frame, name)
    dates = pd.to_datetime(frame["date"], format="%Y%m%d" if fmt == V1 else "%Y-%m-%d")
    if "positive" not in frame.columns:
        raise SourceError(f"{name}: column 'positive' is missing")
    if "totalTestResults" in frame.columns:
        tests = frame["totalTestResults"]
    elif "total" in frame.columns:
        tests = frame["total"]
    else:
        raise SourceError(f"{name}: needs column 'totalTestResults' (or v1 'total') for tests")
    if "deathIncrease" in frame.columns:
        deaths = pd.to_numeric(frame["deathIncrease"], errors="coerce")
    elif "death" in frame.columns:
        # Only cumulative deaths: daily changes in date order (files list newest first).
        order = pd.DataFrame({"s": frame["state"], "d": dates, "v": frame["death"]})
        order["v"] = pd.to_numeric(order["v"], errors="coerce")
        order = order.sort_values(["s", "d"])
        deaths = order.groupby("s")["v"].diff().reindex(frame.index)
    else:
        deaths = pd.Series(float("nan"), index=frame.index)
    out = pd.DataFrame(
        {
            "region": frame["state"].astype(str).str.strip().str.upper(),
            "date": dates,
            "positive_cumulative": _numbers(frame["positive"], "positive", name),
            "tests_cumulative": _numbers(tests, str(tests.name), name),
            "new_deaths": deaths.astype(float),
        }
    )
    duplicated = out.duplicated(["region", "date"], keep=False)
    if duplicated.any():
        rows = list(out.index[duplicated][:5] + 2)
        raise SourceError(f"{name}: duplicate (state, date) rows at CSV lines {rows}")
    out = out.sort_values(["region", "date"], kind="stable").reset_index(drop=True)
    out.attrs["format"] = fmt
    return out


def coverage(table: pd.DataFrame) -> Coverage:
    return Coverage(table["date"].min(), table["date"].max())


def check_run_date(table: pd.DataFrame, run_date: str, name: str = "COVID source") -> Coverage:
    """Fail unless the source holds the data the run for ``run_date`` uses (up to run_date - 1)."""
    if table.empty:
        raise SourceError(f"{name}: holds no rows")
    cov = coverage(table)
    day = pd.Timestamp(run_date)
    last_needed = day - pd.Timedelta(days=1)
    if last_needed > cov.last or last_needed < cov.first:
        raise SourceError(
            f"run date {run_date} is outside the coverage of {name}: it needs data up to "
            f"{last_needed:%Y-%m-%d}, and the source covers {cov.describe()} (run dates "
            f"{cov.first + pd.Timedelta(days=1):%Y-%m-%d} to "
            f"{cov.last + pd.Timedelta(days=1):%Y-%m-%d})"
        )
    return cov


def as_of(table: pd.DataFrame, run_date: str) -> pd.DataFrame:
    """Rows published before ``run_date``: what rt.live could see when it ran that day."""
    return table[table["date"] < pd.Timestamp(run_date)].reset_index(drop=True)


def state_slice(data: bytes, state: str, name: str = "COVID source") -> bytes:
    """The header and the rows of ``state`` from a snapshot (plain or gzip CSV), as
    deterministic gzip bytes: the columns and values exactly as the source wrote them, so
    ``read_source`` reads the slice as it reads the whole file. Fails when the snapshot
    has no row for ``state``."""
    text = csv_text_bytes(data)
    check_text(text, name)
    rows = csv.reader(io.StringIO(text.decode("utf-8")))
    header = next(rows)
    if "state" not in header:
        raise SourceError(f"{name}: not a COVID Tracking state history: no column 'state'")
    column = header.index("state")
    kept = [row for row in rows if row and row[column].strip().upper() == state]
    if not kept:
        raise SourceError(f"{name}: has no rows for state {state}")
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(kept)
    return gzip_bytes(out.getvalue().encode("utf-8"))
