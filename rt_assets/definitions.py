"""Code location `rt`: only assembles what the modules beside it define."""

import dagster as dg

from resources.deployment import executor
from rt_assets import assets, checks, freshness, jobs, schedules, sensors, site_assets
from rt_assets.resources import rt_resources

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets, site_assets]),
    asset_checks=dg.load_asset_checks_from_modules([checks, freshness]),
    jobs=jobs.JOBS,
    schedules=schedules.SCHEDULES,
    sensors=sensors.SENSORS,
    resources=rt_resources(),
    executor=executor(),
)
