"""The lake's schedule: each month, refresh the year that received the newest data.

US on-time data is published monthly; ``LAKE_SCHEDULE_CRON`` (UTC, default
``0 7 2 * *``: the 2nd of each month, 07:00) sets when. The run covers the
whole bronze -> warehouse chain for the year of the newest landed piece
(``landing.newest_piece``: in January that is usually still last year's
December), once per year and month of the schedule; files that land in
between are picked up by the ``lake_landing`` sensor.
"""

import dagster as dg

from lake_assets import keys
from lake_assets.landing import LANDING, newest_piece
from lake_assets.year_pieces import landed_files
from resources.io_manager import LakeIOManager
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
    description=(
        "Monthly: bronze -> warehouse for the year of the newest landed file in "
        "`<LAKE_URL>/landing/`."
    ),
)
def lake_monthly_schedule(
    context: dg.ScheduleEvaluationContext, io_manager: dg.ResourceParam[LakeIOManager]
):
    partitions_def = context.repository_def.asset_graph.get(BRONZE).partitions_def
    store = io_manager.store()
    folder = store.folder(LANDING)
    newest = newest_piece(list(landed_files(store)), set(partitions_def.get_partition_keys()))
    if newest is None:
        return dg.SkipReason(f"no landed file of a lake year in {folder}")
    return dg.RunRequest(
        run_key=f"{newest.year}@{context.scheduled_execution_time:%Y-%m}",
        partition_key=newest.year,
        tags={"lake/newest-piece": newest.key},
    )


SCHEDULES: list = [lake_monthly_schedule]
