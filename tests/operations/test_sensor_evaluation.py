"""The production sensors evaluated against a real Dagster instance, through
``evaluate_tick`` (the daemon's own path, with its checks on what a sensor may yield).

``rt_daily_fanout`` reads the instance's materializations of the counts and must
turn a scheduled counts run into exactly one backfill for that date (every state
downstream, nothing for other dates), and ignore manual counts runs.
``lake_landing`` lists the landing folder of the lake and must start one run per
new or changed file.
"""

from __future__ import annotations

import dagster as dg
import pytest

from rt_assets.partitions import state_partitions
from rt_assets.schedules import SCHEDULE_NAME

SCHEDULED_DATE = "2020-05-01"
MANUAL_DATE = "2020-05-02"


@pytest.fixture()
def rt_defs(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "lake"))
    monkeypatch.delenv("DAGSTER_DEPLOYMENT", raising=False)
    from rt_assets.definitions import defs
    from rt_assets.resources import rt_resources

    return defs, rt_resources()


def _snapshot(defs, instance, resources, date: str, tags: dict[str, str]) -> None:
    """The date's snapshot, through its first state, as the rt_daily schedule's run does."""
    result = dg.materialize(
        [defs.get_assets_def(dg.AssetKey(["rt", "raw_counts"]))],
        partition_key=f"{date}|AK",
        instance=instance,
        resources=resources,
        tags=tags,
    )
    assert result.success


def test_fanout_turns_a_scheduled_snapshot_run_into_one_backfill(rt_defs, tmp_path):
    defs, resources = rt_defs
    sensor = defs.get_sensor_def("rt_daily_fanout")
    with dg.instance_for_test() as instance:
        _snapshot(defs, instance, resources, MANUAL_DATE, tags={})
        _snapshot(
            defs, instance, resources, SCHEDULED_DATE, {"dagster/schedule_name": SCHEDULE_NAME}
        )
        repo = defs.get_repository_def()

        context = dg.build_sensor_context(instance=instance, repository_def=repo)
        requests = sensor.evaluate_tick(context).run_requests
        runs = list(requests)
        assert len(runs) == 1, requests
        request = runs[0]
        assert request.tags["rt/run-date"] == SCHEDULED_DATE
        wanted = {
            (p.asset_key.to_user_string(), p.partition_key)
            for p in request.asset_graph_subset.iterate_asset_partitions()
        }
        states = state_partitions.get_partition_keys()
        assert len(states) == 51
        # Every state's counts, model and summary: the same backfill as the Materialize
        # dialog's for that date and all states.
        for key in ("rt/raw_counts", "rt/processed_counts", "rt/inference", "rt/summary"):
            assert {p for k, p in wanted if k == key} == {f"{SCHEDULED_DATE}|{s}" for s in states}
        for key in ("rt/national_csv", "rt/staged_msgpack", "rt/published_msgpack"):
            assert (key, SCHEDULED_DATE) in wanted, key
        # nothing for the manual date
        assert not any(p and p.startswith(MANUAL_DATE) for _, p in wanted)

        # The cursor moved past both records: the next tick launches nothing.
        again = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repo, cursor=context.cursor)
        )
        assert not again.run_requests
        assert again.skip_message == "no new scheduled snapshot run"


def test_landing_sensor_starts_one_run_per_new_file(tmp_path, monkeypatch):
    lake = tmp_path / "lake"
    monkeypatch.setenv("LAKE_URL", str(lake))
    monkeypatch.delenv("DAGSTER_DEPLOYMENT", raising=False)
    from lake_assets.definitions import defs

    sensor = defs.get_sensor_def("lake_landing")
    repo = defs.get_repository_def()
    # As the daemon does: the sensor gets the resources it requires, here the IO manager
    # whose lake it watches.
    watching = {"io_manager": repo.get_top_level_resources()["io_manager"]}
    (lake / "landing").mkdir(parents=True)
    (lake / "landing" / "2013.csv").write_text("FL_DATE,DEP_DELAY\n2013-01-01,3\n")
    (lake / "landing" / "readme.txt").write_text("not a year")
    with dg.instance_for_test() as instance:
        first = sensor.evaluate_tick(
            dg.build_sensor_context(instance=instance, repository_def=repo, resources=watching)
        )
        assert [r.partition_key for r in first.run_requests] == ["2013"]
        assert first.run_requests[0].tags["lake/landing-file"] == "2013.csv"
        second = sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, repository_def=repo, resources=watching, cursor=first.cursor
            )
        )
        assert not second.run_requests
        # A new version of the same file is a new run with a new run key.
        (lake / "landing" / "2013.csv").write_text("FL_DATE,DEP_DELAY\n2013-01-02,5\n")
        third = sensor.evaluate_tick(
            dg.build_sensor_context(
                instance=instance, repository_def=repo, resources=watching, cursor=second.cursor
            )
        )
        assert [r.partition_key for r in third.run_requests] == ["2013"]
        assert third.run_requests[0].run_key != first.run_requests[0].run_key


def test_fanout_estimates_only_the_configured_states(rt_defs, tmp_path, monkeypatch):
    defs, resources = rt_defs
    monkeypatch.setenv("RT_DAILY_STATES", "vt, NH")
    sensor = defs.get_sensor_def("rt_daily_fanout")
    with dg.instance_for_test() as instance:
        _snapshot(
            defs, instance, resources, SCHEDULED_DATE, {"dagster/schedule_name": SCHEDULE_NAME}
        )
        context = dg.build_sensor_context(
            instance=instance, repository_def=defs.get_repository_def()
        )
        (request,) = sensor.evaluate_tick(context).run_requests
        inference = {
            p.partition_key
            for p in request.asset_graph_subset.iterate_asset_partitions()
            if p.asset_key == dg.AssetKey(["rt", "inference"])
        }
        assert inference == {f"{SCHEDULED_DATE}|NH", f"{SCHEDULED_DATE}|VT"}
        monkeypatch.setenv("RT_DAILY_STATES", "VT,XX")
        with pytest.raises(Exception, match=r"unknown state codes \['XX'\]"):
            sensor.evaluate_tick(
                dg.build_sensor_context(instance=instance, repository_def=defs.get_repository_def())
            )
