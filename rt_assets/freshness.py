"""Freshness checks of the rt code location: the published files and the national CSV.

Each check passes when the newest complete run date was materialized by the
deadline (``RT_FRESHNESS_DEADLINE_CRON``, UTC, default ``0 9 * * *``: three hours
after the daily schedule). They are evaluated by the ``rt_freshness_checks``
sensor; a failure alerts once through ``rt_check_alerts``. The newest date is never
past the source's coverage: the date partitions end there (``COVID_SOURCE_LAST_DATE``,
rt_assets/partitions.py). With a fixed archive the sensor starts stopped.

Dagster 1.13 marks these check factories "superseded" in favour of a
``FreshnessPolicy`` on each asset, which does not fit here: a policy looks at the
asset's latest materialization of any partition (``record.asset_entry.
last_materialization`` in dagster's freshness_evaluator.py), so a backfill or a
rerun of an old date would make a missed day look fresh. The time-partition check
asks whether the newest complete date partition itself was materialized. The
checks stay, and resources/known_warnings.py filters exactly their supersession
warnings.
"""

import dagster as dg

from resources.settings import rt_freshness_deadline_cron
from rt_assets import keys

FRESH_ASSETS = [keys.PUBLISHED_MSGPACK, keys.PUBLISHED_CSV, keys.NATIONAL_CSV]

FRESHNESS_CHECKS = dg.build_time_partition_freshness_checks(
    assets=FRESH_ASSETS,
    deadline_cron=rt_freshness_deadline_cron(),
    timezone="UTC",
    severity=dg.AssetCheckSeverity.ERROR,
)
