"""Raw canonical CSV -> typed silver table + quarantine, and silver -> daily gold aggregate.

Pure package (pyarrow + pandas, no Dagster). Reading uses pyarrow's CSV parser
with explicit column types: no type inference, no Python objects per value,
and categorical airport and carrier codes. A year is cut into blocks of whole
lines, parsed and typed on every core while one thread de-duplicates and
writes them in file order (``clean_to_parquet``), which is what makes a
7-million-row year take a few seconds and a few hundred MB.

Nothing is dropped silently: a row with an impossible value goes to the
quarantine table with the first rule it broke as its reason; a row that cannot
even be split into the 28 fields goes there with its raw text; exact repeats
of a flight are dropped and counted.

One module per concern (issue 15), each importing only those before it:
- ``rules``: row typing, bounds, code patterns, quarantine reasons;
- ``dedup``: ``FLIGHT_KEY`` and the packed-key de-duplication across batches;
- ``silver``: ``SilverCleaner`` and ``clean`` (rules, then de-duplication, then
  the split into silver and quarantine, with counts);
- ``csv_read``: header check, read options, null spellings, decompression,
  blocks of lines, the block parser and its read ladder;
- ``stream``: ``clean_to_parquet`` on a thread pool, ``StreamResult``, writers;
- ``gold``: the daily aggregate of silver.
This module re-exports the names callers use, so ``cleaning.<name>`` is stable.
"""

from lake_assets.cleaning.csv_read import (
    READ_LADDER,
    RawFileError,
    line_blocks,
    mapped_line_blocks,
    open_decompressed,
    read_raw,
)
from lake_assets.cleaning.dedup import FLIGHT_KEY, FlightKeys
from lake_assets.cleaning.gold import (
    GOLD_INPUT_COLUMNS,
    aggregate_daily,
    aggregate_silver_file,
    aggregate_silver_files,
    read_silver_for_gold,
)
from lake_assets.cleaning.rules import DELAY_BOUNDS, DURATION_MAX, TypedBatch, type_batch
from lake_assets.cleaning.silver import CleanResult, SilverCleaner, check_silver_schema, clean
from lake_assets.cleaning.stream import (
    STREAM_BLOCK_BYTES,
    StreamResult,
    clean_to_parquet,
    parquet_bytes,
    silver_writer,
    to_pandas,
)

__all__ = [
    "DELAY_BOUNDS",
    "DURATION_MAX",
    "FLIGHT_KEY",
    "GOLD_INPUT_COLUMNS",
    "READ_LADDER",
    "STREAM_BLOCK_BYTES",
    "CleanResult",
    "FlightKeys",
    "RawFileError",
    "SilverCleaner",
    "StreamResult",
    "TypedBatch",
    "aggregate_daily",
    "aggregate_silver_file",
    "aggregate_silver_files",
    "check_silver_schema",
    "clean",
    "clean_to_parquet",
    "line_blocks",
    "mapped_line_blocks",
    "open_decompressed",
    "parquet_bytes",
    "read_raw",
    "read_silver_for_gold",
    "silver_writer",
    "to_pandas",
    "type_batch",
]
