"""Every asset key of the rt code location, spelled once.

The asset definitions take their keys from here (``@dg.asset(key=keys.RAW_COUNTS)``)
and every other module (jobs, schedules, sensors, checks, freshness, the daily run,
benchmarks) imports them, so renaming an asset is a one-line change. Keys follow
storage: ``rt/<name>`` is also the asset's folder in the lake.
"""

import dagster as dg

PREFIX = "rt"

RAW_COUNTS = dg.AssetKey([PREFIX, "raw_counts"])
PROCESSED_COUNTS = dg.AssetKey([PREFIX, "processed_counts"])
INFERENCE = dg.AssetKey([PREFIX, "inference"])
SUMMARY = dg.AssetKey([PREFIX, "summary"])
NATIONAL_CSV = dg.AssetKey([PREFIX, "national_csv"])
STAGED_MSGPACK = dg.AssetKey([PREFIX, "staged_msgpack"])
PUBLISHED_MSGPACK = dg.AssetKey([PREFIX, "published_msgpack"])
PUBLISHED_CSV = dg.AssetKey([PREFIX, "published_csv"])
SITE = dg.AssetKey([PREFIX, "site"])
