"""Seeded synthetic on-time years at real scale, with a list of injected anomalies.

    uv run python -m lake_assets.synthetic --year 2015 --rows 7000000 --out PATH

writes PATH (canonical CSV, gzip if PATH ends in ``.gz``) and, beside it,
``PATH.anomalies.csv`` (origin, fl_date, magnitude_min: the true injected
anomalies). The daily mean delay of each airport is built from a base level,
weekly and yearly seasonality, holidays (national, fewer flights and longer
delays), weather-like bad days (regional, one or two days, more
cancellations) and day-to-day noise; individual flights scatter around it
with a heavy right tail. Injected anomalies are local incidents: one or two
days when every departure of one airport is late by an extra 15-45 minutes.
A few rows are duplicated or carry impossible values, as real files do.

    uv run python -m lake_assets.synthetic --decade 2009 --years 10 --rows 7000000 --out DIR

writes ten years as BTS publishes them, one file per month, ``DIR/<year>-<MM>.csv``
(header in every file), and each year's injected anomalies in
``DIR/truth/<year>.anomalies.csv``. Every year of a decade has the same airports
(drawn from the seed) and its own random stream, seeded from (seed, year): one year
can be regenerated alone, byte for byte. A month is written as soon as it is drawn,
so memory holds one month at a time.
Pure module (numpy + pyarrow), no Dagster.
"""

from __future__ import annotations

import argparse
import datetime as dt
import gzip
import itertools
import string
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from lake_assets.schema import CANONICAL_COLUMNS

CARRIERS = ("AA", "AS", "B6", "DL", "EV", "F9", "G4", "HA", "MQ", "NK", "OO", "UA", "WN", "YX")
BIG_HUBS = ("ATL", "ORD", "DFW", "DEN", "LAX", "CLT", "LAS", "PHX", "MCO", "SEA", "SFO", "IAH")
N_REGIONS = 10


@dataclass(frozen=True)
class SyntheticYear:
    path: Path
    anomalies_path: Path
    rows: int
    origins: int
    anomalies: int


@dataclass(frozen=True)
class SyntheticMonths:
    """One year written as twelve monthly files."""

    year: int
    files: tuple[Path, ...]
    rows_per_month: tuple[int, ...]
    anomalies_path: Path
    origins: int
    anomalies: int

    @property
    def rows(self) -> int:
        return sum(self.rows_per_month)


def airport_codes(n: int, rng: np.random.Generator) -> list[str]:
    letters = string.ascii_uppercase
    pool = ["".join(t) for t in itertools.product(letters, repeat=3) if "".join(t) not in BIG_HUBS]
    rest = rng.choice(pool, size=n - len(BIG_HUBS), replace=False)
    return [*BIG_HUBS, *sorted(rest)][:n]


def us_holidays(year: int) -> list[dt.date]:
    def nth_weekday(month: int, weekday: int, nth: int) -> dt.date:
        first = dt.date(year, month, 1)
        offset = (weekday - first.weekday()) % 7
        return first + dt.timedelta(days=offset + 7 * (nth - 1))

    def last_weekday(month: int, weekday: int) -> dt.date:
        day = dt.date(year, month + 1, 1) - dt.timedelta(days=1)
        return day - dt.timedelta(days=(day.weekday() - weekday) % 7)

    thanksgiving = nth_weekday(11, 3, 4)
    return [
        dt.date(year, 1, 1),
        last_weekday(5, 0),
        dt.date(year, 7, 4),
        nth_weekday(9, 0, 1),
        thanksgiving - dt.timedelta(days=1),
        thanksgiving + dt.timedelta(days=3),
        dt.date(year, 12, 23),
        dt.date(year, 12, 26),
    ]


def _daily_plan(year: int, n_origins: int, rows: int, rng: np.random.Generator):
    days = pd.date_range(f"{year}-01-01", f"{year}-12-31", freq="D")
    n_days = len(days)
    doy = days.dayofyear.to_numpy()
    dow = days.dayofweek.to_numpy()

    share = 1.0 / (np.arange(n_origins) + 4.0) ** 1.15
    share /= share.sum()
    # Seasonal airports fly part of the year only; a few barely fly (too little data).
    active = np.ones((n_origins, n_days), dtype=bool)
    seasonal = rng.choice(np.arange(60, n_origins), size=12, replace=False)
    for i, o in enumerate(seasonal):
        if i < 4:  # a few weeks only: "too little data"
            start = rng.integers(0, n_days - 40)
            span = rng.integers(15, 40)
        else:
            start = rng.integers(90, 180)
            span = rng.integers(90, 150)
        active[o] = False
        active[o, start : start + span] = True

    weekly = np.array([1.5, -1.5, -1.0, 1.0, 3.5, -2.5, 0.5])[dow]
    yearly = 4.0 * np.cos(2 * np.pi * (doy - 195) / 365.25) + 3.0 * np.exp(
        -(((doy - 358) / 9.0) ** 2)
    )
    volume_week = np.array([1.02, 1.0, 0.98, 1.02, 1.05, 0.85, 0.95])[dow]
    holiday = np.isin(days.date, us_holidays(year))
    volume_day = volume_week * np.where(holiday, 0.8, 1.0)

    base = rng.normal(9.0, 3.0, n_origins)
    region = rng.integers(0, N_REGIONS, n_origins)
    mean = base[:, None] + weekly[None, :] + yearly[None, :] + 7.0 * holiday[None, :]
    badness = np.zeros((n_origins, n_days))
    for r in range(N_REGIONS):
        for start in rng.choice(n_days - 1, size=7, replace=False):
            length = 1 + int(rng.random() < 0.4)
            hit = rng.uniform(8.0, 25.0)
            badness[region == r, start : start + length] += hit
    mean += badness
    day_noise = rng.standard_t(5, size=(n_origins, n_days)) * 2.5
    mean += day_noise

    expected = share[:, None] * volume_day[None, :] * active
    expected *= rows / expected.sum()
    counts = rng.poisson(expected)

    anomalies = []
    eligible = [o for o in range(n_origins) if active[o].sum() >= 60 and expected[o].mean() >= 3]
    for o in eligible:
        live = np.flatnonzero(active[o])
        for start in rng.choice(live[:-1], size=int(rng.integers(1, 4)), replace=False):
            length = 1 + int(rng.random() < 0.25)
            magnitude = rng.uniform(15.0, 45.0)
            for d in range(start, min(start + length, n_days)):
                if active[o, d]:
                    mean[o, d] += magnitude
                    anomalies.append((o, d, magnitude))
    cancel_p = np.clip(0.012 + 0.004 * np.maximum(badness, 0), 0, 0.3)
    return days, counts, mean, cancel_p, anomalies


def _hhmm_add(hhmm: np.ndarray, minutes: np.ndarray) -> np.ndarray:
    total = (hhmm // 100) * 60 + hhmm % 100 + minutes
    total = np.mod(total, 1440)
    out = (total // 60) * 100 + total % 60
    return np.where(out == 0, 2400, out)


def _chunk_table(
    days, origin_codes, counts_chunk, mean_chunk, cancel_chunk, day_offset, rng
) -> pa.Table:
    n_o, n_d = counts_chunk.shape
    flat = counts_chunk.ravel()
    total = int(flat.sum())
    group = np.repeat(np.arange(flat.size), flat)
    o_idx = group // n_d
    d_idx = group % n_d + day_offset
    mu = np.repeat(mean_chunk.ravel(), flat)
    # Most flights leave about on time; a right-skewed share runs late.
    late = rng.random(total) < 0.32
    delay = np.where(
        late,
        rng.exponential(np.maximum(mu, 1.0) * 2.2),
        rng.normal(-4.0, 4.0, total) + 0.2 * mu,
    )
    delay = np.round(delay).clip(-60, 1800)
    cancelled = rng.random(total) < np.repeat(cancel_chunk.ravel(), flat)
    diverted = ~cancelled & (rng.random(total) < 0.002)
    crs_dep = rng.integers(5, 23, total) * 100 + rng.integers(0, 12, total) * 5
    duration = rng.integers(45, 330, total)
    taxi_out = rng.integers(8, 30, total).astype(float)
    taxi_in = rng.integers(3, 15, total).astype(float)
    air = (duration - 25).astype(float)
    arr_delay = delay + rng.normal(-5, 8, total).round()
    crs_arr = _hhmm_add(crs_dep, duration)
    dep_time = _hhmm_add(crs_dep, delay.astype(int)).astype(float)
    wheels_off = _hhmm_add(dep_time.astype(int), taxi_out.astype(int)).astype(float)
    arr_time = _hhmm_add(crs_arr, arr_delay.astype(int)).astype(float)
    wheels_on = _hhmm_add(arr_time.astype(int), -taxi_in.astype(int)).astype(float)

    def na(values: np.ndarray, mask: np.ndarray) -> np.ndarray:
        out = values.astype(float)
        out[mask] = np.nan
        return out

    gone = cancelled
    no_arr = cancelled | diverted
    cause = np.where(arr_delay >= 15, arr_delay, np.nan)
    dest_idx = rng.integers(0, len(origin_codes), total)
    date_str = np.asarray(days.strftime("%Y-%m-%d"))[d_idx]
    codes = np.asarray(origin_codes)
    cols = {
        "FL_DATE": date_str,
        "OP_CARRIER": np.asarray(CARRIERS)[rng.integers(0, len(CARRIERS), total)],
        "OP_CARRIER_FL_NUM": rng.integers(1, 7000, total),
        "ORIGIN": codes[o_idx],
        "DEST": codes[dest_idx],
        "CRS_DEP_TIME": crs_dep,
        "DEP_TIME": na(dep_time, gone),
        "DEP_DELAY": na(delay, gone),
        "TAXI_OUT": na(taxi_out, gone),
        "WHEELS_OFF": na(wheels_off, gone),
        "WHEELS_ON": na(wheels_on, no_arr),
        "TAXI_IN": na(taxi_in, no_arr),
        "CRS_ARR_TIME": crs_arr,
        "ARR_TIME": na(arr_time, no_arr),
        "ARR_DELAY": na(arr_delay, no_arr),
        "CANCELLED": cancelled.astype(float),
        "CANCELLATION_CODE": np.where(
            cancelled, np.asarray(["A", "B", "C", "D"])[rng.integers(0, 4, total)], None
        ),
        "DIVERTED": diverted.astype(float),
        "CRS_ELAPSED_TIME": duration.astype(float),
        "ACTUAL_ELAPSED_TIME": na(duration + arr_delay - delay, no_arr),
        "AIR_TIME": na(air, no_arr),
        "DISTANCE": (duration * 7.5).round(),
        "CARRIER_DELAY": na(np.round(cause * 0.4), no_arr),
        "WEATHER_DELAY": na(np.where(np.isnan(cause), np.nan, 0.0), no_arr),
        "NAS_DELAY": na(np.round(cause * 0.3), no_arr),
        "SECURITY_DELAY": na(np.where(np.isnan(cause), np.nan, 0.0), no_arr),
        "LATE_AIRCRAFT_DELAY": na(cause - np.round(cause * 0.4) - np.round(cause * 0.3), no_arr),
    }
    # Real files carry a few repeated rows and impossible values.
    # from_pandas: NaN becomes null, written as an empty field like the real files.
    table = pa.table({name: pa.array(cols[name], from_pandas=True) for name in CANONICAL_COLUMNS})
    table = table.append_column("", pa.nulls(total, pa.string()))
    if total:
        dup = rng.choice(total, size=max(1, total // 5000), replace=False)
        broken = rng.choice(total, size=max(1, total // 20000), replace=False)
        bad = table.take(pa.array(broken)).to_pandas()
        bad["DISTANCE"] = -bad["DISTANCE"]
        table = pa.concat_tables(
            [table, table.take(pa.array(dup)), pa.Table.from_pandas(bad, schema=table.schema)]
        )
    return table


def _months(year: int, rows: int, codes: list[str], rng: np.random.Generator):
    """(days, anomalies, iterator of (month, table)): months drawn lazily, in order."""
    days, counts, mean, cancel_p, anomalies = _daily_plan(year, len(codes), rows, rng)

    def tables():
        for month in range(1, 13):
            idx = np.flatnonzero(days.month == month)
            yield (
                month,
                _chunk_table(
                    days,
                    codes,
                    counts[:, idx],
                    mean[:, idx],
                    cancel_p[:, idx],
                    int(idx[0]),
                    rng,
                ),
            )

    return days, anomalies, tables()


HEADER = (",".join(CANONICAL_COLUMNS) + ",\n").encode()


def _csv_rows(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    options = pacsv.WriteOptions(include_header=False, quoting_style="none")
    pacsv.write_csv(table, sink, write_options=options)
    return sink.getvalue().to_pybytes()


def _write_truth(codes: list[str], days, anomalies, path: Path) -> int:
    truth = pd.DataFrame(
        {
            "origin": [codes[o] for o, _, _ in anomalies],
            "fl_date": [days[d].strftime("%Y-%m-%d") for _, d, _ in anomalies],
            "magnitude_min": [round(m, 1) for _, _, m in anomalies],
        }
    ).sort_values(["origin", "fl_date"])
    tmp = path.with_name(path.name + ".partial")
    truth.to_csv(tmp, index=False)
    tmp.replace(path)
    return len(truth)


def generate(year: int, rows: int, out: Path, n_origins: int = 350, seed: int = 0):
    """Write one synthetic year to ``out`` and its anomalies beside it."""
    rng = np.random.default_rng(seed)
    codes = airport_codes(n_origins, rng)
    days, anomalies, tables = _months(year, rows, codes, rng)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(out.name + ".partial")
    written = 0
    opener = gzip.open if out.suffix == ".gz" else open
    with opener(tmp, "wb") as raw:
        raw.write(HEADER)
        for _, chunk in tables:
            raw.write(_csv_rows(chunk))
            written += chunk.num_rows
    tmp.replace(out)
    anomalies_path = out.with_name(out.name + ".anomalies.csv")
    count = _write_truth(codes, days, anomalies, anomalies_path)
    return SyntheticYear(out, anomalies_path, written, n_origins, count)


def month_file_name(year: int, month: int) -> str:
    """The monthly file's name, as BTS publishes months: ``2014-03.csv``."""
    return f"{year}-{month:02d}.csv"


def truth_path(folder: Path, year: int) -> Path:
    # In a folder of its own: its name carries a year, and the landing sensor
    # would take it for flights if it lay beside the monthly files.
    return Path(folder) / "truth" / f"{year}.anomalies.csv"


def generate_months(
    year: int, rows: int, folder: Path, n_origins: int = 350, seed: int = 0
) -> SyntheticMonths:
    """Write one synthetic year as ``folder/<year>-<MM>.csv`` and its truth.

    The airports come from ``seed`` alone (the same every year); the year's
    delays and flights from (``seed``, ``year``). Each file is written atomically,
    the truth last: a year whose truth file exists is complete.
    """
    codes = airport_codes(n_origins, np.random.default_rng(seed))
    rng = np.random.default_rng([seed, year])
    days, anomalies, tables = _months(year, rows, codes, rng)
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    files, counts = [], []
    for month, chunk in tables:
        path = folder / month_file_name(year, month)
        tmp = path.with_name(path.name + ".partial")
        with open(tmp, "wb") as raw:
            raw.write(HEADER)
            raw.write(_csv_rows(chunk))
        tmp.replace(path)
        files.append(path)
        counts.append(chunk.num_rows)
        del chunk
    truth = truth_path(folder, year)
    truth.parent.mkdir(exist_ok=True)
    count = _write_truth(codes, days, anomalies, truth)
    return SyntheticMonths(year, tuple(files), tuple(counts), truth, n_origins, count)


def daily_plan(year: int, rows: int, n_origins: int = 350, seed: int = 0) -> pd.DataFrame:
    """The airport-days that ``generate_months`` draws flights from, without the flights.

    One row per airport and day with at least one flight: ``flights`` (scheduled),
    ``mean_delay_min`` (the day's planned mean, anomalies included) and
    ``cancel_p``. Cheap (no rows drawn): a decade's gold-sized tables in seconds.
    """
    codes = airport_codes(n_origins, np.random.default_rng(seed))
    rng = np.random.default_rng([seed, year])
    days, counts, mean, cancel_p, _ = _daily_plan(year, n_origins, rows, rng)
    o_idx, d_idx = np.nonzero(counts)
    return pd.DataFrame(
        {
            "origin": np.asarray(codes)[o_idx],
            "fl_date": days.date[d_idx],
            "flights": counts[o_idx, d_idx].astype("int64"),
            "mean_delay_min": mean[o_idx, d_idx],
            "cancel_p": cancel_p[o_idx, d_idx],
        }
    )


def generate_decade(
    first_year: int,
    years: int,
    rows_per_year: int,
    folder: Path,
    n_origins: int = 350,
    seed: int = 0,
    skip_complete: bool = False,
) -> list[SyntheticMonths | None]:
    """``generate_months`` for ``years`` years from ``first_year``, one after the other.

    With ``skip_complete``, a year whose truth file exists is left as it is (None
    in the result): a cache that an interrupted run can resume.
    """
    done: list[SyntheticMonths | None] = []
    for year in range(first_year, first_year + years):
        if skip_complete and truth_path(folder, year).exists():
            done.append(None)
            continue
        done.append(generate_months(year, rows_per_year, folder, n_origins, seed))
    return done


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--year", type=int, default=2015, help="one year in one file")
    parser.add_argument(
        "--decade",
        type=int,
        default=None,
        metavar="FIRST_YEAR",
        help="monthly files of --years years from FIRST_YEAR into the folder --out",
    )
    parser.add_argument("--years", type=int, default=10)
    parser.add_argument("--rows", type=int, default=7_000_000, help="rows per year")
    parser.add_argument("--origins", type=int, default=350)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args(argv)
    start = time.perf_counter()
    if args.decade is not None:
        for year in range(args.decade, args.decade + args.years):
            lap = time.perf_counter()
            months = generate_months(year, args.rows, args.out, args.origins, args.seed)
            print(
                f"{year}: {months.rows:,} rows in 12 monthly files, {months.anomalies} "
                f"injected anomalies in {months.anomalies_path} "
                f"({time.perf_counter() - lap:.1f} s)",
                flush=True,
            )
        print(f"wrote {args.years} years to {args.out} in {time.perf_counter() - start:.1f} s")
        return 0
    result = generate(args.year, args.rows, args.out, args.origins, args.seed)
    print(
        f"wrote {result.rows:,} rows ({result.origins} origins) to {result.path} and "
        f"{result.anomalies} injected anomalies to {result.anomalies_path} "
        f"in {time.perf_counter() - start:.1f} s"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
