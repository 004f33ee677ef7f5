"""Partitions of the rt pipeline: run dates, states, and their product.

A multi-partition key reads ``2021-01-15|NY`` (dimensions ``date`` and ``state``).
"""

import dagster as dg

from rt_assets.sources import STATES

RT_START_DATE = "2020-03-01"

date_partitions = dg.DailyPartitionsDefinition(start_date=RT_START_DATE)
state_partitions = dg.StaticPartitionsDefinition(list(STATES))
date_state_partitions = dg.MultiPartitionsDefinition(
    {"date": date_partitions, "state": state_partitions}
)

# A per-date asset reads (or feeds) every state of its date.
by_date = dg.MultiToSingleDimensionPartitionMapping(partition_dimension_name="date")


def date_state_key(date: str, state: str) -> str:
    """The multi-partition key of one state on one run date, e.g. ``2021-01-15|NY``."""
    return str(dg.MultiPartitionKey({"date": date, "state": state}))
