"""The daily run's phases come from the asset graph: an asset added to the graph joins
its phase in the jobs, ``run_daily``'s runs and the fan-out sensor without being listed."""

import dagster as dg
import pytest

from rt_assets import jobs, pipeline
from rt_assets.partitions import date_partitions
from rt_assets.phases import DAILY_ASSETS, DAILY_PHASES, daily_phases, graph_of
from rt_assets.resources import rt_resources
from rt_assets.sensors import fanout_partitions

# A throwaway asset after rt/published_csv; the product's graph is left as it is.
MIRROR = dg.AssetKey(["rt", "published_csv_mirror"])


@dg.asset(key=MIRROR, deps=[dg.AssetKey(["rt", "published_csv"])], partitions_def=date_partitions)
def published_csv_mirror() -> None:
    """Copies the published CSV elsewhere (test only)."""


EXTENDED = [*DAILY_ASSETS, published_csv_mirror]


def _names(keys) -> list[str]:
    return [k.to_user_string() for k in keys]


def _ops(job: dg.JobDefinition) -> set[str]:
    return {n.name for n in job.graph.node_defs}


def test_the_product_phases_follow_partitions_and_dependencies():
    # Phase 1 is the snapshot (the roots of the date x state assets); phase 2 every date x
    # state asset, so a backfill of chosen states starts from the snapshot.
    assert _names(DAILY_PHASES.counts) == ["rt/raw_counts"]
    assert _names(DAILY_PHASES.state) == [
        "rt/raw_counts",
        "rt/processed_counts",
        "rt/inference",
        "rt/summary",
    ]
    publish = _names(DAILY_PHASES.publish)
    assert set(publish) == {
        "rt/national_csv",
        "rt/staged_msgpack",
        "rt/published_msgpack",
        "rt/published_csv",
        "rt/site",
    }
    # Dependency order: what a phase-3 asset reads comes before it.
    assert publish.index("rt/national_csv") < publish.index("rt/staged_msgpack")
    assert publish.index("rt/published_msgpack") < publish.index("rt/site")


def test_an_asset_added_after_published_csv_joins_phase_3():
    phases = daily_phases(graph_of(EXTENDED))
    assert MIRROR in phases.publish
    assert (phases.counts, phases.state) == (DAILY_PHASES.counts, DAILY_PHASES.state)
    assert MIRROR not in DAILY_PHASES.publish  # the product is unchanged


def test_the_jobs_and_run_daily_runs_select_the_added_asset():
    resources = rt_resources()
    publish = pipeline.phase_job("publish", resources, definitions=EXTENDED)
    assert publish.name == jobs.rt_publication_job.name
    assert "rt__published_csv_mirror" in _ops(publish)
    assert _ops(publish) - {"rt__published_csv_mirror"} == _ops(
        pipeline.phase_job("publish", resources)
    )
    for phase in ("counts", "state"):
        assert "rt__published_csv_mirror" not in _ops(
            pipeline.phase_job(phase, resources, definitions=EXTENDED)
        )


def test_the_fanout_sensor_requests_the_added_asset():
    requested = fanout_partitions(graph_of(EXTENDED), "2020-05-15", ["NY", "VT"])
    assert (MIRROR, "2020-05-15") in {(p.asset_key, p.partition_key) for p in requested}


def test_the_fanout_requests_phases_2_and_3_of_the_product():
    requested = fanout_partitions(graph_of(DAILY_ASSETS), "2020-05-15", ["NY", "VT"])
    assert {(p.asset_key.to_user_string(), p.partition_key) for p in requested} == {
        ("rt/raw_counts", "2020-05-15|NY"),
        ("rt/raw_counts", "2020-05-15|VT"),
        ("rt/processed_counts", "2020-05-15|NY"),
        ("rt/processed_counts", "2020-05-15|VT"),
        ("rt/inference", "2020-05-15|NY"),
        ("rt/inference", "2020-05-15|VT"),
        ("rt/summary", "2020-05-15|NY"),
        ("rt/summary", "2020-05-15|VT"),
        ("rt/national_csv", "2020-05-15"),
        ("rt/staged_msgpack", "2020-05-15"),
        ("rt/published_msgpack", "2020-05-15"),
        ("rt/published_csv", "2020-05-15"),
        ("rt/site", "2020-05-15"),
    }


def test_an_asset_the_rules_cannot_place_stops_the_load():
    @dg.asset(key=dg.AssetKey(["rt", "unpartitioned_report"]), deps=[MIRROR])
    def unpartitioned_report() -> None:
        """Not partitioned by date: no phase of the daily run can hold it (test only)."""

    with pytest.raises(ValueError, match="no phase for rt/unpartitioned_report"):
        daily_phases(graph_of([*EXTENDED, unpartitioned_report]))
