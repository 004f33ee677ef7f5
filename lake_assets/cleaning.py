"""Raw canonical CSV -> typed silver table + quarantine, and silver -> daily gold aggregate.

Pure module (pyarrow + pandas, no Dagster). Reading uses pyarrow's CSV parser
with explicit column types: no type inference, no Python objects per value,
and categorical airport and carrier codes. A year is cut into blocks of whole
lines, parsed and typed on every core while one thread de-duplicates and
writes them in file order (``clean_to_parquet``), which is what makes a
7-million-row year take a few seconds and a few hundred MB.

Nothing is dropped silently: a row with an impossible value goes to the
quarantine table with the first rule it broke as its reason; a row that cannot
even be split into the 28 fields goes there with its raw text; exact repeats
of a flight are dropped and counted.
"""

from __future__ import annotations

import datetime as dt
import gzip
import io
import itertools
import math
import os
from collections import Counter, deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from lake_assets.schema import (
    CANONICAL_COLUMNS,
    FAST_READ_TYPES,
    FLAG_COLUMNS,
    MINUTE_COLUMNS,
    QUARANTINE_SCHEMA,
    RAW_READ_TYPES,
    SILVER_REQUIRED,
    SILVER_SCHEMA,
    STRING_COLUMNS,
    TEXT_READ_TYPES,
    TIME_COLUMNS,
    silver_name,
)
from resources.lake_store import is_gzip

# The identity of one scheduled flight: a second row with the same identity is
# a duplicate of the first (the BTS files carry each flight once).
FLIGHT_KEY = ("fl_date", "op_carrier", "op_carrier_fl_num", "origin", "dest", "crs_dep_time")

# Bounds beyond which a value cannot be a real flight's (minutes).
DELAY_BOUNDS = (-1440.0, 2880.0)
DURATION_MAX = 1440.0
_AIRPORT_CODE = r"^[A-Z0-9]{3}$"
_CARRIER_CODE = r"^[A-Z0-9]{2}$"
_NUMBER = r"^\s*[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?\s*$"


class RawFileError(ValueError):
    """The raw file cannot be read as the canonical on-time CSV at all."""


@dataclass
class CleanResult:
    silver: pa.Table
    quarantine: pa.Table
    counts: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


def _decompressed(data: bytes) -> bytes:
    return gzip.decompress(data) if is_gzip(data) else data


def _header_columns(data: bytes, source: str) -> list[str]:
    end = data.find(b"\n")
    header = data[: end if end >= 0 else len(data)].decode("utf-8", "replace").strip("\r\n")
    names = [name.strip().strip('"') for name in header.split(",")]
    missing = [c for c in CANONICAL_COLUMNS if c not in names]
    if missing:
        raise RawFileError(f"{source}: header lacks canonical columns {missing}; got {names[:30]}")
    if names[: len(CANONICAL_COLUMNS)] != list(CANONICAL_COLUMNS):
        raise RawFileError(f"{source}: columns out of the canonical order: {names}")
    extra = names[len(CANONICAL_COLUMNS) :]
    if extra not in ([], [""]):
        raise RawFileError(f"{source}: unexpected columns after the canonical ones: {extra}")
    return names


def read_raw(data: bytes, source: str = "raw file") -> tuple[pa.Table, list[str]]:
    """Parse the raw CSV (plain or gzip) into a table of canonical columns.

    Returns the table and the text of rows with the wrong number of fields.
    Values that do not parse as numbers become null and are reported by
    ``clean`` under the reason ``unparseable <COLUMN>``.
    """
    data = _decompressed(data)
    names = _header_columns(data, source)
    malformed: list[str] = []

    def parse(types: dict[str, pa.DataType]) -> pa.Table:
        options = _csv_options(names, types, malformed, block_size=1 << 24)
        return pacsv.read_csv(io.BytesIO(data), **options)

    try:
        return parse(RAW_READ_TYPES), malformed
    except pa.ArrowInvalid:
        # A value that is not a number: read everything as text, and let
        # ``clean`` quarantine the rows it cannot convert.
        malformed.clear()
        return parse(dict.fromkeys(CANONICAL_COLUMNS, pa.string())), malformed


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


def _typed_and_reasons(table: pa.Table, year: int) -> tuple[pa.Table, _Reasons]:
    """The silver columns of raw rows, and the rules each row broke.

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


def type_batch(table: pa.Table, year: int) -> TypedBatch:
    """The typing half of cleaning: stateless, so batches can be typed in parallel."""
    typed, reasons = _typed_and_reasons(table, year)
    return TypedBatch(typed, reasons, reasons.bad())


class SilverCleaner:
    """Cleans a year batch by batch, remembering what it has seen across batches.

    The counts, the quarantine reasons and the duplicate detection cover every
    batch given so far, so a 7-million-row year can be cleaned in pieces of a
    few hundred thousand rows with the same result as in one piece.
    """

    def __init__(self, year: int) -> None:
        self.year = year
        self.keys = FlightKeys(year)
        self.counts = dict.fromkeys(
            (
                "rows_read",
                "malformed_rows",
                "quarantined_rows",
                "duplicates_dropped",
                "silver_rows",
                "cancelled",
                "diverted",
            ),
            0,
        )
        self.reasons: Counter[str] = Counter()

    def clean_batch(
        self, table: pa.Table, malformed: list[str] | None = None
    ) -> tuple[pa.Table, pa.Table]:
        """Silver rows and quarantined rows of one batch of raw rows (batches in file order)."""
        return self.absorb(type_batch(table, self.year), malformed)

    def absorb(
        self, batch: TypedBatch, malformed: list[str] | None = None
    ) -> tuple[pa.Table, pa.Table]:
        """Silver and quarantined rows of a typed batch; batches must come in file order."""
        malformed = malformed or []
        typed, bad = batch.typed, batch.bad
        first = self.keys.first_among(typed, ~bad)
        keep = first & ~bad
        silver = typed if keep.all() else typed.filter(pa.array(keep))
        if bad.any():
            rows = np.flatnonzero(bad)
            quarantine = typed.take(rows)
            quarantine = quarantine.append_column("reason", batch.reasons.first(rows))
            quarantine = quarantine.append_column(
                "raw_line", pa.nulls(quarantine.num_rows, pa.string())
            )
        else:
            quarantine = QUARANTINE_SCHEMA.empty_table()
        if malformed:
            quarantine = pa.concat_tables([quarantine, _malformed_rows(malformed)])

        if quarantine.num_rows:
            self.reasons.update(quarantine["reason"].to_pylist())
        c = self.counts
        c["rows_read"] += typed.num_rows + len(malformed)
        c["malformed_rows"] += len(malformed)
        c["quarantined_rows"] += quarantine.num_rows
        c["duplicates_dropped"] += int((~first & ~bad).sum())
        c["silver_rows"] += silver.num_rows
        c["cancelled"] += int(pc.sum(silver["cancelled"]).as_py() or 0)
        c["diverted"] += int(pc.sum(silver["diverted"]).as_py() or 0)
        return silver, quarantine

    def quarantine_reasons(self) -> dict[str, int]:
        return dict(sorted(self.reasons.items()))


def clean(table: pa.Table, year: int, malformed: list[str] | None = None) -> CleanResult:
    """Type, check and de-duplicate the raw rows of one year (in one piece)."""
    cleaner = SilverCleaner(year)
    silver, quarantine = cleaner.clean_batch(table, malformed)
    return CleanResult(silver, quarantine, dict(cleaner.counts), cleaner.quarantine_reasons())


def _malformed_rows(lines: list[str]) -> pa.Table:
    n = len(lines)
    arrays = [pa.nulls(n, f.type) for f in SILVER_SCHEMA]
    expected = len(CANONICAL_COLUMNS) + 1
    reasons = [
        f"malformed row: {line.count(',') + 1} fields, expected {expected}" for line in lines
    ]
    return pa.table(
        [*arrays, pa.array(reasons, pa.string()), pa.array(lines, pa.string())],
        schema=QUARANTINE_SCHEMA,
    )


class FlightKeys:
    """Exact flight identities (``FLIGHT_KEY``) seen so far, across batches.

    Each identity is packed into one int64: day of the year (9 bits), clock
    time hhmm (12), flight number (14), carrier (6) and the two airports (11
    each) as small ids given in order of first appearance. Seen identities are
    kept as one sorted array (8 bytes per flight: ~56 MB for a 7-million-row
    year), merged with each batch's new ones. A row whose values do not fit
    the widths (flight numbers above 16,383, more than 64 carriers or 2,048
    airports: no real year has them) is identified by a 64-bit hash of its key
    instead, in a separate set.
    """

    _WIDTHS = (("day", 9), ("crs_dep_time", 12), ("num", 14), ("carrier", 6), ("o", 11), ("d", 11))

    def __init__(self, year: int) -> None:
        self.first_day = (np.datetime64(f"{year}-01-01") - np.datetime64("1970-01-01")).astype(int)
        self.carriers: dict[str, int] = {}
        self.airports: dict[str, int] = {}
        self.seen = np.empty(0, np.int64)
        self.seen_hashed = np.empty(0, np.int64)

    @staticmethod
    def _ids(col: pa.ChunkedArray, ids: dict[str, int]) -> np.ndarray:
        arr = _combined(col)
        names = arr.dictionary.to_pylist()
        lookup = np.array([ids.setdefault(v, len(ids)) for v in names], dtype=np.int64)
        indices = pc.fill_null(arr.indices, 0).to_numpy(zero_copy_only=False)
        return lookup[indices] if len(lookup) else np.zeros(len(arr), np.int64)

    def _packed(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        def ints(name: str) -> np.ndarray:
            col = _combined(table[name])
            if pa.types.is_date32(col.type):
                col = col.cast(pa.int32())
            # Nulls only occur in quarantined rows, which are not looked at.
            return pc.fill_null(col, 0).to_numpy(zero_copy_only=False).astype(np.int64)

        parts = {
            "day": ints("fl_date") - self.first_day,
            "crs_dep_time": ints("crs_dep_time"),
            "num": ints("op_carrier_fl_num"),
            "carrier": self._ids(table["op_carrier"], self.carriers),
            "o": self._ids(table["origin"], self.airports),
            "d": self._ids(table["dest"], self.airports),
        }
        packed = np.zeros(table.num_rows, np.int64)
        fits = np.ones(table.num_rows, bool)
        for name, width in self._WIDTHS:
            values = parts[name]
            fits &= (values >= 0) & (values < (1 << width))
            packed = (packed << width) | (values & ((1 << width) - 1))
        return packed, fits

    @staticmethod
    def _first(keys: np.ndarray, seen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        first = ~pd.Series(keys).duplicated(keep="first").to_numpy()
        new = np.sort(keys[first])
        if not len(new):
            return first, seen
        # Only seen keys from the batch's smallest one up can repeat it. The
        # day is the key's top bits, so in a file in date order that is the
        # tail of the last day: looked up and merged, the rest stays put.
        start = int(np.searchsorted(seen, new[0]))
        tail = seen[start:]
        if len(tail):
            # Binary searches in sorted order walk the array forwards and stay
            # in cache (ten times faster than in file order).
            pos = np.minimum(np.searchsorted(tail, new), len(tail) - 1)
            again = tail[pos] == new
            if again.any():
                first &= ~np.isin(keys, new[again])
                new = new[~again]
            # Two sorted runs: the stable sort (timsort) merges them in linear time.
            new = np.concatenate([tail, new])
            new.sort(kind="stable")
        return first, np.concatenate([seen[:start], new])

    def first_among(self, table: pa.Table, candidates: np.ndarray) -> np.ndarray:
        """True for candidate rows whose flight identity appears for the first time.

        Rows that are not candidates (quarantined ones) are neither looked up
        nor remembered.
        """
        first = np.zeros(table.num_rows, bool)
        if not candidates.any():
            return first
        packed, fits = self._packed(table)
        plain = candidates & fits
        first[plain], self.seen = self._first(packed[plain], self.seen)
        odd = candidates & ~fits
        if odd.any():
            rest = table.filter(pa.array(odd)).select(list(FLIGHT_KEY)).to_pandas()
            hashed = pd.util.hash_pandas_object(rest.astype(str), index=False).to_numpy()
            first[odd], self.seen_hashed = self._first(hashed.view(np.int64), self.seen_hashed)
        return first

    def first_seen(self, table: pa.Table) -> np.ndarray:
        """True for rows whose flight identity appears for the first time."""
        return self.first_among(table, np.ones(table.num_rows, bool))


def _csv_options(
    names: list[str],
    types: dict[str, pa.DataType],
    malformed: list[str],
    block_size: int,
    skip_header: bool = True,
    use_threads: bool = True,
    only_empty_is_null: bool = False,
):
    def on_invalid(row: pacsv.InvalidRow) -> str:
        malformed.append(row.text)
        return "skip"

    convert = pacsv.ConvertOptions(
        column_types=types,
        include_columns=list(CANONICAL_COLUMNS),
        strings_can_be_null=True,
        quoted_strings_can_be_null=True,
    )
    if only_empty_is_null:
        convert.null_values = [""]
    return dict(
        read_options=pacsv.ReadOptions(
            column_names=[n if n else "_trailing" for n in names],
            skip_rows=1 if skip_header else 0,
            block_size=block_size,
            use_threads=use_threads,
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=convert,
    )


# The spellings Arrow reads as null by default ("NA", "NULL", "nan", ...).
_DEFAULT_NULLS = frozenset(pacsv.ConvertOptions().null_values)


def _same_as_default_nulls(table: pa.Table) -> bool:
    """Whether a block read with only "" as null reads the same with Arrow's default nulls.

    Checking a dozen spellings on every field costs a sixth of the parse, and
    the files write missing values as empty fields. Another spelling either
    fails a number or date column (and the block is read again) or shows up
    here: as NaN in a float column ("nan") or as a code in a dictionary.
    """
    for name in table.column_names:
        col = table[name]
        if pa.types.is_floating(col.type):
            if pc.any(pc.is_nan(col)).as_py():
                return False
        elif pa.types.is_dictionary(col.type):
            for chunk in col.chunks:
                if not _DEFAULT_NULLS.isdisjoint(chunk.dictionary.to_pylist()):
                    return False
    return True


# Raw text handed to one parsing thread at a time. A few blocks are in flight
# at once (each ~3x its size once parsed and typed), so memory stays at a few
# hundred MB whatever the size of the year.
STREAM_BLOCK_BYTES = 32 << 20
# Arrow's own parsing unit inside a block: small enough to stay in cache.
_PARSE_CHUNK_BYTES = 4 << 20
# How a block is read: the fast types first, then floats and dictionary
# strings, then text (``clean`` quarantines what text cannot be converted).
READ_LADDER = (FAST_READ_TYPES, RAW_READ_TYPES, TEXT_READ_TYPES)


def open_decompressed(fh: BinaryIO) -> BinaryIO:
    """``fh`` itself, or a gunzipping reader over it if it holds gzip (closing it closes both)."""
    head = fh.read(2)
    fh.seek(0)
    if not is_gzip(head):
        return fh
    return _GzipOwning(fh)


class _GzipOwning(gzip.GzipFile):
    def __init__(self, fh: BinaryIO) -> None:
        super().__init__(fileobj=fh, mode="rb")
        self._owned = fh

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._owned.close()


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def line_blocks(fh: BinaryIO, block_size: int) -> Iterator[tuple[pa.Buffer, bool]]:
    """The file as blocks of whole lines, about ``block_size`` bytes each.

    Yields (block, is_first); the first block starts with the header. A block
    ends at a line end, so each can be parsed on its own (as Arrow's own
    chunker does, a newline inside a quoted value is not supported).
    """
    carry = b""
    first = True
    while True:
        chunk = fh.read(block_size)
        if not chunk:
            if carry:
                yield pa.py_buffer(carry), first
            return
        data = carry + chunk if carry else chunk
        cut = data.rfind(b"\n") + 1
        if cut == 0:
            carry = data
            continue
        yield pa.py_buffer(data).slice(0, cut), first
        first = False
        carry = data[cut:]


def mapped_line_blocks(data: pa.Buffer, block_size: int) -> Iterator[tuple[pa.Buffer, bool]]:
    """``line_blocks`` of a file already in memory (a memory map): slices, no copies."""
    view = np.frombuffer(data, dtype=np.uint8)
    start = 0
    while start < len(view):
        cut = min(start + block_size, len(view))
        while cut < len(view):
            ends = np.flatnonzero(view[cut : cut + (1 << 16)] == ord("\n"))
            if len(ends):
                cut += int(ends[0]) + 1
                break
            cut += 1 << 16
        cut = min(cut, len(view))
        yield data.slice(start, cut - start), start == 0
        start = cut


@dataclass
class _ParsedBlock:
    batch: TypedBatch | None
    malformed: list[str]
    level: int


class _BlockParser:
    """Parses and types one block of lines; safe to call from several threads at once."""

    def __init__(self, names: list[str], year: int) -> None:
        self.names = names
        self.year = year
        # Once a block needed the float types (integers written as "1517.0"),
        # the rest of the file almost surely does too: start there.
        self.start_level = 0

    def __call__(self, block: pa.Buffer, has_header: bool) -> _ParsedBlock:
        level = self.start_level
        while True:
            malformed: list[str] = []
            options = _csv_options(
                self.names,
                READ_LADDER[level],
                malformed,
                _PARSE_CHUNK_BYTES,
                skip_header=has_header,
                use_threads=False,
                only_empty_is_null=level == 0,
            )
            try:
                table = pacsv.read_csv(pa.BufferReader(block), **options)
                if level == 0 and not _same_as_default_nulls(table):
                    level = 1
                    continue
                break
            except pa.ArrowInvalid as error:
                if "Empty CSV file" in str(error):
                    return _ParsedBlock(None, malformed, level)
                if level == len(READ_LADDER) - 1:
                    raise
                level += 1
                if level == 1:
                    self.start_level = 1
        return _ParsedBlock(type_batch(table, self.year), malformed, level)


def usable_cpus(cgroup_cpu_max: str = "/sys/fs/cgroup/cpu.max") -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota.

    ``os.cpu_count()`` is the node's count; in a pod limited to one CPU on a
    64-core node, one parsing thread per node CPU would only add memory.
    """
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    cpus = cpus or 1
    try:
        with open(cgroup_cpu_max) as fh:
            quota, period = fh.read().split()[:2]
        if quota != "max":
            cpus = min(cpus, max(1, math.ceil(int(quota) / int(period))))
    except (OSError, ValueError):
        pass
    return cpus


@dataclass
class StreamResult:
    """What ``clean_to_parquet`` wrote: counts, reasons, the quarantine and a silver sample."""

    counts: dict[str, int]
    quarantine_reasons: dict[str, int]
    quarantine: pa.Table
    silver_sample: pa.Table
    batches: int
    read_as: dict[str, int] = field(default_factory=dict)


def silver_writer(path: str) -> pq.ParquetWriter:
    return pq.ParquetWriter(path, SILVER_SCHEMA, compression="zstd")


class _Collected:
    """What the blocks leave beside the silver rows: quarantine, a sample, counts of reads."""

    def __init__(self, cleaner: SilverCleaner) -> None:
        self.cleaner = cleaner
        self.quarantine: list[pa.Table] = []
        self.sample: pa.Table | None = None
        self.batches = 0
        self.read_as: Counter[str] = Counter()

    def absorb(self, parsed: _ParsedBlock) -> pa.Table | None:
        """The block's silver rows (None if it had no rows); blocks must come in file order."""
        self.read_as[("fast", "float", "text")[parsed.level]] += 1
        if parsed.batch is None:
            if parsed.malformed:
                _, bad = self.cleaner.clean_batch(_empty_raw(), parsed.malformed)
                self.quarantine.append(bad)
            return None
        silver, bad = self.cleaner.absorb(parsed.batch, parsed.malformed)
        check_silver_schema(silver)
        if bad.num_rows:
            self.quarantine.append(bad)
        if self.sample is None and silver.num_rows:
            self.sample = silver.slice(0, 1000)
        self.batches += 1
        return silver

    def result(self) -> StreamResult:
        return StreamResult(
            dict(self.cleaner.counts),
            self.cleaner.quarantine_reasons(),
            pa.concat_tables(self.quarantine)
            if self.quarantine
            else QUARANTINE_SCHEMA.empty_table(),
            self.sample if self.sample is not None else SILVER_SCHEMA.empty_table(),
            self.batches,
            dict(self.read_as),
        )


def clean_to_parquet(
    open_source: Callable[[], BinaryIO],
    year: int,
    silver_path: str,
    source: str = "raw file",
    block_size: int = STREAM_BLOCK_BYTES,
    workers: int | None = None,
    local_path: str | None = None,
) -> StreamResult:
    """Read the raw CSV in blocks, clean each and append it to a silver Parquet file.

    ``open_source`` opens the raw file (plain or gzip) from its start;
    ``local_path``, where the file is local, lets a plain one be memory-mapped
    instead of read. Three
    stages overlap, so that every core is busy (Arrow, numpy and the Parquet
    writer release the GIL): ``workers`` threads (default: the usable CPUs)
    parse and type blocks; this thread, in file order, drops repeated flights
    and splits off the quarantine; one thread encodes and writes the Parquet
    file. At most ``workers + 3`` blocks are in memory. A block with a value
    that is not a number is read again as text and its bad rows quarantined.
    The quarantine is kept in memory (it is small by nature) and returned.
    """
    workers = workers or usable_cpus()
    collected = _Collected(SilverCleaner(year))
    with open_source() as raw:
        fh = open_decompressed(raw)
        if local_path is not None and fh is raw:
            # A plain local file is memory-mapped: blocks are slices of the
            # page cache, not fresh 32 MB reads (a page fault per 4 kB each).
            with pa.memory_map(local_path) as mapped:
                blocks = mapped_line_blocks(mapped.read_buffer(), block_size)
        else:
            blocks = line_blocks(fh, block_size)
        head = next(blocks, None)
        names = _header_columns(
            head[0].slice(0, min(head[0].size, 1 << 20)).to_pybytes() if head else b"", source
        )
        parse = _BlockParser(names, year)
        parsing = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="silver-parse")
        writing = ThreadPoolExecutor(max_workers=1, thread_name_prefix="silver-write")
        writer = silver_writer(silver_path)
        parsed: deque[Future[_ParsedBlock]] = deque()
        written: deque[Future[None]] = deque()

        def absorb_next() -> None:
            silver = collected.absorb(parsed.popleft().result())
            if silver is not None:
                written.append(writing.submit(writer.write_table, silver))
            while len(written) > 2:
                written.popleft().result()

        try:
            for block, is_first in itertools.chain([head] if head else [], blocks):
                parsed.append(parsing.submit(parse, block, is_first))
                if len(parsed) > workers:
                    absorb_next()
            while parsed:
                absorb_next()
            while written:
                written.popleft().result()
        finally:
            parsing.shutdown(wait=True, cancel_futures=True)
            writing.shutdown(wait=True)
            writer.close()
    return collected.result()


def _empty_raw() -> pa.Table:
    return pa.schema([(c, pa.string()) for c in CANONICAL_COLUMNS]).empty_table()


GOLD_INPUT_COLUMNS = ["fl_date", "origin", "dep_delay", "cancelled", "diverted"]


def read_silver_for_gold(source: str | BinaryIO) -> pa.Table:
    """Only the silver columns the daily aggregate needs (~14 bytes a flight)."""
    return pq.read_table(source, columns=GOLD_INPUT_COLUMNS)


def _pandas_type(arrow_type: pa.DataType):
    # Dictionary columns become pandas categoricals (they round-trip through
    # Parquet); the rest keep their Arrow type: dates stay dates, ints stay
    # nullable ints.
    return None if pa.types.is_dictionary(arrow_type) else pd.ArrowDtype(arrow_type)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_pandas_type, split_blocks=True, self_destruct=False)


def check_silver_schema(table: pa.Table) -> None:
    if not table.schema.equals(SILVER_SCHEMA):
        diff = [
            f"{f.name}: {table.schema.field(f.name).type if f.name in table.schema.names else '-'}"
            f" (expected {f.type})"
            for f in SILVER_SCHEMA
            if f.name not in table.schema.names or table.schema.field(f.name).type != f.type
        ]
        raise ValueError(f"silver table does not match SILVER_SCHEMA: {diff}")


def aggregate_daily(silver: pd.DataFrame | pa.Table) -> pd.DataFrame:
    """Per (fl_date, origin): mean and median departure delay, flights, cancelled, diverted.

    ``flights`` counts every scheduled flight; the delay statistics use only
    flights that departed and were not diverted (cancellations and
    diversions are not delays), so a day where nothing departed has NaN delays.
    Rows come sorted by origin, then date.
    """
    table = (
        silver
        if isinstance(silver, pa.Table)
        else pa.Table.from_pandas(silver[GOLD_INPUT_COLUMNS], preserve_index=False)
    )
    low, high = pc.min_max(table["fl_date"]).values()
    days = _day_range(low.as_py(), high.as_py())
    daily = _DailyAggregate(*days, capacity=table.num_rows)
    for batch in table.to_batches():
        daily.add(batch)
    return daily.result()


def aggregate_silver_file(source: str | BinaryIO, batch_rows: int = 1 << 20) -> pd.DataFrame:
    """``aggregate_daily`` of a silver Parquet file, read batch by batch.

    Only the five columns it needs are read, a million rows at a time: the
    temporaries of one batch are reused for the next instead of faulting in
    fresh memory for whole-year columns.
    """
    parquet = pq.ParquetFile(source)
    column = parquet.schema_arrow.get_field_index("fl_date")
    stats = [
        parquet.metadata.row_group(i).column(column).statistics
        for i in range(parquet.metadata.num_row_groups)
    ]
    if all(st is not None and st.has_min_max for st in stats):
        low = min((st.min for st in stats), default=None)
        high = max((st.max for st in stats), default=None)
    else:
        low, high = (v.as_py() for v in pc.min_max(parquet.read(["fl_date"])[0]).values())
    daily = _DailyAggregate(*_day_range(low, high), capacity=parquet.metadata.num_rows)
    for batch in parquet.iter_batches(batch_size=batch_rows, columns=GOLD_INPUT_COLUMNS):
        daily.add(batch)
    return daily.result()


def _day_range(low: dt.date | None, high: dt.date | None) -> tuple[int, int]:
    """First day (days since 1970) and number of days from ``low`` to ``high``."""
    if low is None or high is None:
        return 0, 1
    first = (low - dt.date(1970, 1, 1)).days
    return first, (high - low).days + 1


_SIGN = np.uint32(1 << 31)


class _DailyAggregate:
    """Accumulates the daily aggregate over batches of silver rows.

    Each (airport, day) is a slot of a dense grid (airport ids in order of
    appearance x days of the span), so counts and sums are ``bincount``s; the
    medians come from one sort of (slot, delay) packed into 64-bit integers,
    filled batch by batch into one preallocated array.
    """

    def __init__(self, first_day: int, span: int, capacity: int) -> None:
        self.first_day = first_day
        self.span = span
        self.ids: dict[str, int] = {}
        self.sums = np.zeros(0)
        self.counts = {k: np.zeros(0, np.int64) for k in ("flights", "c", "d", "n")}
        self.packed = np.empty(capacity, np.uint64)
        self.filled = 0

    def _grow(self, slots: int) -> None:
        if slots > len(self.sums):
            self.sums = np.pad(self.sums, (0, slots - len(self.sums)))
            for k, v in self.counts.items():
                self.counts[k] = np.pad(v, (0, slots - len(v)))

    def add(self, batch: pa.RecordBatch) -> None:
        origin = batch.column("origin")
        if not pa.types.is_dictionary(origin.type):
            origin = pc.dictionary_encode(origin)
        lookup = np.array(
            [self.ids.setdefault(v, len(self.ids)) for v in origin.dictionary.to_pylist()],
            dtype=np.int32,
        )
        slots = len(self.ids) * self.span
        self._grow(slots)
        days = batch.column("fl_date").cast(pa.int32()).to_numpy(zero_copy_only=False)
        cancelled = batch.column("cancelled").to_numpy(zero_copy_only=False)
        diverted = batch.column("diverted").to_numpy(zero_copy_only=False)
        delay = batch.column("dep_delay").cast(pa.float32()).to_numpy(zero_copy_only=False)
        slot = lookup[origin.indices.to_numpy(zero_copy_only=False)]
        slot *= self.span
        slot += days
        slot -= self.first_day
        c = self.counts
        c["flights"] += np.bincount(slot, minlength=slots)
        c["c"] += np.bincount(slot[cancelled], minlength=slots)
        c["d"] += np.bincount(slot[diverted], minlength=slots)
        usable = ~(cancelled | diverted)
        usable &= ~np.isnan(delay)
        slot, values = slot[usable], delay[usable]
        c["n"] += np.bincount(slot, minlength=slots)
        self.sums += np.bincount(slot, weights=values, minlength=slots)
        # Float32 bits mapped to an order-preserving uint32 (flip all bits of
        # negatives, set the sign bit of the rest), below the slot in the
        # high bits: one integer sort orders by slot, then value.
        bits = values.view(np.uint32)
        negative = bits >= _SIGN
        np.invert(bits, out=bits, where=negative)
        np.bitwise_or(bits, _SIGN, out=bits, where=~negative)
        out = self.packed[self.filled : self.filled + len(slot)]
        out[:] = slot
        out <<= np.uint64(32)
        out |= bits
        self.filled += len(slot)

    def _value_at(self, packed: np.ndarray, index: np.ndarray) -> np.ndarray:
        low = (packed[index] & np.uint64(0xFFFFFFFF)).astype(np.uint32)
        low = np.where(low >= _SIGN, low & ~_SIGN, ~low)
        return low.view(np.float32).astype(np.float64)

    def result(self) -> pd.DataFrame:
        packed = self.packed[: self.filled]
        packed.sort()
        c = self.counts
        n = c["n"]
        has = n > 0
        start = (np.cumsum(n) - n)[has]
        median = np.full(len(n), np.nan)
        median[has] = (
            self._value_at(packed, start + (n[has] - 1) // 2)
            + self._value_at(packed, start + n[has] // 2)
        ) / 2
        with np.errstate(invalid="ignore", divide="ignore"):
            mean = self.sums / n
        names = np.asarray(list(self.ids), dtype=object)
        present = np.flatnonzero(c["flights"])
        airport, day = present // self.span, present % self.span
        rank = np.empty(len(names), np.int64)
        rank[np.argsort(names, kind="stable")] = np.arange(len(names))
        present = present[np.lexsort((day, rank[airport]))]
        airport, day = present // self.span, present % self.span
        return pd.DataFrame(
            {
                "fl_date": pd.array(
                    pa.array((day + self.first_day).astype(np.int32)).cast(pa.date32()),
                    dtype=pd.ArrowDtype(pa.date32()),
                ),
                "origin": names[airport] if len(names) else np.array([], dtype=object),
                "mean_dep_delay": mean[present],
                "median_dep_delay": median[present],
                "flights": c["flights"][present].astype("int64"),
                "cancelled": c["c"][present].astype("int64"),
                "diverted": c["d"][present].astype("int64"),
            }
        )
