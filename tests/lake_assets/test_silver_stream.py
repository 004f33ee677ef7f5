"""The block-parallel silver path agrees with the whole-file path, row for row."""

import gzip
import hashlib
import io
import threading

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from upath import UPath

from lake_assets.cleaning import (
    FlightKeys,
    RawFileError,
    aggregate_daily,
    aggregate_silver_file,
    clean,
    clean_to_parquet,
    line_blocks,
    mapped_line_blocks,
    read_raw,
)
from lake_assets.schema import CSV_HEADER, SILVER_SCHEMA
from resources.lake_files import CHUNK, copy_stream
from resources.lake_store import LakeStore

from .test_adapter_cleaning import row

# (values, reason, how the block is read: integer files are read with the
# fast types unless the bad value does not fit them)
BAD_VALUES = [
    ({"DEP_TIME": "2575"}, "impossible DEP_TIME", "fast"),
    ({"CRS_DEP_TIME": "961"}, "impossible CRS_DEP_TIME", "fast"),
    ({"WHEELS_ON": "40000"}, "impossible WHEELS_ON", "float"),  # beyond int16
    ({"DISTANCE": "-5"}, "impossible DISTANCE", "fast"),
    ({"DEP_DELAY": "9999"}, "impossible DEP_DELAY", "fast"),
    ({"CANCELLED": "2"}, "impossible CANCELLED", "fast"),
    ({"CANCELLED": "-1"}, "impossible CANCELLED", "fast"),
    ({"OP_CARRIER_FL_NUM": "0"}, "impossible OP_CARRIER_FL_NUM", "fast"),
    ({"ORIGIN": "jfk1"}, "bad ORIGIN", "fast"),
    ({"FL_DATE": "2012-12-31"}, "FL_DATE outside year", "fast"),
    ({"FL_DATE": "2013-02-30"}, "unparseable FL_DATE", "float"),
    ({"DEP_DELAY": "ten"}, "unparseable DEP_DELAY", "text"),
    ({"DEST": ""}, "missing DEST", "fast"),
]


def year_lines(n: int, every: int = 37) -> list[str]:
    """``n`` flights over 2013 with a bad value, a float-written value or a repeat now and then."""
    lines = []
    for i in range(n):
        day = f"2013-{1 + i % 12:02d}-{1 + i % 28:02d}"
        values = dict(
            FL_DATE=day,
            OP_CARRIER_FL_NUM=str(1 + i % 4000),
            ORIGIN=("JFK", "LGA", "EWR", "BOS")[i % 4],
            CRS_DEP_TIME=str((5 + i % 18) * 100 + i % 60),
            DEP_DELAY=str(i % 90 - 20),
        )
        if i % every == 0:
            values.update(BAD_VALUES[(i // every) % len(BAD_VALUES)][0])
        elif i % every == 7:
            values.update(DEP_TIME="1517.0", CANCELLED="0.0")  # how some years write numbers
        lines.append(row(**values))
        if i % 101 == 0:
            lines.append(lines[-1])  # an exact repeat, sometimes in the next block
    lines.insert(n // 2, "2013-03-01,AA,5,JFK\n")  # a malformed line
    return lines


def stream(tmp_path, data: bytes, mapped: bool = True, **kwargs):
    path = tmp_path / "raw.csv"
    path.write_bytes(data)
    silver = tmp_path / "silver.parquet"
    result = clean_to_parquet(
        lambda: path.open("rb"),
        2013,
        str(silver),
        "raw.csv",
        local_path=str(path) if mapped else None,
        **kwargs,
    )
    return result, pq.read_table(silver)


def assert_same_rows(a: pa.Table, b: pa.Table) -> None:
    left, right = a.to_pandas(), b.to_pandas()
    for frame in (left, right):
        for name in frame.columns:
            if isinstance(frame[name].dtype, pd.CategoricalDtype):
                frame[name] = frame[name].astype(object)
    pd.testing.assert_frame_equal(left, right)


@pytest.mark.parametrize(("workers", "mapped"), [(1, True), (2, True), (3, True), (2, False)])
def test_blocks_in_parallel_give_the_whole_file_result(tmp_path, workers, mapped):
    data = (CSV_HEADER + "".join(year_lines(3000))).encode()
    table, malformed = read_raw(data, "raw.csv")
    whole = clean(table, 2013, malformed)
    result, silver = stream(tmp_path, data, mapped, block_size=16 << 10, workers=workers)

    assert result.batches > 10
    assert result.counts == whole.counts
    assert result.quarantine_reasons == whole.quarantine_reasons
    assert result.counts["duplicates_dropped"] > 20 and result.counts["malformed_rows"] == 1
    assert silver.schema.equals(SILVER_SCHEMA)
    assert_same_rows(silver, whole.silver)
    by_reason = lambda t: t.to_pandas().sort_values(["reason", "op_carrier_fl_num"])  # noqa: E731
    assert by_reason(result.quarantine)["reason"].tolist() == (
        by_reason(whole.quarantine)["reason"].tolist()
    )
    # Most blocks hold a float-written value, one in a few a word: each block
    # takes the first way of reading that works for it.
    assert set(result.read_as) <= {"fast", "float", "text"} and result.read_as.get("text")


def test_integer_files_are_read_fast_and_float_files_are_not_reread_each_block(tmp_path):
    ints = "".join(
        row(OP_CARRIER_FL_NUM=str(i + 1), CANCELLED="0", DIVERTED="0") for i in range(2000)
    )
    result, silver = stream(tmp_path, (CSV_HEADER + ints).encode(), block_size=8 << 10, workers=1)
    assert result.read_as == {"fast": result.batches} and silver.num_rows == 2000

    floats = "".join(
        row(OP_CARRIER_FL_NUM=str(i + 1), DEP_TIME="910.0", CANCELLED="0.0") for i in range(2000)
    )
    result, silver = stream(tmp_path, (CSV_HEADER + floats).encode(), block_size=8 << 10, workers=1)
    # After the first block needed floats, the others start there.
    assert result.read_as == {"float": result.batches}
    assert silver["dep_time"].to_pylist()[:2] == [910, 910]


@pytest.mark.parametrize(("values", "reason", "read_as"), BAD_VALUES)
def test_each_rule_quarantines_the_same_on_every_way_of_reading(tmp_path, values, reason, read_as):
    integers = {"CANCELLED": "0", "DIVERTED": "0"}
    lines = [row(**integers), row(**{**integers, "OP_CARRIER_FL_NUM": "7", **values})]
    result, silver = stream(tmp_path, (CSV_HEADER + "".join(lines)).encode())
    assert result.read_as == {read_as: 1}
    assert silver.num_rows == 1
    assert result.quarantine["reason"].to_pylist() == [reason]
    assert result.quarantine_reasons == {reason: 1}


def test_gzip_no_final_newline_and_header_only(tmp_path):
    body = CSV_HEADER + row() + row(OP_CARRIER_FL_NUM="2").rstrip("\n")
    result, silver = stream(tmp_path, gzip.compress(body.encode()), block_size=100)
    assert silver.num_rows == 2 and result.counts["rows_read"] == 2

    result, silver = stream(tmp_path, CSV_HEADER.encode())
    assert silver.num_rows == 0 and silver.schema.equals(SILVER_SCHEMA)
    assert result.counts["rows_read"] == 0

    with pytest.raises(RawFileError, match="lacks canonical columns"):
        stream(tmp_path, b"")


@pytest.mark.parametrize("final_newline", [True, False])
def test_line_blocks_cut_only_at_line_ends(final_newline):
    data = b"".join(f"{i},{'x' * (i % 50)}\n".encode() for i in range(500))
    data += b"" if final_newline else b"last,line"
    for blocks in (
        list(line_blocks(io.BytesIO(data), 256)),
        list(mapped_line_blocks(pa.py_buffer(data), 256)),
    ):
        assert b"".join(b.to_pybytes() for b, _ in blocks) == data
        assert all(b.to_pybytes().endswith(b"\n") for b, _ in blocks[:-1])
        assert [first for _, first in blocks] == [True] + [False] * (len(blocks) - 1)
        assert 10 < len(blocks) < 100


def reference_gold(silver: pd.DataFrame) -> pd.DataFrame:
    """The aggregate written the obvious pandas way."""
    usable = silver[~silver["cancelled"] & ~silver["diverted"] & silver["dep_delay"].notna()]
    delays = usable.groupby(["origin", "fl_date"])["dep_delay"].agg(["mean", "median"])
    counts = silver.groupby(["origin", "fl_date"]).agg(
        flights=("cancelled", "size"), cancelled=("cancelled", "sum"), diverted=("diverted", "sum")
    )
    return counts.join(delays).reset_index()


def test_aggregate_matches_pandas_groupby():
    rng = np.random.default_rng(3)
    n = 20_000
    origins = np.array(["ZZZ", "ATL", "MMM", "BOS"])  # not in name order on purpose
    delay = rng.normal(5, 30, n).round().astype(np.float32)
    delay[rng.random(n) < 0.05] = np.nan
    delay[:50] = -0.0
    silver = pd.DataFrame(
        {
            "fl_date": pd.to_datetime("2015-01-01")
            + pd.to_timedelta(rng.integers(0, 40, n), unit="D"),
            "origin": pd.Categorical(origins[rng.integers(0, 4, n)]),
            "dep_delay": delay,
            "cancelled": rng.random(n) < 0.03,
            "diverted": rng.random(n) < 0.01,
        }
    )
    silver.loc[silver["origin"] == "MMM", "cancelled"] = True  # no delays at all there
    silver["fl_date"] = silver["fl_date"].dt.date.astype(pd.ArrowDtype(pa.date32()))
    gold = aggregate_daily(silver)
    expected = reference_gold(
        silver.assign(origin=silver["origin"].astype(str), dep_delay=delay.astype(np.float64))
    )

    assert gold["origin"].tolist() == expected["origin"].tolist()
    assert [str(d) for d in gold["fl_date"]] == [str(d) for d in expected["fl_date"]]
    np.testing.assert_allclose(gold["mean_dep_delay"], expected["mean"], rtol=1e-12)
    np.testing.assert_array_equal(gold["median_dep_delay"], expected["median"])
    for name in ("flights", "cancelled", "diverted"):
        np.testing.assert_array_equal(gold[name], expected[name])
    assert gold.loc[gold["origin"] == "MMM", "mean_dep_delay"].isna().all()


def test_aggregate_of_no_rows():
    gold = aggregate_daily(SILVER_SCHEMA.empty_table())
    assert len(gold) == 0 and list(gold.columns)[:2] == ["fl_date", "origin"]


def test_copy_stream_hashes_and_counts_what_it_writes(tmp_path):
    data = (b"a,b,c\n" * (CHUNK // 6 + 1000)) + b"no newline at the end"
    out = io.BytesIO()
    stats = copy_stream(io.BytesIO(data), out)
    assert out.getvalue() == data
    assert stats.sha256 == hashlib.sha256(data).hexdigest()
    assert stats.lines == data.count(b"\n") and stats.bytes == len(data)

    target = UPath(tmp_path / "bronze" / "2013.csv")
    assert LakeStore.write_stream(io.BytesIO(data), target) == stats
    assert target.read_bytes() == data

    landed = tmp_path / "landing.csv"
    landed.write_bytes(data)
    again = UPath(tmp_path / "bronze" / "2014.csv")
    assert LakeStore.write_local_file(str(landed), again) == stats
    assert again.read_bytes() == data
    assert sorted(p.name for p in (tmp_path / "bronze").iterdir()) == ["2013.csv", "2014.csv"]


def test_atomic_copy_leaves_nothing_when_the_source_fails(tmp_path):
    class Failing(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 0:
                raise OSError("connection reset")
            return super().read(size)

    target = UPath(tmp_path / "bronze" / "2013.csv")
    with pytest.raises(OSError, match="connection reset"):
        LakeStore.write_stream(Failing(b"x" * (CHUNK + 10)), target)
    assert not target.exists()
    assert list((tmp_path / "bronze").iterdir()) == []


@pytest.mark.parametrize("order", ["by date", "shuffled"])
def test_repeats_found_across_batches_whatever_the_order(order):
    rng = np.random.default_rng(7)
    keys = np.sort(rng.integers(0, 1 << 40, 30_000)) << 20
    keys = keys[np.concatenate([np.arange(len(keys)), rng.integers(0, len(keys), 3000)])]
    if order == "by date":
        keys.sort()
    else:
        rng.shuffle(keys)
    seen = np.empty(0, np.int64)
    first = []
    for batch in np.array_split(keys, 17):
        mine, seen = FlightKeys._first(batch, seen)
        first.append(mine)
    expected = ~pd.Series(keys).duplicated(keep="first").to_numpy()
    np.testing.assert_array_equal(np.concatenate(first), expected)
    np.testing.assert_array_equal(seen, np.unique(keys))


def test_a_source_failing_midway_raises_and_leaves_no_threads(tmp_path):
    data = (CSV_HEADER + "".join(year_lines(3000))).encode()

    class Failing(io.BytesIO):
        def read(self, size=-1):
            if self.tell() > 100_000:
                raise OSError("connection reset")
            return super().read(size)

    before = threading.active_count()
    with pytest.raises(OSError, match="connection reset"):
        clean_to_parquet(
            lambda: Failing(data), 2013, str(tmp_path / "s.parquet"), block_size=16 << 10
        )
    assert threading.active_count() == before


@pytest.mark.parametrize(
    "values",
    [{"DEP_DELAY": "nan"}, {"TAXI_OUT": "NaN"}, {"ORIGIN": "NA"}, {"CANCELLATION_CODE": "NULL"}],
)
def test_null_spellings_other_than_empty_read_as_before(tmp_path, values):
    integers = {"CANCELLED": "0", "DIVERTED": "0"}
    lines = [row(**integers), row(**{**integers, "OP_CARRIER_FL_NUM": "7", **values})]
    data = (CSV_HEADER + "".join(lines)).encode()
    table, malformed = read_raw(data, "raw.csv")
    whole = clean(table, 2013, malformed)
    result, silver = stream(tmp_path, data)
    # The fast read takes only "" as null; a block with another spelling is read again.
    assert result.read_as == {"float": 1}
    assert result.counts == whole.counts
    assert result.quarantine_reasons == whole.quarantine_reasons
    assert_same_rows(silver, whole.silver)


@pytest.mark.parametrize("statistics", [True, False])
def test_aggregate_of_a_file_batch_by_batch_equals_the_whole(tmp_path, statistics):
    data = (CSV_HEADER + "".join(year_lines(3000))).encode()
    _, silver = stream(tmp_path, data, block_size=16 << 10)
    path = tmp_path / "gold-input.parquet"
    pq.write_table(silver, path, row_group_size=500, write_statistics=statistics)
    whole = aggregate_daily(silver)
    pd.testing.assert_frame_equal(aggregate_silver_file(str(path), batch_rows=300), whole)
    assert whole["flights"].sum() == silver.num_rows and len(whole) > 50
