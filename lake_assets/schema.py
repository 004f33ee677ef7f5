"""The canonical raw schema (the US on-time performance CSV per year) and the silver schema.

Pure module: no Dagster import. Both schemas are declared once here; the
reader, the cleaner, the generator and the adapter all use them.
"""

from __future__ import annotations

import pyarrow as pa

# Column order of the on-time performance CSV as distributed per year
# (2009-2018). Every row ends with a comma, so pandas sees a 28th, empty
# column named ``Unnamed: 27``.
CANONICAL_COLUMNS: tuple[str, ...] = (
    "FL_DATE",
    "OP_CARRIER",
    "OP_CARRIER_FL_NUM",
    "ORIGIN",
    "DEST",
    "CRS_DEP_TIME",
    "DEP_TIME",
    "DEP_DELAY",
    "TAXI_OUT",
    "WHEELS_OFF",
    "WHEELS_ON",
    "TAXI_IN",
    "CRS_ARR_TIME",
    "ARR_TIME",
    "ARR_DELAY",
    "CANCELLED",
    "CANCELLATION_CODE",
    "DIVERTED",
    "CRS_ELAPSED_TIME",
    "ACTUAL_ELAPSED_TIME",
    "AIR_TIME",
    "DISTANCE",
    "CARRIER_DELAY",
    "WEATHER_DELAY",
    "NAS_DELAY",
    "SECURITY_DELAY",
    "LATE_AIRCRAFT_DELAY",
)
TRAILING_COLUMN = "Unnamed: 27"
CSV_HEADER = ",".join(CANONICAL_COLUMNS) + ",\n"

STRING_COLUMNS = ("FL_DATE", "OP_CARRIER", "ORIGIN", "DEST", "CANCELLATION_CODE")
# Clock times as hhmm (0-2400). Some distributions write them as floats ("1517.0").
TIME_COLUMNS = ("CRS_DEP_TIME", "DEP_TIME", "WHEELS_OFF", "WHEELS_ON", "CRS_ARR_TIME", "ARR_TIME")
FLAG_COLUMNS = ("CANCELLED", "DIVERTED")
INT_COLUMNS = ("OP_CARRIER_FL_NUM",)
MINUTE_COLUMNS = (
    "DEP_DELAY",
    "TAXI_OUT",
    "TAXI_IN",
    "ARR_DELAY",
    "CRS_ELAPSED_TIME",
    "ACTUAL_ELAPSED_TIME",
    "AIR_TIME",
    "CARRIER_DELAY",
    "WEATHER_DELAY",
    "NAS_DELAY",
    "SECURITY_DELAY",
    "LATE_AIRCRAFT_DELAY",
)
NUMERIC_COLUMNS = INT_COLUMNS + TIME_COLUMNS + FLAG_COLUMNS + MINUTE_COLUMNS + ("DISTANCE",)

# Types the raw CSV is parsed with. Every numeric column is read as float32:
# the files write integers as "1517.0" in some years, and float32 holds every
# value of this data set exactly (integers below 2**24).
RAW_READ_TYPES: dict[str, pa.DataType] = {
    # Dates too: a year has 365 distinct values, so they are parsed once each.
    **{c: pa.dictionary(pa.int32(), pa.string()) for c in STRING_COLUMNS},
    **{c: pa.float32() for c in NUMERIC_COLUMNS},
}
# The faster first try for files that write integers as integers (most do):
# dates, clock times, flags and flight numbers parsed straight to their silver
# types cost a quarter less to read than floats and dictionary dates, and
# need no conversion afterwards. A block with "1517.0" or "2013-02-30" fails
# this and is read again with RAW_READ_TYPES (then as text, see cleaning).
FAST_READ_TYPES: dict[str, pa.DataType] = {
    **RAW_READ_TYPES,
    "FL_DATE": pa.date32(),
    "OP_CARRIER_FL_NUM": pa.int32(),
    **{c: pa.int16() for c in TIME_COLUMNS},
    **{c: pa.int8() for c in FLAG_COLUMNS},
}
TEXT_READ_TYPES: dict[str, pa.DataType] = dict.fromkeys(CANONICAL_COLUMNS, pa.string())


def silver_name(canonical: str) -> str:
    return canonical.lower()


_dict_str = pa.dictionary(pa.int32(), pa.string())
SILVER_SCHEMA = pa.schema(
    [
        ("fl_date", pa.date32()),
        ("op_carrier", _dict_str),
        ("op_carrier_fl_num", pa.int32()),
        ("origin", _dict_str),
        ("dest", _dict_str),
        ("crs_dep_time", pa.int16()),
        ("dep_time", pa.int16()),
        ("dep_delay", pa.float32()),
        ("taxi_out", pa.float32()),
        ("wheels_off", pa.int16()),
        ("wheels_on", pa.int16()),
        ("taxi_in", pa.float32()),
        ("crs_arr_time", pa.int16()),
        ("arr_time", pa.int16()),
        ("arr_delay", pa.float32()),
        ("cancelled", pa.bool_()),
        ("cancellation_code", _dict_str),
        ("diverted", pa.bool_()),
        ("crs_elapsed_time", pa.float32()),
        ("actual_elapsed_time", pa.float32()),
        ("air_time", pa.float32()),
        ("distance", pa.float32()),
        ("carrier_delay", pa.float32()),
        ("weather_delay", pa.float32()),
        ("nas_delay", pa.float32()),
        ("security_delay", pa.float32()),
        ("late_aircraft_delay", pa.float32()),
    ]
)
assert SILVER_SCHEMA.names == [silver_name(c) for c in CANONICAL_COLUMNS]

# Columns that must never be null in silver (rows missing them are quarantined).
SILVER_REQUIRED = (
    "fl_date",
    "op_carrier",
    "origin",
    "dest",
    "crs_dep_time",
    "cancelled",
    "diverted",
)

# Quarantine: the silver columns (nullable, values that could be parsed), the
# reason, and the raw line for rows that could not be split into fields.
QUARANTINE_SCHEMA = pa.schema([*SILVER_SCHEMA, ("reason", pa.string()), ("raw_line", pa.string())])

GOLD_COLUMNS = (
    "fl_date",
    "origin",
    "mean_dep_delay",
    "median_dep_delay",
    "flights",
    "cancelled",
    "diverted",
)
