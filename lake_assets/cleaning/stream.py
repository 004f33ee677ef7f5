"""Streaming a raw year to a silver Parquet file on every core (``clean_to_parquet``).

Owns the pipeline: blocks of lines parsed and typed on a thread pool sized by
``resources.cpus.usable_cpus`` (cgroup quota aware), absorbed in file order by one
``SilverCleaner``, and written by one Parquet writer thread; ``StreamResult``
(counts, quarantine, a silver sample); and the helpers that hand tables on
(``parquet_bytes``, ``to_pandas``).
"""

from __future__ import annotations

import itertools
from collections import Counter, deque
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import BinaryIO

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lake_assets.cleaning.csv_read import (
    _BlockParser,
    _header_columns,
    _ParsedBlock,
    line_blocks,
    mapped_line_blocks,
    open_decompressed,
)
from lake_assets.cleaning.silver import SilverCleaner, check_silver_schema
from lake_assets.schema import CANONICAL_COLUMNS, QUARANTINE_SCHEMA, SILVER_SCHEMA
from resources.cpus import usable_cpus

# Raw text handed to one parsing thread at a time. A few blocks are in flight
# at once (each ~3x its size once parsed and typed), so memory stays at a few
# hundred MB whatever the size of the year.
STREAM_BLOCK_BYTES = 32 << 20


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
    month: int | None = None,
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
        parse = _BlockParser(names, year, month)
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


def parquet_bytes(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue().to_pybytes()


def _pandas_type(arrow_type: pa.DataType):
    # Dictionary columns become pandas categoricals (they round-trip through
    # Parquet); the rest keep their Arrow type: dates stay dates, ints stay
    # nullable ints.
    return None if pa.types.is_dictionary(arrow_type) else pd.ArrowDtype(arrow_type)


def to_pandas(table: pa.Table) -> pd.DataFrame:
    return table.to_pandas(types_mapper=_pandas_type, split_blocks=True, self_destruct=False)
