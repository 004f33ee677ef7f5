"""Raw canonical CSV -> typed silver table + quarantine, and silver -> daily gold aggregate.

Pure module (pyarrow + pandas, no Dagster). Reading uses pyarrow's
multi-threaded CSV parser with explicit column types: no type inference, no
Python objects per value, and categorical airport and carrier codes, which is
what makes a 7-million-row year fit in a few seconds and a few hundred MB.

Nothing is dropped silently: a row with an impossible value goes to the
quarantine table with the first rule it broke as its reason; a row that cannot
even be split into the 28 fields goes there with its raw text; exact repeats
of a flight are dropped and counted.
"""

from __future__ import annotations

import gzip
import io
from collections import Counter
from collections.abc import Callable
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
    FLAG_COLUMNS,
    MINUTE_COLUMNS,
    QUARANTINE_SCHEMA,
    RAW_READ_TYPES,
    SILVER_REQUIRED,
    SILVER_SCHEMA,
    STRING_COLUMNS,
    TIME_COLUMNS,
    silver_name,
)

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
    return gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data


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
    """The first rule each row broke, as a small integer code (0: none yet).

    Codes in a numpy array, not strings in an Arrow array: two dozen rules over
    seven million rows stay a matter of milliseconds each.
    """

    def __init__(self, n: int) -> None:
        self.code = np.zeros(n, dtype=np.uint8)
        self.texts: list[str] = [""]

    def add(self, bad: pa.Array | np.ndarray, text: str) -> None:
        if isinstance(bad, pa.ChunkedArray | pa.Array):
            bad = pc.fill_null(bad, False).to_numpy(zero_copy_only=False)
        if not bad.any():
            return
        if text not in self.texts:
            self.texts.append(text)
        self.code[bad & (self.code == 0)] = self.texts.index(text)

    def strings(self, mask: np.ndarray) -> pa.Array:
        return pa.array(np.asarray(self.texts, dtype=object)[self.code[mask]], pa.string())


def _to_float32(col: pa.ChunkedArray, name: str, reasons: _Reasons) -> pa.Array:
    if pa.types.is_floating(col.type):
        return col.combine_chunks()
    col = col.combine_chunks()
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


def _is_integral(values: pa.Array) -> pa.Array:
    return pc.equal(pc.floor(values), values)


def _minutes_part(hhmm: pa.Array) -> pa.Array:
    return pc.subtract(hhmm, pc.multiply(pc.floor(pc.divide(hhmm, 100.0)), 100.0))


def _typed_and_reasons(table: pa.Table, year: int) -> tuple[pa.Table, _Reasons]:
    """The silver columns of raw rows, and the first rule each row broke."""
    n = table.num_rows
    reasons = _Reasons(n)
    cols: dict[str, pa.Array] = {}

    dates = _dictionary(table["FL_DATE"])
    distinct = dates.dictionary
    parsed_distinct = pc.strptime(distinct, format="%Y-%m-%d", unit="s", error_is_null=True)
    # strptime rolls 2013-02-30 over to March: only a date that prints back
    # as written is a real one.
    real = pc.equal(pc.strftime(parsed_distinct, format="%Y-%m-%d"), distinct)
    parsed_distinct = pc.if_else(pc.fill_null(real, False), parsed_distinct, None)
    parsed = pc.take(parsed_distinct, dates.indices)
    reasons.add(pc.and_(pc.is_valid(dates), pc.is_null(parsed)), "unparseable FL_DATE")
    cols["fl_date"] = pc.cast(parsed, pa.date32())
    reasons.add(pc.not_equal(pc.year(parsed), pa.scalar(year, pa.int64())), "FL_DATE outside year")

    for name in STRING_COLUMNS:
        if name != "FL_DATE":
            cols[silver_name(name)] = _dictionary(table[name])
    for name in ("ORIGIN", "DEST"):
        reasons.add(_dictionary_mismatch(cols[silver_name(name)], _AIRPORT_CODE), f"bad {name}")
    reasons.add(_dictionary_mismatch(cols["op_carrier"], _CARRIER_CODE), "bad OP_CARRIER")

    floats: dict[str, pa.Array] = {}
    for name in ("OP_CARRIER_FL_NUM", *TIME_COLUMNS, *FLAG_COLUMNS, *MINUTE_COLUMNS, "DISTANCE"):
        floats[name] = _to_float32(table[name], name, reasons)

    num = floats["OP_CARRIER_FL_NUM"]
    reasons.add(
        pc.or_(pc.less_equal(num, 0), pc.invert(_is_integral(num))),
        "impossible OP_CARRIER_FL_NUM",
    )
    cols["op_carrier_fl_num"] = pc.cast(num, pa.int32(), safe=False)
    for name in TIME_COLUMNS:
        value = floats[name]
        bad = pc.or_(
            pc.or_(pc.less(value, 0), pc.greater(value, 2400)),
            pc.or_(pc.invert(_is_integral(value)), pc.greater_equal(_minutes_part(value), 60)),
        )
        reasons.add(bad, f"impossible {name}")
        cols[silver_name(name)] = pc.cast(value, pa.int16(), safe=False)
    for name in FLAG_COLUMNS:
        value = floats[name]
        bad = pc.invert(pc.is_in(value, pa.array([0.0, 1.0], pa.float32())))
        reasons.add(pc.and_(pc.is_valid(value), bad), f"impossible {name}")
        cols[silver_name(name)] = pc.equal(value, 1.0)
    for name in MINUTE_COLUMNS:
        value = floats[name]
        if name.endswith("DELAY") and name in ("DEP_DELAY", "ARR_DELAY"):
            low, high = DELAY_BOUNDS
        else:
            low, high = 0.0, DURATION_MAX
        bad = pc.or_(pc.less(value, low), pc.greater(value, high))
        reasons.add(bad, f"impossible {name}")
        cols[silver_name(name)] = value
    reasons.add(pc.less_equal(floats["DISTANCE"], 0), "impossible DISTANCE")
    cols["distance"] = floats["DISTANCE"]
    for name in SILVER_REQUIRED:
        reasons.add(pc.is_null(cols[name]), f"missing {name.upper()}")
    return pa.table([cols[f.name] for f in SILVER_SCHEMA], schema=SILVER_SCHEMA), reasons


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
        """Silver rows and quarantined rows of one batch of raw rows."""
        malformed = malformed or []
        typed, reasons = _typed_and_reasons(table, self.year)
        is_bad = reasons.code > 0
        quarantine = typed.filter(pa.array(is_bad))
        quarantine = quarantine.append_column("reason", reasons.strings(is_bad)).append_column(
            "raw_line", pa.nulls(quarantine.num_rows, pa.string())
        )
        if malformed:
            quarantine = pa.concat_tables([quarantine, _malformed_rows(malformed)])
        good = typed.filter(pa.array(~is_bad))
        first = self.keys.first_seen(good)
        silver = good if first.all() else good.filter(pa.array(first))

        if quarantine.num_rows:
            self.reasons.update(quarantine["reason"].to_pylist())
        c = self.counts
        c["rows_read"] += table.num_rows + len(malformed)
        c["malformed_rows"] += len(malformed)
        c["quarantined_rows"] += quarantine.num_rows
        c["duplicates_dropped"] += int((~first).sum())
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


def _key_columns(table: pa.Table) -> list[np.ndarray]:
    out = []
    for k in FLIGHT_KEY:
        col = table[k].combine_chunks()
        if pa.types.is_dictionary(col.type):
            out.append(col.indices.to_numpy(zero_copy_only=False).astype(np.int64))
        else:
            out.append(col.cast(pa.int32()).to_numpy(zero_copy_only=False).astype(np.int64))
    return out


def drop_duplicate_flights(table: pa.Table) -> tuple[pa.Table, int]:
    """Keep the first row of each flight identity (``FLIGHT_KEY``); return the count dropped."""
    if table.num_rows == 0:
        return table, 0
    columns = _key_columns(table)
    # Pack the six small integers into one int64 when they fit (they do for
    # every real year): hashing one column is several times faster than six.
    packed = np.zeros(table.num_rows, dtype=np.int64)
    bits = 0
    for values in columns:
        low = int(values.min())
        width = max(int(values.max()) - low, 1).bit_length()
        packed = (packed << width) | (values - low)
        bits += width
    if bits <= 63:
        duplicated = pd.Series(packed).duplicated(keep="first").to_numpy()
    else:
        frame = pd.DataFrame(dict(zip(FLIGHT_KEY, columns, strict=True)))
        duplicated = frame.duplicated(keep="first").to_numpy()
    dropped = int(duplicated.sum())
    if dropped == 0:
        return table, 0
    return table.filter(pa.array(~duplicated)), dropped


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
        arr = col.combine_chunks()
        names = arr.dictionary.to_pylist()
        lookup = np.array([ids.setdefault(v, len(ids)) for v in names], dtype=np.int64)
        return (
            lookup[arr.indices.to_numpy(zero_copy_only=False)]
            if len(lookup)
            else np.zeros(len(arr), np.int64)
        )

    def _packed(self, table: pa.Table) -> tuple[np.ndarray, np.ndarray]:
        def ints(name: str) -> np.ndarray:
            col = table[name].combine_chunks()
            if pa.types.is_date32(col.type):
                col = col.cast(pa.int32())
            return col.cast(pa.int64()).to_numpy(zero_copy_only=False)

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
        if len(seen):
            pos = np.minimum(np.searchsorted(seen, keys), len(seen) - 1)
            first &= seen[pos] != keys
        new = np.sort(keys[first])
        # Two sorted runs: the stable sort (timsort) merges them in linear time.
        merged = np.concatenate([seen, new])
        merged.sort(kind="stable")
        return first, merged

    def first_seen(self, table: pa.Table) -> np.ndarray:
        """True for rows whose flight identity appears for the first time."""
        if table.num_rows == 0:
            return np.ones(0, bool)
        packed, fits = self._packed(table)
        first = np.ones(table.num_rows, bool)
        first[fits], self.seen = self._first(packed[fits], self.seen)
        if not fits.all():
            rest = table.filter(pa.array(~fits)).select(list(FLIGHT_KEY)).to_pandas()
            hashed = pd.util.hash_pandas_object(rest.astype(str), index=False).to_numpy()
            first[~fits], self.seen_hashed = self._first(hashed.view(np.int64), self.seen_hashed)
        return first


def _csv_options(
    names: list[str], types: dict[str, pa.DataType], malformed: list[str], block_size: int
):
    def on_invalid(row: pacsv.InvalidRow) -> str:
        malformed.append(row.text)
        return "skip"

    return dict(
        read_options=pacsv.ReadOptions(
            column_names=[n if n else "_trailing" for n in names],
            skip_rows=1,
            block_size=block_size,
        ),
        parse_options=pacsv.ParseOptions(invalid_row_handler=on_invalid),
        convert_options=pacsv.ConvertOptions(
            column_types=types,
            include_columns=list(CANONICAL_COLUMNS),
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )


STREAM_BLOCK_BYTES = 64 << 20


def open_decompressed(fh: BinaryIO) -> BinaryIO:
    """``fh`` itself, or a gunzipping reader over it if it holds gzip (closing it closes both)."""
    head = fh.read(2)
    fh.seek(0)
    if head != b"\x1f\x8b":
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


def _first_line(fh: BinaryIO) -> bytes:
    # read(), not readline(n): fsspec's S3 files take no size in readline.
    head = fh.read(1 << 20)
    end = head.find(b"\n")
    return head if end < 0 else head[: end + 1]


@dataclass
class StreamResult:
    """What ``clean_to_parquet`` wrote: counts, reasons, the quarantine and a silver sample."""

    counts: dict[str, int]
    quarantine_reasons: dict[str, int]
    quarantine: pa.Table
    silver_sample: pa.Table
    batches: int


def clean_to_parquet(
    open_source: Callable[[], BinaryIO],
    year: int,
    silver_path: str,
    source: str = "raw file",
    block_size: int = STREAM_BLOCK_BYTES,
) -> StreamResult:
    """Read the raw CSV in blocks, clean each and append it to a silver Parquet file.

    ``open_source`` opens the raw file (plain or gzip) from its start; it is
    called again if a value is not a number, to re-read everything as text
    (``clean`` then quarantines the rows it cannot convert). Memory stays at
    a few blocks whatever the size of the year; the quarantine is kept in
    memory (it is small by nature) and returned.
    """
    try:
        return _clean_stream(open_source, year, silver_path, source, block_size, RAW_READ_TYPES)
    except pa.ArrowInvalid:
        text = dict.fromkeys(CANONICAL_COLUMNS, pa.string())
        return _clean_stream(open_source, year, silver_path, source, block_size, text)


def _clean_stream(open_source, year, silver_path, source, block_size, types) -> StreamResult:
    with open_source() as raw:
        fh = open_decompressed(raw)
        names = _header_columns(_first_line(fh), source)
    cleaner = SilverCleaner(year)
    malformed: list[str] = []
    quarantine: list[pa.Table] = []
    sample = None
    batches = 0
    with (
        open_source() as raw,
        pq.ParquetWriter(silver_path, SILVER_SCHEMA, compression="zstd") as writer,
    ):
        reader = pacsv.open_csv(
            open_decompressed(raw), **_csv_options(names, types, malformed, block_size)
        )
        for batch in reader:
            taken, malformed[:] = list(malformed), []
            silver, bad = cleaner.clean_batch(pa.Table.from_batches([batch]), taken)
            check_silver_schema(silver)
            writer.write_table(silver)
            if bad.num_rows:
                quarantine.append(bad)
            if sample is None and silver.num_rows:
                sample = silver.slice(0, 1000)
            batches += 1
        if malformed:  # lines skipped after the last block was delivered
            _, bad = cleaner.clean_batch(pa.Table.from_batches([], schema=reader.schema), malformed)
            quarantine.append(bad)
    q = pa.concat_tables(quarantine) if quarantine else QUARANTINE_SCHEMA.empty_table()
    return StreamResult(
        dict(cleaner.counts),
        cleaner.quarantine_reasons(),
        q,
        sample if sample is not None else SILVER_SCHEMA.empty_table(),
        batches,
    )


GOLD_INPUT_COLUMNS = ["fl_date", "origin", "dep_delay", "cancelled", "diverted"]


def read_silver_for_gold(source: str | BinaryIO) -> pa.Table:
    """Only the silver columns the daily aggregate needs (~14 bytes a flight)."""
    return pq.read_table(source, columns=GOLD_INPUT_COLUMNS)


def _pandas_type(arrow_type: pa.DataType):  # noqa: ANN202
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
    """
    table = (
        silver
        if isinstance(silver, pa.Table)
        else pa.Table.from_pandas(
            silver[["fl_date", "origin", "dep_delay", "cancelled", "diverted"]],
            preserve_index=False,
        )
    )
    origin = table["origin"]
    if not pa.types.is_dictionary(origin.type):
        origin = pc.dictionary_encode(origin)
    origin = origin.unify_dictionaries().combine_chunks()
    codes = origin.indices.to_numpy(zero_copy_only=False)
    days = table["fl_date"].combine_chunks().cast(pa.int32()).to_numpy(zero_copy_only=False)
    cancelled = table["cancelled"].combine_chunks().to_numpy(zero_copy_only=False)
    diverted = table["diverted"].combine_chunks().to_numpy(zero_copy_only=False)
    delay = table["dep_delay"].combine_chunks().cast(pa.float64()).to_numpy(zero_copy_only=False)
    usable = ~cancelled & ~diverted & ~np.isnan(delay)

    counts = (
        pd.DataFrame({"d": days, "o": codes, "c": cancelled, "v": diverted})
        .groupby(["d", "o"], sort=True)
        .agg(flights=("c", "size"), cancelled=("c", "sum"), diverted=("v", "sum"))
    )
    delays = (
        pd.DataFrame({"d": days[usable], "o": codes[usable], "x": delay[usable]})
        .groupby(["d", "o"], sort=True)["x"]
        .agg(["mean", "median"])
        .rename(columns={"mean": "mean_dep_delay", "median": "median_dep_delay"})
    )
    gold = counts.join(delays, how="left").reset_index()
    names = np.asarray(origin.dictionary.to_pylist(), dtype=object)
    out = pd.DataFrame(
        {
            "fl_date": pd.array(
                pa.array(gold["d"].to_numpy(np.int32), pa.int32()).cast(pa.date32()),
                dtype=pd.ArrowDtype(pa.date32()),
            ),
            "origin": names[gold["o"].to_numpy()],
            "mean_dep_delay": gold["mean_dep_delay"].astype("float64"),
            "median_dep_delay": gold["median_dep_delay"].astype("float64"),
            "flights": gold["flights"].astype("int64"),
            "cancelled": gold["cancelled"].astype("int64"),
            "diverted": gold["diverted"].astype("int64"),
        }
    )
    return out.sort_values(["origin", "fl_date"], kind="stable").reset_index(drop=True)
