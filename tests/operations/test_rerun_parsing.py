"""The re-run command's pure parts: argument parsing and the backfill selection."""

import pytest

from rt_assets.rerun import (
    RerunError,
    backfill_url,
    nodes_from_graphql,
    parse_dates,
    parse_states,
    partitions_by_assets,
)


def _node(key, downstream, ptype, dims=()):
    return {
        "assetKey": {"path": key.split("/")},
        "dependedByKeys": [{"path": d.split("/")} for d in downstream],
        "partitionDefinition": (
            {"type": ptype, "dimensionTypes": [{"name": n, "type": "X"} for n in dims]}
            if ptype
            else None
        ),
    }


GRAPH = {
    "assetNodes": [
        _node("rt/raw_counts", ["rt/processed_counts"], "TIME_WINDOW"),
        _node("rt/processed_counts", ["rt/inference", "rt/summary"], "TIME_WINDOW"),
        _node("rt/inference", ["rt/summary"], "MULTIPARTITIONED", ("date", "state")),
        _node("rt/summary", ["rt/national_csv"], "MULTIPARTITIONED", ("date", "state")),
        _node("rt/national_csv", ["rt/staged_msgpack"], "TIME_WINDOW"),
        _node("rt/staged_msgpack", ["rt/published_msgpack"], "TIME_WINDOW"),
        _node("rt/published_msgpack", ["rt/site"], "TIME_WINDOW"),
        _node("rt/site", [], None),
        _node("lake/bronze_flights", [], "STATIC"),
    ]
}


def test_parse_dates_range_and_list():
    assert parse_dates("2021-03-01..2021-03-03") == ["2021-03-01", "2021-03-02", "2021-03-03"]
    assert parse_dates("2021-03-05,2021-03-01") == ["2021-03-01", "2021-03-05"]
    with pytest.raises(RerunError, match="ends before"):
        parse_dates("2021-03-05..2021-03-01")
    with pytest.raises(RerunError, match="YYYY-MM-DD"):
        parse_dates("March")


def test_parse_states():
    assert parse_states("ny, CA") == ["CA", "NY"]
    assert len(parse_states("all")) == 51
    with pytest.raises(RerunError, match="XX"):
        parse_states("NY,XX")


def test_selection_covers_exactly_the_downstream_partitions():
    nodes = nodes_from_graphql(GRAPH)
    selection = partitions_by_assets(nodes, ["2021-03-01", "2021-03-02"], ["CA", "NY"])
    by_key = {"/".join(e["assetKey"]["path"]): e["partitions"] for e in selection}
    # raw_counts is upstream and the lake is unrelated: neither is re-run.
    assert set(by_key) == {
        "rt/processed_counts",
        "rt/inference",
        "rt/summary",
        "rt/national_csv",
        "rt/staged_msgpack",
        "rt/published_msgpack",
        "rt/site",
    }
    assert [r["start"] for r in by_key["rt/inference"]["ranges"]] == [
        "2021-03-01|CA",
        "2021-03-01|NY",
        "2021-03-02|CA",
        "2021-03-02|NY",
    ]
    assert all(r["start"] == r["end"] for r in by_key["rt/summary"]["ranges"])
    assert [r["start"] for r in by_key["rt/national_csv"]["ranges"]] == [
        "2021-03-01",
        "2021-03-02",
    ]
    assert by_key["rt/site"] is None


def test_missing_root_is_named():
    with pytest.raises(RerunError, match="rt/processed_counts"):
        partitions_by_assets({}, ["2021-03-01"], ["NY"])


def test_backfill_url():
    # Dagster 1.13's backfill page; "?tab=partitions" is not one of its tabs (an empty page).
    assert backfill_url("http://x:3000/", "abc") == "http://x:3000/runs/b/abc"


def test_from_the_snapshot_adds_the_raw_counts_of_the_dates():
    nodes = nodes_from_graphql(GRAPH)
    selection = partitions_by_assets(nodes, ["2021-03-01"], ["VT"], root="rt/raw_counts")
    by_key = {"/".join(e["assetKey"]["path"]): e["partitions"] for e in selection}
    assert list(by_key)[:2] == ["rt/raw_counts", "rt/processed_counts"]
    assert by_key["rt/raw_counts"] == {"ranges": [{"start": "2021-03-01", "end": "2021-03-01"}]}
    assert by_key["rt/inference"] == {
        "ranges": [{"start": "2021-03-01|VT", "end": "2021-03-01|VT"}]
    }
    assert "lake/bronze_flights" not in by_key
