"""Silver -> the daily gold aggregate per (fl_date, origin).

Owns ``GOLD_INPUT_COLUMNS``, ``read_silver_for_gold``, ``aggregate_daily`` (a
table or frame in memory), ``aggregate_silver_files`` (Parquet files batch by
batch) and ``_DailyAggregate``: ``bincount``s over a dense airport x day grid,
and one sort of packed (slot, delay) integers for the medians.
"""

from __future__ import annotations

import datetime as dt
from typing import BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

GOLD_INPUT_COLUMNS = ["fl_date", "origin", "dep_delay", "cancelled", "diverted"]


def read_silver_for_gold(source: str | BinaryIO) -> pa.Table:
    """Only the silver columns the daily aggregate needs (~14 bytes a flight)."""
    return pq.read_table(source, columns=GOLD_INPUT_COLUMNS)


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
    """``aggregate_daily`` of a silver Parquet file, read batch by batch."""
    return aggregate_silver_files([source], batch_rows)


def _fl_date_range(parquet: pq.ParquetFile) -> tuple[dt.date | None, dt.date | None]:
    column = parquet.schema_arrow.get_field_index("fl_date")
    stats = [
        parquet.metadata.row_group(i).column(column).statistics
        for i in range(parquet.metadata.num_row_groups)
    ]
    if all(st is not None and st.has_min_max for st in stats):
        return (
            min((st.min for st in stats), default=None),
            max((st.max for st in stats), default=None),
        )
    low, high = pc.min_max(parquet.read(["fl_date"])[0]).values()
    return low.as_py(), high.as_py()


def aggregate_silver_files(
    sources: list[str | BinaryIO], batch_rows: int = 1 << 20
) -> pd.DataFrame:
    """``aggregate_daily`` of silver Parquet files together (a year's monthly pieces).

    Only the five columns it needs are read, a million rows at a time: the
    temporaries of one batch are reused for the next instead of faulting in
    fresh memory for whole-year columns. The files are aggregated as one table,
    so a day and airport found in two of them is one gold row.
    """
    files = [pq.ParquetFile(source) for source in sources]
    ranges = [r for r in (_fl_date_range(f) for f in files) if r[0] is not None]
    low = min((r[0] for r in ranges), default=None)
    high = max((r[1] for r in ranges), default=None)
    capacity = sum(f.metadata.num_rows for f in files)
    daily = _DailyAggregate(*_day_range(low, high), capacity=capacity)
    for parquet in files:
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
