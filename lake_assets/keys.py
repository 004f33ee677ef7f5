"""Every asset key of the lake code location, spelled once.

The asset definitions take their keys from here and every other module (schedules,
sensors, freshness, the demo) imports them. Keys follow storage: ``lake/<name>`` is
also the asset's folder in the lake.
"""

import dagster as dg

PREFIX = "lake"

BRONZE_FLIGHTS = dg.AssetKey([PREFIX, "bronze_flights"])
SILVER_FLIGHTS = dg.AssetKey([PREFIX, "silver_flights"])
QUARANTINED_FLIGHTS = dg.AssetKey([PREFIX, "quarantined_flights"])
GOLD_DEP_DELAY_BY_DATE = dg.AssetKey([PREFIX, "gold_dep_delay_by_date"])
DELAY_ANOMALIES = dg.AssetKey([PREFIX, "delay_anomalies"])
WAREHOUSE_DELAY_TABLE = dg.AssetKey([PREFIX, "warehouse_delay_table"])
