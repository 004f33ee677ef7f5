"""Yearly partitions of the flight lake: one per on-time performance year."""

import dagster as dg

FIRST_YEAR = 2009
LAST_YEAR = 2018
YEARS = dg.StaticPartitionsDefinition([str(y) for y in range(FIRST_YEAR, LAST_YEAR + 1)])
