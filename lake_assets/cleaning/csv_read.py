"""Reading the raw canonical CSV: header check, read options, blocks of lines, the read ladder.

Owns ``RawFileError``, gzip detection and decompression, the pyarrow CSV
options (explicit column types: no inference, no Python objects per value),
the null spellings, ``read_raw`` (a whole file), the cutting of a file into
blocks of whole lines (read or memory-mapped) and ``_BlockParser``, which
reads a block with the fast types, then the general ones, then as text, and
types it with ``rules.type_batch``.
"""

from __future__ import annotations

import gzip
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.csv as pacsv

from lake_assets.cleaning.rules import TypedBatch, type_batch
from lake_assets.schema import (
    CANONICAL_COLUMNS,
    FAST_READ_TYPES,
    RAW_READ_TYPES,
    TEXT_READ_TYPES,
)
from resources.lake_store import is_gzip


class RawFileError(ValueError):
    """The raw file cannot be read as the canonical on-time CSV at all."""


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

    def __init__(self, names: list[str], year: int, month: int | None = None) -> None:
        self.names = names
        self.year = year
        self.month = month
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
        return _ParsedBlock(type_batch(table, self.year, self.month), malformed, level)
