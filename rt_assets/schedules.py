"""The rt daily schedule: phase 1 (the date's snapshot) for the newest run date.

The pipeline mixes partitions definitions (date x state; date), and one Dagster
run has one partition key, so a day is two steps: this schedule materializes
``rt/raw_counts`` for the newest date and the first of the day's states, which
fetches and keeps the date's snapshot of the source once; when that run has
materialized it, the sensor ``rt_daily_fanout`` (sensors.py) launches one backfill
with every state's counts, inference and summary for that date and the national
CSV, staging and publication after them, which the daemon runs in dependency order
(inference steps limited by the ``rt_inference`` pool).

``RT_SCHEDULE_CRON`` (UTC, default ``0 6 * * *``) sets the time of day; it is read
when the code location loads. A tick never asks for a run date past the source's
coverage (``COVID_SOURCE_LAST_DATE``, rt_assets/partitions.py): the run dates end
there. With a fixed archive (the default) the schedule starts stopped; with a live
source (``COVID_SOURCE_LAST_DATE`` empty or ``open``) it starts running.
"""

import datetime as dt

import dagster as dg

from resources.settings import RT_SCHEDULE_CRON, daily_states, rt_schedule_cron
from rt_assets.partitions import (
    COVERAGE_IS_OPEN,
    date_partitions,
    date_state_key,
    state_partitions,
)
from rt_assets.phases import DAILY_PHASES

SCHEDULE_NAME = "rt_daily"
# Runs of an earlier tick that do not stop a later one from asking again.
RETRIED_BY_A_LATER_TICK = {dg.DagsterRunStatus.FAILURE, dg.DagsterRunStatus.CANCELED}
DEFAULT_CRON = RT_SCHEDULE_CRON.default
# Phase 1 of the daily run (rt_assets/phases.py): the date's snapshot.
PHASE_1 = DAILY_PHASES.selection("counts")
# The run date of a run this schedule started (its partition key is ``date|state``).
RUN_DATE_TAG = "rt/run-date"


def newest_date(
    now: dt.datetime, partitions_def: dg.TimeWindowPartitionsDefinition = date_partitions
) -> str | None:
    """The newest complete run date at ``now`` (the partition of yesterday's data), at most
    the last run date the source covers."""
    from resources.dagster_private import partition_loading_context

    # Dagster's public API has no "as of" argument; the loading context is how
    # its own schedules evaluate partitions at the tick's time, not the clock's.
    with partition_loading_context(effective_dt=now):
        return partitions_def.get_last_partition_key()


@dg.schedule(
    name=SCHEDULE_NAME,
    cron_schedule=rt_schedule_cron(),
    execution_timezone="UTC",
    target=PHASE_1,
    default_status=(
        dg.DefaultScheduleStatus.RUNNING if COVERAGE_IS_OPEN else dg.DefaultScheduleStatus.STOPPED
    ),
    description=(
        "Each day: the snapshot of the source for the newest run date it covers; the sensor "
        "rt_daily_fanout then runs all 51 states through publication. Starts stopped for a "
        "fixed archive (COVID_SOURCE_LAST_DATE set), running for a live source."
    ),
)
def rt_daily_schedule(context: dg.ScheduleEvaluationContext):
    date = newest_date(context.scheduled_execution_time)
    if date is None:
        return dg.SkipReason("no run date is complete yet")
    # A schedule's run key only de-duplicates within one tick: with a cron that fires
    # more than once a day, a later tick must not count (and fan out) the date again.
    # A failed or cancelled run does not count, so the next tick tries again.
    earlier = context.instance.get_runs(
        dg.RunsFilter(
            tags={"dagster/schedule_name": SCHEDULE_NAME, RUN_DATE_TAG: date},
            statuses=[s for s in dg.DagsterRunStatus if s not in RETRIED_BY_A_LATER_TICK],
        ),
        limit=1,
    )
    if earlier:
        return dg.SkipReason(
            f"run date {date} already has run {earlier[0].run_id} ({earlier[0].status.value})"
        )
    first_state = daily_states(state_partitions.get_partition_keys())[0]
    return dg.RunRequest(
        run_key=date,
        partition_key=date_state_key(date, first_state),
        tags={"rt/phase": "counts", RUN_DATE_TAG: date},
    )


SCHEDULES: list = [rt_daily_schedule]
