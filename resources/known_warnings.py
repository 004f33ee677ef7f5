"""The library warnings this project has looked at and accepts, filtered in one place.

Installed by the ``rt_assets`` and ``lake_assets`` packages' ``__init__.py``, so the
filters are in place before any definition module, demo, command or spawned worker
process imports an API that warns. Each filter
matches one warning exactly (its category and the start of its message); every other
warning still shows.
"""

from __future__ import annotations

import warnings

from dagster_shared.utils.warnings import BetaWarning, PreviewWarning, SupersessionWarning

ACCEPTED: tuple[tuple[type[Warning], str], ...] = (
    (
        BetaWarning,
        r"Class `MultiToSingleDimensionPartitionMapping` is currently in beta",
        # The one mapping from a date x state partition to its date (rt_assets/partitions.py);
        # Dagster has no stable equivalent.
    ),
    (
        BetaWarning,
        r"Class `PandasColumn` is currently in beta",
        # dagster-pandas is beta as a whole; its typed DataFrame checks silver's dtypes
        # (lake_assets/assets.py SilverFlights) and has no stable replacement.
    ),
    (
        BetaWarning,
        r"Function `create_dagster_pandas_dataframe_type` is currently in beta",
    ),
    (
        BetaWarning,
        r"Parameter `backfill_policy` of function `asset` is currently in beta",
        # rt's date|state assets run a backfill in batches of dates of one state
        # (rt_assets/partitions.py state_backfill_policy): Dagster's only way to start
        # one run for several partitions from the UI's backfill dialog.
    ),
    (
        PreviewWarning,
        r"Specifying a partitions_def on an AssetCheckSpec is currently in preview",
        # rt's checks (inference_converged, staged_vs_previous) declare their asset's
        # partitions: Dagster 1.13's only way to record an evaluation against its date|state,
        # so the UI shows each partition's result instead of "Partition -" (rt_assets/checks.py).
    ),
    # Superseded by FreshnessPolicy, which does not do what these checks do here: a
    # CronFreshnessPolicy looks at an asset's latest materialization of any partition, so a
    # backfill of an old run date would pass for today's missing one; the time-partition
    # check asks for the newest complete date partition itself. The lake's check stays a
    # check too, so both locations keep one freshness mechanism, with WARN severity and the
    # once-per-failure alerts of resources/alert_sensors.py (rt_assets/freshness.py).
    (
        SupersessionWarning,
        r"Function `build_time_partition_freshness_checks` is superseded",
    ),
    (
        SupersessionWarning,
        r"Function `build_last_update_freshness_checks` is superseded",
    ),
    (
        SupersessionWarning,
        r"Function `build_sensor_for_freshness_checks` is superseded",
    ),
)


def install() -> None:
    """Add the filters (again: a filter already there moves to the front, not twice)."""
    for category, message in ACCEPTED:
        warnings.filterwarnings("ignore", message=message, category=category)
