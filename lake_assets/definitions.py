"""Code location `lake`: only assembles what the modules beside it define."""

import dagster as dg

from lake_assets import assets, freshness, schedules, sensors
from lake_assets.resources import lake_resources
from resources.deployment import executor

defs = dg.Definitions(
    assets=dg.load_assets_from_modules([assets]),
    asset_checks=dg.load_asset_checks_from_modules([freshness]),
    schedules=schedules.SCHEDULES,
    sensors=sensors.SENSORS,
    resources=lake_resources(),
    executor=executor(),
)
