"""The lake's schedule: refresh the newest year each month (new months of flights).

US on-time data is published monthly; ``LAKE_SCHEDULE_CRON`` (UTC, default
``0 7 2 * *``: the 2nd of each month, 07:00) sets when. The run covers the
whole bronze -> warehouse chain for the newest year partition; files that land
in between are picked up by the ``lake_landing`` sensor.
"""

import dagster as dg

from lake_assets import keys
from resources.settings import LAKE_SCHEDULE_CRON, lake_schedule_cron

BRONZE = keys.BRONZE_FLIGHTS
# bronze and everything downstream of it in this code location.
LAKE_CHAIN = dg.AssetSelection.assets(BRONZE).downstream()
DEFAULT_CRON = LAKE_SCHEDULE_CRON.default


@dg.schedule(
    name="lake_monthly",
    cron_schedule=lake_schedule_cron(),
    execution_timezone="UTC",
    target=LAKE_CHAIN,
    description="Monthly: bronze -> warehouse for the newest year partition.",
)
def lake_monthly_schedule(context: dg.ScheduleEvaluationContext):
    partitions_def = context.repository_def.asset_graph.get(BRONZE).partitions_def
    keys = partitions_def.get_partition_keys()
    if not keys:
        return dg.SkipReason("the lake has no year partition yet")
    year = max(keys)
    return dg.RunRequest(
        run_key=f"{year}@{context.scheduled_execution_time:%Y-%m}", partition_key=year
    )


SCHEDULES: list = [lake_monthly_schedule]
