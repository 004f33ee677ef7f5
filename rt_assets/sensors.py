"""Sensors of the rt code location.

- ``rt_daily_fanout``: phases 2 and 3 of the daily schedule. When a run launched by
  the ``rt_daily`` schedule has stored a date's snapshot (``rt/raw_counts`` for the
  day's first state), it launches one backfill: every date x state asset for every
  state of that date (counts, inference, summary) and the date's publication. The
  backfill daemon runs it in dependency order; the ``rt_inference`` pool caps
  concurrent inference steps. It is the same backfill a user launches from the
  Materialize dialog for that date and all states.
- ``rt_freshness_checks``: evaluates the freshness checks of freshness.py.
- ``rt_check_alerts`` / ``rt_run_failure_alerts``: alerts (resources/alert_sensors.py).
"""

import json

import dagster as dg

from resources.alert_sensors import build_check_alert_sensor, build_run_failure_alert_sensor
from resources.dagster_private import AssetGraphSubset, AssetKeyPartitionKey
from resources.settings import daily_states
from rt_assets import keys
from rt_assets.freshness import FRESHNESS_CHECKS
from rt_assets.partitions import (
    COVERAGE_IS_OPEN,
    date_and_state,
    date_state_key,
    state_partitions,
)
from rt_assets.phases import DAILY_PHASES, daily_phases
from rt_assets.schedules import SCHEDULE_NAME

SNAPSHOT = keys.RAW_COUNTS


def fanout_partitions(asset_graph, date: str, states: list[str]) -> set[AssetKeyPartitionKey]:
    """Phases 2 and 3 of the daily run (rt_assets/phases.py) for ``date``, all ``states``."""
    phases = daily_phases(asset_graph)
    return {
        *(AssetKeyPartitionKey(k, date_state_key(date, s)) for k in phases.state for s in states),
        *(AssetKeyPartitionKey(k, date) for k in phases.publish),
    }


@dg.sensor(
    name="rt_daily_fanout",
    # A sensor that requests an asset graph subset must declare the assets it may
    # request; without it the daemon refuses every tick ("Can only yield RunRequests
    # with asset_graph_subset for sensors with an asset_selection").
    asset_selection=dg.AssetSelection.assets(*DAILY_PHASES.state, *DAILY_PHASES.publish),
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "After the rt_daily schedule's snapshot run: one backfill of counts, inference and "
        "summary for all 51 states (or those in RT_DAILY_STATES), then national CSV, staging "
        "and publication, for that date."
    ),
)
def rt_daily_fanout(context: dg.SensorEvaluationContext):
    after = int(context.cursor) if context.cursor else None
    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=SNAPSHOT, after_storage_id=after),
        limit=100,
        ascending=True,
    ).records
    asset_graph = context.repository_def.asset_graph
    states = daily_states(state_partitions.get_partition_keys())
    launched = []
    for record in records:
        after = record.storage_id
        run = context.instance.get_run_by_id(record.run_id)
        if run is None or run.tags.get("dagster/schedule_name") != SCHEDULE_NAME:
            continue  # manual and re-run materializations bring their own downstream runs
        date, _ = date_and_state(record.partition_key)
        subset = AssetGraphSubset.from_asset_partition_set(
            fanout_partitions(asset_graph, date, states), asset_graph
        )
        launched.append(date)
        yield dg.RunRequest.for_asset_graph_subset(
            subset, tags={"rt/phase": "states", "rt/run-date": date}
        )
    if after is not None:
        context.update_cursor(str(after))
    if not launched:
        yield dg.SkipReason("no new scheduled snapshot run")
    else:
        context.log.info(f"launched the states backfill for {json.dumps(launched)}")


rt_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=FRESHNESS_CHECKS,
    name="rt_freshness_checks",
    minimum_interval_seconds=300,
    # A fixed archive has no newest day to be late with: its checks would only say the
    # last covered date is unpublished, from the first evaluation on.
    default_status=(
        dg.DefaultSensorStatus.RUNNING if COVERAGE_IS_OPEN else dg.DefaultSensorStatus.STOPPED
    ),
)

SENSORS: list = [
    rt_daily_fanout,
    rt_freshness_sensor,
    build_check_alert_sensor("rt_check_alerts"),
    build_run_failure_alert_sensor("rt_run_failure_alerts"),
]
