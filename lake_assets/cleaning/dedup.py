"""De-duplication: exact flight identities (``FLIGHT_KEY``) remembered across batches.

Owns ``FLIGHT_KEY`` and ``FlightKeys``, which packs each identity into one
int64 kept in a sorted array, so a year is de-duplicated in file order, batch
by batch, with the same result as in one piece.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from lake_assets.cleaning.rules import _combined

# The identity of one scheduled flight: a second row with the same identity is
# a duplicate of the first (the BTS files carry each flight once).
FLIGHT_KEY = ("fl_date", "op_carrier", "op_carrier_fl_num", "origin", "dest", "crs_dep_time")


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
