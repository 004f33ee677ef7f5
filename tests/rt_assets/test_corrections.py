"""Corrections: the table, the rules every region gets, and the bundled archive."""

import io

import pandas as pd
import pytest

from rt_assets import corrections, sources

HEADER = "id,region,start,end,action,column,value,active,reason,source,note\n"


def table(rows: str) -> pd.DataFrame:
    return corrections.load_corrections((HEADER + rows).encode(), "test.csv")


def test_daily_counts_clip_negative_changes_and_exclude_no_signal_days(archive_bytes):
    source = sources.read_source(archive_bytes)
    out = corrections.process_counts(source, "2020-04-06", table(""))
    assert list(out.columns) == corrections.PROCESSED_COLUMNS
    bb = out[out["region"] == "NH"].set_index(out[out["region"] == "NH"]["date"].dt.day)
    # NH positive went 7 -> 6: clipped to 0, not negative
    assert bb.loc[4, "positive"] == 0.0 and bb.loc[4, "total"] == 30.0
    aa = out[out["region"] == "VT"].set_index(out[out["region"] == "VT"]["date"].dt.day)
    # first day dropped (no previous day to difference); blank positive counted as 0
    assert list(aa.index) == [2, 3, 4, 5]
    assert list(aa["positive"]) == [10, 5, 10, 15]
    assert list(aa["total"]) == [100, 50, 100, 150]
    assert not aa["excluded"].any()
    assert bb.loc[5, "exclusion_reason"] == ""


def test_positives_at_least_tests_are_excluded_not_zeroed():
    src = pd.DataFrame(
        {
            "region": "VT",
            "date": pd.date_range("2020-04-01", periods=4),
            "positive_cumulative": [0.0, 10.0, 30.0, 35.0],
            "tests_cumulative": [0.0, 100.0, 110.0, 200.0],
            "new_deaths": 0.0,
        }
    )
    out = corrections.process_counts(src, "2020-04-05", table(""))
    day3 = out[out["date"] == "2020-04-03"].iloc[0]
    assert day3["excluded"] and day3["exclusion_reason"] == corrections.POSITIVES_GE_TESTS
    assert day3["positive"] == 20.0  # the value stays; the day only loses its weight


def test_table_actions_offset_set_exclude_drop_and_inactive(archive_bytes):
    rows = (
        "1,NH,,,drop_region,,,true,territory,test,\n"
        "2,VT,2020-04-04,,offset_cumulative,positive,-8,true,dump of 8 cases,test,\n"
        "3,VT,2020-04-02,2020-04-03,set_daily,tests,75,true,lumped tests,test,\n"
        "4,VT,2020-04-05,2020-04-05,exclude,,,true,bad day,test,\n"
        "5,VT,2020-04-05,,offset_cumulative,tests,1000,false,not in this vintage,test,why\n"
    )
    out = corrections.process_counts(sources.read_source(archive_bytes), "2020-04-06", table(rows))
    assert set(out["region"]) == {"VT"}
    aa = out.set_index(out["date"].dt.day)
    assert list(aa["positive"]) == [10, 5, 2, 15]  # 10 - 8 on the dump day
    assert list(aa["total"]) == [75, 75, 100, 150]  # inactive offset not applied
    assert aa.loc[5, "excluded"]
    assert aa.loc[5, "exclusion_reason"] == "correction 4: bad day"
    # the cumulative columns stay as the source reported them
    assert aa.loc[5, "positive_cumulative"] == 40.0


@pytest.mark.parametrize(
    ("row", "message"),
    [
        ("1,VT,2020-01-01,,explode,,,true,r,s,\n", "unknown action 'explode'"),
        ("1,VT,2020-01-01,,exclude,,,true,,s,\n", "needs a reason"),
        ("1,VT,2020-01-01,,set_daily,deaths,1,true,r,s,\n", "column must be"),
        ("1,VT,2020-13-01,,exclude,,,true,r,s,\n", "bad date"),
        ("1,VT,2020-01-01,,exclude,,,maybe,r,s,\n", "active must be"),
    ],
)
def test_malformed_table_rows_are_named(row, message):
    with pytest.raises(corrections.CorrectionsError, match=f"line 2: .*{message}|{message}"):
        table(row)


def test_bundled_table_and_archive():
    bundled = corrections.load_corrections()
    assert (bundled["reason"].str.len() > 0).all()
    assert len(corrections.corrections_version()) == 12
    assert corrections.corrections_version() != corrections.corrections_version(b"other")
    source = sources.read_source(sources.fetch_source(sources.bundled_archive_path()))
    out = corrections.process_counts(source, "2021-03-07")
    assert sorted(out["region"].unique()) == sorted(sources.STATES)
    assert out["date"].max() == pd.Timestamp("2021-03-06")
    assert (out[["positive", "total"]] >= 0).all().all()
    ny = out[out["region"] == "NY"]
    assert (ny["date"].diff().dropna() == pd.Timedelta(days=1)).all()
    # rt.live's NJ outlier day is excluded, with the table's reason
    nj = out[(out["region"] == "NJ") & (out["date"] == "2020-05-11")].iloc[0]
    assert nj["excluded"] and "correction 13" in nj["exclusion_reason"]
    observed = corrections.observed_for_model(out, "VT")
    assert observed.index.name == "date" and list(observed.columns) == [
        "positive", "total", "excluded"
    ]  # fmt: skip
    with pytest.raises(ValueError, match="no processed counts for region 'PR'"):
        corrections.observed_for_model(out, "PR")


def test_processed_counts_round_trip_parquet():
    out = corrections.process_counts(
        sources.read_source(sources.fetch_source(sources.bundled_archive_path())), "2020-04-01"
    )
    buf = io.BytesIO()
    out.to_parquet(buf, index=False)
    back = pd.read_parquet(io.BytesIO(buf.getvalue()))
    pd.testing.assert_frame_equal(back, out)
