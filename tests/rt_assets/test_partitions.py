"""Run dates end where the COVID source's coverage ends (COVID_SOURCE_LAST_DATE)."""

import datetime as dt
import json
import os
import subprocess
import sys
from pathlib import Path

import dagster as dg
import pytest
from dagster._core.definitions.partitions.context import partition_loading_context

from resources.settings import covid_source_last_date
from rt_assets import partitions, sources
from rt_assets.freshness import FRESHNESS_CHECKS
from rt_assets.schedules import newest_date, rt_daily_schedule
from rt_assets.sensors import rt_freshness_sensor

ROOT = Path(__file__).resolve().parents[2]
LATER = dt.datetime(2026, 12, 1, 6, 0, tzinfo=dt.UTC)


def test_the_setting_defaults_to_the_bundled_archive_and_empty_or_open_leave_it_open(
    monkeypatch,
):
    monkeypatch.delenv("COVID_SOURCE_LAST_DATE", raising=False)
    assert covid_source_last_date("2021-03-07") == "2021-03-07"
    for open_value in ("", "  ", "open", "OPEN"):
        monkeypatch.setenv("COVID_SOURCE_LAST_DATE", open_value)
        assert covid_source_last_date("2021-03-07") is None, open_value
    monkeypatch.setenv("COVID_SOURCE_LAST_DATE", " 2021-01-31 ")
    assert covid_source_last_date("2021-03-07") == "2021-01-31"
    monkeypatch.setenv("COVID_SOURCE_LAST_DATE", "31/01/2021")
    with pytest.raises(ValueError, match="COVID_SOURCE_LAST_DATE must be a date YYYY-MM-DD"):
        covid_source_last_date("2021-03-07")


def test_default_run_dates_are_exactly_those_the_bundled_archive_serves():
    keys = partitions.date_partitions.get_partition_keys(current_time=LATER)
    assert keys[0] == partitions.RT_START_DATE
    assert keys[-1] == partitions.LAST_RUN_DATE == "2021-03-08"
    table = sources.read_source(sources.fetch_source(sources.bundled_archive_path()))
    # Every run date can be counted, and the day after the last cannot.
    for run_date in (keys[0], keys[-1]):
        sources.check_run_date(table, run_date)
    with pytest.raises(sources.SourceError, match="outside the coverage"):
        sources.check_run_date(table, "2021-03-09")
    assert not partitions.COVERAGE_IS_OPEN


def test_open_coverage_keeps_run_dates_up_to_yesterday():
    open_dates = partitions.build_date_partitions(None)
    with partition_loading_context(effective_dt=LATER):
        assert open_dates.get_last_partition_key() == "2026-11-30"
    assert newest_date(LATER, open_dates) == "2026-11-30"
    ended = partitions.build_date_partitions("2021-01-31")
    assert newest_date(LATER, ended) == "2021-02-01"
    # Before the end the schedule's date is the day's, as in open mode.
    assert newest_date(dt.datetime(2021, 1, 10, 6, tzinfo=dt.UTC), ended) == "2021-01-09"


def test_schedule_never_asks_past_coverage_and_starts_stopped_for_an_archive():
    with dg.instance_for_test() as instance:
        context = dg.build_schedule_context(instance=instance, scheduled_execution_time=LATER)
        request = rt_daily_schedule(context)
        assert request.tags["rt/run-date"] == "2021-03-08"
        assert request.partition_key == "2021-03-08|AK"
    assert rt_daily_schedule.default_status == dg.DefaultScheduleStatus.STOPPED
    assert rt_freshness_sensor.default_status == dg.DefaultSensorStatus.STOPPED


def test_freshness_checks_expect_the_last_covered_date_not_today():
    from rt_assets.definitions import defs

    checks_only = dg.define_asset_job(
        "freshness_only", selection=dg.AssetSelection.checks(*FRESHNESS_CHECKS)
    )
    job = dg.Definitions.merge(defs, dg.Definitions(jobs=[checks_only])).resolve_job_def(
        "freshness_only"
    )
    with dg.instance_for_test() as instance:
        result = job.execute_in_process(instance=instance)
    evaluations = result.get_asset_check_evaluations()
    assert len(evaluations) == 3
    for evaluation in evaluations:
        assert not evaluation.passed
        assert "partition 2021-03-08" in evaluation.description, evaluation.description


@pytest.mark.slow
def test_an_empty_setting_loads_the_location_open_ended_with_the_schedule_running():
    # Read at load: a fresh interpreter with the live-source setting (the rehearsal's).
    env = {**os.environ, "COVID_SOURCE_LAST_DATE": ""}
    script = (
        "import json, dagster as dg\n"
        "from rt_assets.definitions import defs\n"
        "from rt_assets import partitions\n"
        "schedule = defs.resolve_schedule_def('rt_daily')\n"
        "sensor = defs.resolve_sensor_def('rt_freshness_checks')\n"
        "print(json.dumps({'last': partitions.date_partitions.get_last_partition_key(),\n"
        "  'end': str(partitions.date_partitions.end), 'schedule': schedule.default_status.value,\n"
        "  'sensor': sensor.default_status.value}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], cwd=ROOT, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    loaded = json.loads(done.stdout.strip().splitlines()[-1])
    yesterday = (dt.datetime.now(dt.UTC).date() - dt.timedelta(days=1)).isoformat()
    assert loaded["last"] == yesterday
    assert loaded["end"] == "None"
    assert loaded["schedule"] == "RUNNING" and loaded["sensor"] == "RUNNING"


def test_date_and_state_reads_a_plain_string_key_and_a_multi_partition_key():
    """A run launched with only the dagster/partition tag gives the step a plain string."""
    import dagster as dg

    from rt_assets.partitions import date_and_state

    multi = dg.MultiPartitionKey({"date": "2021-01-15", "state": "NY"})
    assert date_and_state("2021-01-15|NY") == ("2021-01-15", "NY")
    assert date_and_state(multi) == ("2021-01-15", "NY")
