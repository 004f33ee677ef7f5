"""The DuckDB silver/gold path (issue 15's candidate) against today's engine, row for row."""

import gzip

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from benchmarks import engine_duckdb
from lake_assets.cleaning import aggregate_daily, clean_to_parquet
from lake_assets.schema import CSV_HEADER, SILVER_SCHEMA
from tests.reliability.cases import CORPUS, FLIGHT_QUARANTINE

from .test_adapter_cleaning import row
from .test_silver_stream import BAD_VALUES, year_lines


def both(tmp_path, data: bytes, year: int = 2013):
    """(today's result, its silver, DuckDB's result, its silver) for the same raw bytes."""
    raw = tmp_path / "raw.csv"
    raw.write_bytes(data)
    ours = clean_to_parquet(lambda: raw.open("rb"), year, str(tmp_path / "a.parquet"), "raw.csv")
    duck = engine_duckdb.clean_to_parquet(str(raw), year, str(tmp_path / "b.parquet"), "raw.csv")
    return (
        ours,
        pq.read_table(tmp_path / "a.parquet"),
        duck,
        engine_duckdb.read_silver(str(tmp_path / "b.parquet")),
    )


def rows(table: pa.Table) -> pd.DataFrame:
    """Rows in a fixed order: DuckDB's parallel writer need not keep the file order."""
    frame = table.to_pandas()
    for name in frame.columns:
        if isinstance(frame[name].dtype, pd.CategoricalDtype):
            frame[name] = frame[name].astype(object)
    return frame.sort_values(list(frame.columns)).reset_index(drop=True)


def assert_same(ours, silver_a, duck, silver_b) -> None:
    assert silver_b.schema.equals(SILVER_SCHEMA)
    pd.testing.assert_frame_equal(rows(silver_a), rows(silver_b))
    assert duck.counts == ours.counts
    assert duck.quarantine_reasons == ours.quarantine_reasons
    raw_lines = lambda q: sorted(v for v in q["raw_line"].to_pylist() if v)  # noqa: E731
    assert raw_lines(duck.quarantine) == [v.rstrip("\r\n") for v in raw_lines(ours.quarantine)]


def assert_same_gold(tmp_path, silver_a: pa.Table) -> None:
    duck_gold = engine_duckdb.aggregate_silver_file(str(tmp_path / "b.parquet"))
    pd.testing.assert_frame_equal(duck_gold, aggregate_daily(silver_a), rtol=1e-9)


def test_nycflights_silver_and_gold_are_today_s(tmp_path, nyc_csv):
    ours, a, duck, b = both(tmp_path, nyc_csv)
    assert duck.counts["silver_rows"] == 336_776
    assert_same(ours, a, duck, b)
    assert_same_gold(tmp_path, a)


def test_bad_values_repeats_and_a_malformed_line_as_today(tmp_path):
    ours, a, duck, b = both(tmp_path, (CSV_HEADER + "".join(year_lines(3000))).encode())
    assert duck.counts["duplicates_dropped"] > 20 and duck.counts["malformed_rows"] == 1
    assert_same(ours, a, duck, b)
    assert_same_gold(tmp_path, a)


@pytest.mark.parametrize(("values", "reason", "_"), BAD_VALUES)
def test_each_rule_gives_today_s_reason(tmp_path, values, reason, _):
    lines = [row(), row(**{"OP_CARRIER_FL_NUM": "7", **values})]
    ours, a, duck, b = both(tmp_path, (CSV_HEADER + "".join(lines)).encode())
    assert duck.quarantine_reasons == {reason: 1}
    assert_same(ours, a, duck, b)


@pytest.mark.parametrize(
    "values",
    [{"DEP_DELAY": "nan"}, {"TAXI_OUT": "NaN"}, {"ORIGIN": "NA"}, {"CANCELLATION_CODE": "NULL"}],
)
def test_null_spellings_as_today(tmp_path, values):
    lines = [row(), row(**{"OP_CARRIER_FL_NUM": "7", **values})]
    assert_same(*both(tmp_path, (CSV_HEADER + "".join(lines)).encode()))


@pytest.mark.parametrize("case", sorted(FLIGHT_QUARANTINE))
def test_flight_corpus_quarantine_as_today(tmp_path, case):
    ours, a, duck, b = both(tmp_path, (CORPUS / case).read_bytes())
    assert duck.quarantine_reasons == FLIGHT_QUARANTINE[case]
    assert_same(ours, a, duck, b)


def test_truncated_last_line_and_gzip(tmp_path, nyc_csv):
    data = nyc_csv[: len(nyc_csv) - 40]  # the last line cut short, no final newline
    ours, a, duck, b = both(tmp_path, gzip.compress(data))
    assert duck.counts["malformed_rows"] == 1
    assert_same(ours, a, duck, b)


def test_header_checked_by_name(tmp_path):
    swapped = CSV_HEADER.replace("ORIGIN,DEST", "DEST,ORIGIN")
    raw = tmp_path / "raw.csv"
    raw.write_text(swapped + row())
    with pytest.raises(engine_duckdb.RawFileError, match="canonical"):
        engine_duckdb.clean_to_parquet(str(raw), 2013, str(tmp_path / "b.parquet"))
