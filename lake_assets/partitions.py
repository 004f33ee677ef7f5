"""Yearly partitions of the flight lake: one per on-time performance year.

They start with ``FIRST_YEAR`` and extend by themselves: the current year is a
partition from its first day (``end_offset=1``), because its monthly files land
while it runs (``lake_assets/landing.py``); no list to edit on New Year.
"""

import dagster as dg

FIRST_YEAR = 2009
YEARS = dg.TimeWindowPartitionsDefinition(
    start=str(FIRST_YEAR),
    fmt="%Y",
    cron_schedule="0 0 1 1 *",
    timezone="UTC",
    end_offset=1,
)
