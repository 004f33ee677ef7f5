"""Freshness check of the lake: the warehouse table.

Passes while ``lake/warehouse_delay_table`` was updated (any year) within
``LAKE_FRESHNESS_DAYS`` (default 35 days: the monthly schedule plus slack).
Evaluated by the ``lake_freshness_checks`` sensor; failures alert once through
``lake_check_alerts``. A ``FreshnessPolicy.time_window`` could say the same, but
the rt location needs its partition-aware checks (rt_assets/freshness.py says
why), and one mechanism in both keeps the WARN severity and the once-per-failure
alerts alike.
"""

import datetime as dt

import dagster as dg

from lake_assets import keys
from resources.settings import lake_freshness_days

WAREHOUSE_TABLE = keys.WAREHOUSE_DELAY_TABLE
MAX_AGE = dt.timedelta(days=lake_freshness_days())

FRESHNESS_CHECKS = dg.build_last_update_freshness_checks(
    assets=[WAREHOUSE_TABLE],
    lower_bound_delta=MAX_AGE,
    severity=dg.AssetCheckSeverity.WARN,
)
