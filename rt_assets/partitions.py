"""Partitions of the rt pipeline: run dates, states, and their product.

A multi-partition key reads ``2021-01-15|NY`` (dimensions ``date`` and ``state``).

Run date ``D`` uses the source's data up to ``D - 1``, so the run dates end the day
after the source's last day of data: ``COVID_SOURCE_LAST_DATE`` (read when the code
location loads; default the bundled archive's last date, 2021-03-07, so the last run
date is 2021-03-08). Empty or ``open``: a live source, run dates up to yesterday as
Dagster's daily partitions have them (the partition of today completes at midnight).
"""

import datetime as dt

import dagster as dg

from resources.settings import covid_source_last_date
from rt_assets.sources import BUNDLED_LAST_DATE, STATES

RT_START_DATE = "2020-03-01"


def last_run_date(last_data_date: str | None) -> str | None:
    """The last run date a source whose data end on ``last_data_date`` can serve."""
    if last_data_date is None:
        return None
    return (dt.date.fromisoformat(last_data_date) + dt.timedelta(days=1)).isoformat()


def build_date_partitions(last_data_date: str | None) -> dg.DailyPartitionsDefinition:
    """Run dates from RT_START_DATE to the day after ``last_data_date`` (None: open ended)."""
    last = last_run_date(last_data_date)
    # end_date is exclusive: the partition of the last run date is the last one.
    end = (dt.date.fromisoformat(last) + dt.timedelta(days=1)).isoformat() if last else None
    return dg.DailyPartitionsDefinition(start_date=RT_START_DATE, end_date=end)


SOURCE_LAST_DATE = covid_source_last_date(BUNDLED_LAST_DATE)
LAST_RUN_DATE = last_run_date(SOURCE_LAST_DATE)
# A fixed archive brings no new day: the daily schedule and the freshness checks have
# nothing to wait for, so they start stopped (a person may still turn them on).
COVERAGE_IS_OPEN = SOURCE_LAST_DATE is None

date_partitions = build_date_partitions(SOURCE_LAST_DATE)
state_partitions = dg.StaticPartitionsDefinition(list(STATES))
date_state_partitions = dg.MultiPartitionsDefinition(
    {"date": date_partitions, "state": state_partitions}
)

# A backfill runs the date|state assets' partitions in runs of up to this many: a run's
# launch (the queue, a new interpreter importing the code location, the model's cache) is
# paid once per batch instead of once per partition. Dagster groups a backfill's keys by
# the dimension with fewer distinct keys: consecutive dates of one state for a history,
# consecutive states of one date for a day of many states. Why 12: docs/operations.md,
# "Backfills run in batches".
BACKFILL_PARTITIONS_PER_RUN = 12
state_backfill_policy = dg.BackfillPolicy.multi_run(BACKFILL_PARTITIONS_PER_RUN)

# A per-date asset reads (or feeds) every state of its date.
by_date = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def run_dates_text() -> str:
    """The span of run dates, for messages: ``2020-03-01 to 2021-03-08``."""
    return f"{RT_START_DATE} to {LAST_RUN_DATE or 'yesterday'}"


def date_state_key(date: str, state: str) -> str:
    """The multi-partition key of one state on one run date, e.g. ``2021-01-15|NY``."""
    return str(dg.MultiPartitionKey({"date": date, "state": state}))


def date_and_state(partition_key: str) -> tuple[str, str]:
    """The run date and state of a ``date|state`` partition key. A run launched with only
    the ``dagster/partition`` tag (the GraphQL API, a script) gives the step a plain
    string rather than a ``MultiPartitionKey``; both read the same here."""
    keys = date_state_partitions.get_partition_key_from_str(str(partition_key))
    dims = keys.keys_by_dimension
    return dims["date"], dims["state"]
