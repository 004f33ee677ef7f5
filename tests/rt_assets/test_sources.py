"""Source readers: both formats, gzip, coverage, and what a run may see."""

import pandas as pd
import pytest

from rt_assets import sources


def test_archive_format_normalised(archive_bytes):
    table = sources.read_source(archive_bytes, "fixture")
    assert table.attrs["format"] == sources.ARCHIVE
    assert list(table.columns) == sources.NORMALISED_COLUMNS
    aa = table[table["region"] == "VT"]
    assert list(aa["date"].dt.strftime("%Y-%m-%d")) == [
        "2020-04-01", "2020-04-02", "2020-04-03", "2020-04-04", "2020-04-05"
    ]  # fmt: skip
    # tests come from totalTestResults, not positive + negative
    assert list(aa["tests_cumulative"]) == [0, 100, 150, 250, 400]
    assert pd.isna(aa["positive_cumulative"].iloc[0])
    assert list(aa["new_deaths"]) == [0, 0, 2, 0, 1]


def test_v1_format_with_integer_dates_and_total(v1_bytes):
    table = sources.read_source(v1_bytes, "v1 fixture")
    assert table.attrs["format"] == sources.V1
    assert table["date"].min() == pd.Timestamp("2020-04-02")
    assert list(table["tests_cumulative"]) == [100, 150, 250, 400]
    # v1 has cumulative deaths only: daily deaths are their differences
    assert list(table["new_deaths"].iloc[1:]) == [2, 0, 1]


def test_gzip_and_plain_read_the_same(archive_bytes):
    gz = sources.gzip_bytes(archive_bytes)
    assert sources.is_gzip(gz) and sources.gzip_bytes(gz) == gz
    assert sources.gzip_bytes(archive_bytes) == gz  # deterministic
    pd.testing.assert_frame_equal(sources.read_source(gz), sources.read_source(archive_bytes))


def test_bad_dates_name_rows():
    bad = b"date,state,positive,totalTestResults\n2020-04-01,VT,1,2\n04/02/2020,VT,2,3\n"
    with pytest.raises(sources.SourceError, match=r"rows \[3\] hold \['04/02/2020'\]"):
        sources.read_source(bad, "bad.csv")


def test_missing_columns_are_named():
    with pytest.raises(sources.SourceError, match="needs columns 'date' and 'state'"):
        sources.read_source(b"day,region\n1,2\n", "x.csv")
    with pytest.raises(sources.SourceError, match="totalTestResults"):
        sources.read_source(b"date,state,positive\n20200401,VT,1\n", "x.csv")


def test_duplicate_rows_are_rejected():
    dup = b"date,state,positive,total\n20200401,VT,1,2\n20200401,VT,2,3\n"
    with pytest.raises(sources.SourceError, match="duplicate"):
        sources.read_source(dup, "dup.csv")


def test_run_date_outside_coverage_names_the_range(archive_bytes):
    table = sources.read_source(archive_bytes, "fixture")
    assert sources.check_run_date(table, "2020-04-06").describe() == "2020-04-01 to 2020-04-05"
    with pytest.raises(sources.SourceError) as err:
        sources.check_run_date(table, "2020-04-07", "fixture")
    message = str(err.value)
    assert "covers 2020-04-01 to 2020-04-05" in message
    assert "needs data up to 2020-04-06" in message
    assert "run dates 2020-04-02 to 2020-04-06" in message
    with pytest.raises(sources.SourceError, match="covers 2020-04-01"):
        sources.check_run_date(table, "2020-04-01")


def test_as_of_keeps_only_data_published_before_the_run_date(archive_bytes):
    table = sources.read_source(archive_bytes)
    seen = sources.as_of(table, "2020-04-04")
    assert seen["date"].max() == pd.Timestamp("2020-04-03")


def test_source_location_reads_env_when_called(monkeypatch, archive_gz):
    monkeypatch.delenv(sources.SOURCE_ENV, raising=False)
    assert sources.source_location().endswith(sources.BUNDLED_ARCHIVE)
    monkeypatch.setenv(sources.SOURCE_ENV, str(archive_gz))
    assert sources.source_location() == str(archive_gz)
    assert sources.fetch_source(str(archive_gz)) == archive_gz.read_bytes()
    with pytest.raises(sources.SourceError, match="does not exist"):
        sources.fetch_source(str(archive_gz) + ".missing")


def test_bundled_archive_is_the_final_ctp_file():
    table = sources.read_source(sources.fetch_source(sources.bundled_archive_path()))
    assert len(table) == 20780
    assert sources.coverage(table).describe() == "2020-01-13 to 2021-03-07"
    # The embedded end of the run dates (COVID_SOURCE_LAST_DATE's default) is the data's.
    assert f"{sources.coverage(table).last:%Y-%m-%d}" == sources.BUNDLED_LAST_DATE
    assert set(sources.STATES) <= set(table["region"])
    assert len(sources.STATES) == 51
