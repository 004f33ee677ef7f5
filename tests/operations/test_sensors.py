"""Schedules and sensors evaluated with Dagster's test helpers, on a real instance."""

import datetime as dt
import json

import dagster as dg
import pytest

from lake_assets.landing import LandedFile, dump_cursor, load_cursor, plan_landing
from resources.alert_sensors import (
    CheckOutcome,
    alerts_for_outcomes,
    build_check_alert_sensor,
    run_failure_alert,
)
from resources.alerts import AlertsResource
from rt_assets.schedules import rt_daily_schedule
from tests.fixtures.run_failure import run_failure_context


def test_rt_daily_schedule_requests_newest_date_once():
    tick = dt.datetime(2021, 3, 8, 6, 0, tzinfo=dt.UTC)
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=tick)
        request = rt_daily_schedule(context)
        # The snapshot of the date, through the first state (the fan-out does the rest).
        assert request.partition_key == "2021-03-07|AK"
        assert request.run_key == "2021-03-07"
        assert request.tags["rt/run-date"] == "2021-03-07"

        def earlier_run(status: dg.DagsterRunStatus) -> None:
            tags = {"dagster/schedule_name": "rt_daily", "rt/run-date": "2021-03-07"}
            instance.add_run(dg.DagsterRun(job_name="rt_counts", status=status, tags=tags))

        # A failed earlier tick does not stop a later one; a successful one does.
        earlier_run(dg.DagsterRunStatus.FAILURE)
        assert rt_daily_schedule(context).partition_key == "2021-03-07|AK"
        earlier_run(dg.DagsterRunStatus.SUCCESS)
        skipped = rt_daily_schedule(context)
        assert isinstance(skipped, dg.SkipReason)
        assert "run date 2021-03-07 already has run" in skipped.skip_message


def test_landing_plan_runs_each_year_with_new_or_changed_files_once():
    years = {"2013", "2014"}
    files = [
        LandedFile("2013.csv", "a"),
        LandedFile("notes.txt", "n"),
        LandedFile("2030.csv", "z"),
        LandedFile("flights_2014.parquet", "p"),
    ]
    plan = plan_landing(files, {}, years)
    assert [(r.year, [f.name for f in r.files]) for r in plan.runs] == [("2013", ["2013.csv"])]
    assert {name: why.split(";")[0] for name, why in plan.ignored} == {
        "notes.txt": "not a CSV file",
        "2030.csv": "year 2030 is not a lake partition",
        "flights_2014.parquet": "not a CSV file",
    }
    assert "expected a name like 2014-03.csv" in dict(plan.ignored)["notes.txt"]
    cursor = dump_cursor(plan.seen)
    # Same files again: nothing runs and nothing is logged twice.
    again = plan_landing(files, load_cursor(cursor), years)
    assert again.runs == [] and again.ignored == []
    # A changed 2013 file and a new 2014 file run; the run key names the version.
    changed = [LandedFile("2013.csv", "b"), LandedFile("On_Time_2014.csv.gz", "c")]
    plan3 = plan_landing(changed, load_cursor(cursor), years)
    assert [r.run_key for r in plan3.runs] == [
        "landing:2013.csv@b",
        "landing:On_Time_2014.csv.gz@c",
    ]
    # Three months of 2014 landing together: one run for the year, not three.
    months = [LandedFile(f"2014-0{m}.csv", f"m{m}") for m in (1, 2, 3)]
    (run,) = plan_landing(months, load_cursor(cursor), years).runs
    assert run.year == "2014" and len(run.files) == 3
    assert run.label == "2014-01.csv +2 more"
    assert run.run_key.startswith("landing:2014:")
    # ... and a new version of one of them is a new run key.
    bumped = [*months[:2], LandedFile("2014-03.csv", "m3b")]
    assert plan_landing(bumped, {}, years).runs[0].run_key != run.run_key


def test_landing_plan_waits_for_uploads_in_progress():
    plan = plan_landing([LandedFile(".2013.csv.tmp", "x")], {}, None)
    assert plan.runs == [] and plan.seen == {}
    assert "temporary" in plan.ignored[0][1]


def _outcome(passed, check="freshness_check", partition="", run="r1", **kw):
    return CheckOutcome(
        asset="rt/published_csv",
        check=check,
        partition=partition,
        passed=passed,
        severity=kw.get("severity", "ERROR"),
        blocking=kw.get("blocking", False),
        run_id=run,
    )


def test_freshness_alerts_once_per_failure():
    alerts, failing = alerts_for_outcomes([_outcome(False, run="r1")], set())
    assert len(alerts) == 1 and alerts[0].kind == "freshness"
    # Still failing on the next evaluations: no new alert.
    alerts, failing = alerts_for_outcomes([_outcome(False, run="r2")] * 3, failing)
    assert alerts == []
    # Passes, then fails again: a new failure, a new alert.
    alerts, failing = alerts_for_outcomes([_outcome(True), _outcome(False, run="r5")], failing)
    assert [a.run_id for a in alerts] == ["r5"]


def test_blocking_and_warning_checks_alert_per_failed_evaluation():
    outcomes = [
        _outcome(False, check="converged", partition="2021-01-15|NY", blocking=True),
        _outcome(True, check="converged", partition="2021-01-15|CA", blocking=True),
        _outcome(False, check="rt_jump", partition="2021-01-15", severity="WARN"),
    ]
    alerts, failing = alerts_for_outcomes(outcomes, set())
    assert [(a.kind, a.partition, a.severity) for a in alerts] == [
        ("blocking_check", "2021-01-15|NY", "ERROR"),
        ("check_warning", "2021-01-15", "WARN"),
    ]
    assert failing == set()


def test_run_failure_alert_names_assets_partition_and_step():
    run = dg.DagsterRun(
        job_name="__ASSET_JOB",
        run_id="run-42",
        tags={"dagster/partition": "2021-01-15|NY"},
        asset_selection={dg.AssetKey(["rt", "inference"])},
    )
    alert = run_failure_alert(run, [("rt__inference", "ValueError: no data for NY")], "")
    assert alert.asset == "rt/inference"
    assert alert.partition == "2021-01-15|NY"
    assert "rt__inference failed: ValueError: no data for NY" in alert.what
    assert alert.run_id == "run-42"


# ---- the check alert sensor on a real instance with real check evaluations


@dg.asset(key=["ops_test", "table"])
def table():
    return 1


@dg.asset_check(asset=table, blocking=True)
def converged():
    return dg.AssetCheckResult(passed=False, description="r_hat 1.4 > 1.1")


# No deprecated Dagster call in the sensor (DagsterInstance.get_event_records is one in 1.13).
@pytest.mark.filterwarnings("error::DeprecationWarning")
def test_check_alert_sensor_reads_event_log_and_alerts_once(capture_server, alert_env):
    sensor = build_check_alert_sensor("ops_test_check_alerts")
    alerts = AlertsResource(webhook_url=capture_server.url + "/hook", ui_url="http://ui")
    defs = dg.Definitions(
        assets=[table], asset_checks=[converged], sensors=[sensor], resources={"alerts": alerts}
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize([table, converged], instance=instance, raise_on_error=False)
        run_id = result.run_id
        context = dg.build_sensor_context(
            instance=instance,
            repository_def=defs.get_repository_def(),
            resources={"alerts": alerts},
        )
        sensor(context)
        assert len(capture_server.requests) == 1
        body = capture_server.requests[0].body
        assert body["alert"]["kind"] == "blocking_check"
        assert body["alert"]["asset"] == "ops_test/table"
        assert "r_hat 1.4 > 1.1" in body["text"]
        assert f"http://ui/runs/{run_id}" in body["text"]
        # Next tick, nothing new in the event log: no second alert.
        context2 = dg.build_sensor_context(
            instance=instance,
            repository_def=defs.get_repository_def(),
            resources={"alerts": alerts},
            cursor=context.cursor,
        )
        sensor(context2)
        assert len(capture_server.requests) == 1
        assert json.loads(context2.cursor)["checks"]["ops_test/table:converged"] > 0


# ---- the run failure alert sensor on a real instance with real failed runs


@dg.asset(
    key=["ops_test", "flaky"],
    retry_policy=dg.RetryPolicy(max_retries=1, delay=0),
    partitions_def=dg.StaticPartitionsDefinition(["a"]),
)
def flaky():
    raise ValueError("disk quota exceeded on /lake")


def _failure_alert(result, instance, defs, alerts, capture_server) -> dict:
    from resources.alert_sensors import build_run_failure_alert_sensor

    sensor = build_run_failure_alert_sensor("ops_test_run_failures")
    context = run_failure_context(
        "ops_test_run_failures", instance, result.run_id, {"alerts": alerts}, defs
    )
    sensor(context)
    assert len(capture_server.requests) == 1
    return capture_server.requests[0].body


def test_run_failure_alert_gives_the_first_cause_not_the_retry_count(capture_server, alert_env):
    alert_env.setenv("DAGSTER_UI_URL", "https://dagster.example.org/rt/")
    alerts = AlertsResource(webhook_url=capture_server.url + "/hook")
    defs = dg.Definitions(assets=[flaky], resources={"alerts": alerts})
    with dg.instance_for_test() as instance:
        result = dg.materialize([flaky], instance=instance, partition_key="a", raise_on_error=False)
        body = _failure_alert(result, instance, defs, alerts, capture_server)
    assert body["alert"]["asset"] == "ops_test/flaky"
    assert body["alert"]["partition"] == "a"
    what = body["alert"]["what"]
    assert "ValueError: disk quota exceeded on /lake (Exceeded max_retries of 1)" in what, what
    assert f"https://dagster.example.org/rt/runs/{result.run_id}" in body["text"]


def test_missing_upstream_alert_names_the_partition_and_what_to_launch(
    capture_server, alert_env, tmp_path
):
    from resources.io_manager import LakeIOManager
    from rt_assets.assets import RtSampler, inference, processed_counts, raw_counts

    alerts = AlertsResource(webhook_url=capture_server.url + "/hook")
    defs = dg.Definitions(
        assets=[raw_counts, processed_counts, inference],
        resources={"alerts": alerts, "rt_sampler": RtSampler()},
    )
    with dg.instance_for_test() as instance:
        result = dg.materialize(
            [raw_counts, processed_counts, inference],
            selection=[inference],
            partition_key="2021-01-26|VT",
            instance=instance,
            resources={
                "io_manager": LakeIOManager(base_url=str(tmp_path / "lake")),
                "rt_sampler": RtSampler(),
            },
            raise_on_error=False,
        )
        body = _failure_alert(result, instance, defs, alerts, capture_server)
    assert body["alert"]["asset"] == "rt/inference"
    assert body["alert"]["partition"] == "2021-01-26|VT"
    what = body["alert"]["what"]
    assert (
        "rt__inference failed: missing upstream partition: rt/processed_counts partition "
        "2021-01-26|VT is not stored" in what
    ), what
    assert "Materialize rt/processed_counts for partition 2021-01-26|VT first" in what
    assert f"http://127.0.0.1:3000/runs/{result.run_id}" in body["text"]


def test_lake_monthly_schedule_refreshes_the_year_that_received_the_newest_file(
    tmp_path, monkeypatch
):
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "lake"))
    monkeypatch.delenv("DAGSTER_DEPLOYMENT", raising=False)
    from lake_assets.definitions import defs

    schedule = defs.get_schedule_def("lake_monthly")
    repo = defs.get_repository_def()
    io_manager = repo.get_top_level_resources()["io_manager"]
    when = dt.datetime(2015, 1, 2, 7, tzinfo=dt.UTC)

    def tick():
        with dg.build_schedule_context(
            scheduled_execution_time=when,
            repository_def=repo,
            resources={"io_manager": io_manager},
        ) as context:
            return schedule.evaluate_tick(context)

    empty = tick()
    assert not empty.run_requests
    assert "no landed file of a lake year" in empty.skip_message
    landing = tmp_path / "lake" / "landing"
    landing.mkdir(parents=True)
    for name in ("2013.csv", "2014-11.csv", "2014-12.csv", "notes.txt"):
        (landing / name).write_text("FL_DATE\n")
    # In January the newest data is last year's December: that year is refreshed.
    (request,) = tick().run_requests
    assert request.partition_key == "2014"
    assert request.run_key == "2014@2015-01"
    assert request.tags["lake/newest-piece"] == "2014-12"
