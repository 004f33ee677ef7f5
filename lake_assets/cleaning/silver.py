"""Raw rows -> silver and quarantine tables, batch by batch, with their counts.

Owns ``SilverCleaner`` (the row rules of ``rules``, then the de-duplication
of ``dedup``, then the split into silver and quarantine), ``clean`` (a year in
one piece), the quarantine rows of malformed lines, and the silver schema
check. Nothing is dropped silently: a row with an impossible value goes to the
quarantine with the first rule it broke as its reason, a line that cannot be
split into the 28 fields with its raw text; repeats of a flight are counted.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from lake_assets.cleaning.dedup import FlightKeys
from lake_assets.cleaning.rules import TypedBatch, type_batch
from lake_assets.schema import CANONICAL_COLUMNS, QUARANTINE_SCHEMA, SILVER_SCHEMA


@dataclass
class CleanResult:
    silver: pa.Table
    quarantine: pa.Table
    counts: dict[str, int] = field(default_factory=dict)
    quarantine_reasons: dict[str, int] = field(default_factory=dict)


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


def check_silver_schema(table: pa.Table) -> None:
    if not table.schema.equals(SILVER_SCHEMA):
        diff = [
            f"{f.name}: {table.schema.field(f.name).type if f.name in table.schema.names else '-'}"
            f" (expected {f.type})"
            for f in SILVER_SCHEMA
            if f.name not in table.schema.names or table.schema.field(f.name).type != f.type
        ]
        raise ValueError(f"silver table does not match SILVER_SCHEMA: {diff}")
