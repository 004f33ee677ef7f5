"""Freshness checks of the rt code location: the published files and the national CSV.

Each check passes when the newest complete run date was materialized by the
deadline (``RT_FRESHNESS_DEADLINE_CRON``, UTC, default ``0 9 * * *``: three hours
after the daily schedule). They are evaluated by the ``rt_freshness_checks``
sensor; a failure alerts once through ``rt_check_alerts``.

Dagster 1.13 marks these check factories "superseded" in favour of
``FreshnessPolicy`` attached to assets (evaluated by the daemon's freshness
loop); those policies live on the asset definitions, which belong to assets.py,
so ``FRESHNESS_POLICIES`` below lists the equivalent policies to attach there;
the alert sensor already turns their FAIL/WARN state changes into alerts.
"""

import datetime as dt
import os

import dagster as dg

FRESH_ASSETS = [
    dg.AssetKey(["rt", "published_msgpack"]),
    dg.AssetKey(["rt", "published_csv"]),
    dg.AssetKey(["rt", "national_csv"]),
]

FRESHNESS_CHECKS = dg.build_time_partition_freshness_checks(
    assets=FRESH_ASSETS,
    deadline_cron=os.environ.get("RT_FRESHNESS_DEADLINE_CRON", "0 9 * * *"),
    timezone="UTC",
    severity=dg.AssetCheckSeverity.ERROR,
)

# For assets.py: `freshness_policy=FRESHNESS_POLICIES[key]` (daily by 09:00 UTC).
FRESHNESS_POLICIES = {
    key: dg.FreshnessPolicy.cron(
        deadline_cron="0 9 * * *", lower_bound_delta=dt.timedelta(hours=24), timezone="UTC"
    )
    for key in FRESH_ASSETS
}
