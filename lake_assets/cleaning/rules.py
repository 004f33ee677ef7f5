"""Row rules: raw rows typed to the silver schema, and the first rule each bad row broke.

Owns the value bounds and code patterns, ``_Reasons`` (every rule an Arrow
bitmap, the first broken one looked up only for bad rows) and ``type_batch``,
which is stateless so blocks can be typed on several threads at once. The raw
columns may come as read with the fast, the general or the text types: the
silver columns and the rules are the same for all three.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lake_assets.schema import (
    FLAG_COLUMNS,
    MINUTE_COLUMNS,
    SILVER_REQUIRED,
    SILVER_SCHEMA,
    STRING_COLUMNS,
    TIME_COLUMNS,
    silver_name,
)

# Bounds beyond which a value cannot be a real flight's (minutes).
DELAY_BOUNDS = (-1440.0, 2880.0)
DURATION_MAX = 1440.0
_AIRPORT_CODE = r"^[A-Z0-9]{3}$"
_CARRIER_CODE = r"^[A-Z0-9]{2}$"
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


class _Reasons:
    """The rules each row broke, and the first of them by rule order.

    Every rule's result is kept as an Arrow boolean array (a bitmap: a few
    hundred microseconds per rule on a block); their union says which rows are
    bad, and the first rule is looked up only for those rows, which are rare.
    """

    def __init__(self, n: int) -> None:
        self.n = n
        self.rules: list[tuple[str, pa.Array]] = []

    def add(self, bad: pa.Array | pa.ChunkedArray | np.ndarray, text: str) -> None:
        if isinstance(bad, np.ndarray):
            bad = pa.array(bad)
        self.rules.append((text, pc.fill_null(bad, False)))

    def bad(self) -> np.ndarray:
        """True for rows that broke at least one rule."""
        if not self.rules:
            return np.zeros(self.n, bool)
        union = self.rules[0][1]
        for _, bad in self.rules[1:]:
            union = pc.or_(union, bad)
        if isinstance(union, pa.ChunkedArray):
            union = union.combine_chunks()
        return union.to_numpy(zero_copy_only=False)

    def first(self, rows: np.ndarray) -> pa.Array:
        """The first rule broken by each of ``rows`` (indices of bad rows), as text."""
        code = np.full(len(rows), -1)
        texts = [text for text, _ in self.rules]
        for i, (_, bad) in enumerate(self.rules):
            hit = pc.take(bad, rows).to_numpy(zero_copy_only=False)
            code[hit & (code < 0)] = i
        return pa.array(np.asarray(texts, dtype=object)[code], pa.string())


def _combined(col: pa.ChunkedArray | pa.Array) -> pa.Array:
    return col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col


def _numeric(col: pa.ChunkedArray, name: str, reasons: _Reasons) -> pa.ChunkedArray:
    """The column as numbers: as read (float32 or an integer type), or parsed from text.

    Left in the parser's chunks: the kernels and the Parquet writer take
    chunked columns, and joining them would copy every number once more.
    """
    if not (pa.types.is_string(col.type) or pa.types.is_large_string(col.type)):
        return col
    ok = pc.match_substring_regex(col, _NUMBER)
    reasons.add(pc.invert(ok), f"unparseable {name}")
    clean = pc.if_else(pc.fill_null(ok, False), col, pa.scalar(None, pa.string()))
    return pc.cast(clean, pa.float32())


def _dictionary(col: pa.ChunkedArray) -> pa.Array:
    if not pa.types.is_dictionary(col.type):
        col = pc.dictionary_encode(col)
    col = col.unify_dictionaries() if isinstance(col, pa.ChunkedArray) else col
    arr = col.combine_chunks() if isinstance(col, pa.ChunkedArray) else col
    return arr.cast(pa.dictionary(pa.int32(), pa.string()))


def _dictionary_mismatch(arr: pa.DictionaryArray, pattern: str) -> pa.Array:
    """Rows whose code does not match ``pattern``; the check runs once per distinct code."""
    bad_values = pc.invert(pc.match_substring_regex(arr.dictionary, pattern))
    return pc.take(bad_values, arr.indices)


def _scalar(value: float, like: pa.Array) -> pa.Scalar:
    # A scalar of the column's own type: comparing int16 with a Python int
    # would otherwise widen the whole column first.
    return pa.scalar(value, like.type)


def _not_integral(values: pa.Array) -> pa.Array | None:
    """Rows with a fractional part (None for integer columns: they have none)."""
    if not pa.types.is_floating(values.type):
        return None
    return pc.not_equal(pc.floor(values), values)


def _minutes_part(hhmm: pa.Array) -> pa.Array:
    hundred = _scalar(100, hhmm)
    if pa.types.is_integer(hhmm.type):  # integer division truncates
        return pc.subtract(hhmm, pc.multiply(pc.divide(hhmm, hundred), hundred))
    return pc.subtract(hhmm, pc.multiply(pc.floor(pc.divide(hhmm, hundred)), hundred))


def _any(*masks: pa.Array | None) -> pa.Array:
    present = [m for m in masks if m is not None]
    out = present[0]
    for m in present[1:]:
        out = pc.or_(out, m)
    return out


def _dates(col: pa.ChunkedArray, reasons: _Reasons) -> pa.Array:
    """FL_DATE as date32: as read, or parsed from its text once per distinct value."""
    col = _combined(col)
    if pa.types.is_date32(col.type):
        return col
    dates = _dictionary(col)
    distinct = dates.dictionary
    parsed_distinct = pc.strptime(distinct, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2013-02-30 over to March: only a date that prints back
    # as written is a real one.
    real = pc.equal(pc.strftime(parsed_distinct, format="%Y-%m-%d"), distinct)
    parsed_distinct = pc.if_else(pc.fill_null(real, False), parsed_distinct, None)
    parsed = pc.take(parsed_distinct, dates.indices)
    reasons.add(pc.and_(pc.is_valid(dates), pc.is_null(parsed)), "unparseable FL_DATE")
    return pc.cast(parsed, pa.date32())


def _month_bounds(year: int, month: int) -> tuple[dt.date, dt.date]:
    first = dt.date(year, month, 1)
    following = dt.date(year + month // 12, month % 12 + 1, 1)
    return first, following - dt.timedelta(days=1)


def _typed_and_reasons(
    table: pa.Table, year: int, month: int | None = None
) -> tuple[pa.Table, _Reasons]:
    """The silver columns of raw rows, and the rules each row broke.

    ``month``: the rows come from that month's file, so a date of another month
    of the year is quarantined too (monthly files partition the year: a flight
    can then be in one file only, which is what makes per-file de-duplication
    whole-year de-duplication).

    The raw columns may come as read with FAST_READ_TYPES, RAW_READ_TYPES or
    as text: the silver columns and the rules are the same for all three.
    """
    reasons = _Reasons(table.num_rows)
    cols: dict[str, pa.Array] = {}

    fl_date = _dates(table["FL_DATE"], reasons)
    cols["fl_date"] = fl_date
    outside = pc.or_(
        pc.less(fl_date, pa.scalar(dt.date(year, 1, 1), pa.date32())),
        pc.greater(fl_date, pa.scalar(dt.date(year, 12, 31), pa.date32())),
    )
    reasons.add(outside, "FL_DATE outside year")
    if month is not None:
        first, last = _month_bounds(year, month)
        outside_month = pc.or_(
            pc.less(fl_date, pa.scalar(first, pa.date32())),
            pc.greater(fl_date, pa.scalar(last, pa.date32())),
        )
        reasons.add(outside_month, "FL_DATE outside the file's month")

    for name in STRING_COLUMNS:
        if name != "FL_DATE":
            cols[silver_name(name)] = _dictionary(table[name])
    for name in ("ORIGIN", "DEST"):
        reasons.add(_dictionary_mismatch(cols[silver_name(name)], _AIRPORT_CODE), f"bad {name}")
    reasons.add(_dictionary_mismatch(cols["op_carrier"], _CARRIER_CODE), "bad OP_CARRIER")

    numbers: dict[str, pa.Array] = {}
    for name in ("OP_CARRIER_FL_NUM", *TIME_COLUMNS, *FLAG_COLUMNS, *MINUTE_COLUMNS, "DISTANCE"):
        numbers[name] = _numeric(table[name], name, reasons)

    num = numbers["OP_CARRIER_FL_NUM"]
    reasons.add(
        _any(pc.less_equal(num, _scalar(0, num)), _not_integral(num)),
        "impossible OP_CARRIER_FL_NUM",
    )
    cols["op_carrier_fl_num"] = pc.cast(num, pa.int32(), safe=False)
    for name in TIME_COLUMNS:
        value = numbers[name]
        bad = _any(
            pc.less(value, _scalar(0, value)),
            pc.greater(value, _scalar(2400, value)),
            _not_integral(value),
            pc.greater_equal(_minutes_part(value), _scalar(60, value)),
        )
        reasons.add(bad, f"impossible {name}")
        cols[silver_name(name)] = pc.cast(value, pa.int16(), safe=False)
    for name in FLAG_COLUMNS:
        value = numbers[name]
        bad = pc.invert(pc.is_in(value, pa.array([0, 1], value.type)))
        reasons.add(pc.and_(pc.is_valid(value), bad), f"impossible {name}")
        cols[silver_name(name)] = pc.equal(value, _scalar(1, value))
    for name in MINUTE_COLUMNS:
        value = numbers[name]
        low, high = DELAY_BOUNDS if name in ("DEP_DELAY", "ARR_DELAY") else (0.0, DURATION_MAX)
        bad = pc.or_(pc.less(value, _scalar(low, value)), pc.greater(value, _scalar(high, value)))
        reasons.add(bad, f"impossible {name}")
        cols[silver_name(name)] = value
    distance = numbers["DISTANCE"]
    reasons.add(pc.less_equal(distance, _scalar(0, distance)), "impossible DISTANCE")
    cols["distance"] = distance
    for name in SILVER_REQUIRED:
        reasons.add(pc.is_null(cols[name]), f"missing {name.upper()}")
    return pa.table([cols[f.name] for f in SILVER_SCHEMA], schema=SILVER_SCHEMA), reasons


@dataclass
class TypedBatch:
    """One batch of raw rows typed to the silver schema, with the rules each row broke."""

    typed: pa.Table
    reasons: _Reasons
    bad: np.ndarray


def type_batch(table: pa.Table, year: int, month: int | None = None) -> TypedBatch:
    """The typing half of cleaning: stateless, so batches can be typed in parallel."""
    typed, reasons = _typed_and_reasons(table, year, month)
    return TypedBatch(typed, reasons, reasons.bad())
