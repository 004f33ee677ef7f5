"""Every private Dagster API the product uses (Dagster 1.13), in one place.

Each name says which public API it stands in for and why that one does not serve. A
Dagster upgrade checks this module first; `tests/resources/test_dagster_private.py` fails
when any other module of the product imports ``dagster._``. (The IO manager also
overrides three private ``UPathIOManager`` methods: see `resources/io_manager.py`.)
"""

from __future__ import annotations

# rt_assets/checks.py: which materialization a check evaluated, for an evaluation yielded
# per partition of a backfill's run of several partitions. Public: AssetCheckResult, which
# records a partition only when the step has exactly one.
from dagster._core.definitions.asset_checks.asset_check_evaluation import (
    AssetCheckEvaluationTargetMaterializationData,
)

# rt_assets/phases.py: a graph of plain asset definitions. Public:
# Definitions.resolve_asset_graph(), which insists on the resources the assets need,
# while the jobs need the phases at import, before any resource exists.
from dagster._core.definitions.assets.graph.asset_graph import AssetGraph

# rt_assets/sensors.py: one backfill over partitions of differently partitioned assets.
# Public: RunRequest.for_asset_graph_subset, which takes an AssetGraphSubset that
# Dagster builds only through these two classes.
from dagster._core.definitions.assets.graph.asset_graph_subset import AssetGraphSubset
from dagster._core.definitions.events import AssetKeyPartitionKey

# rt_assets/schedules.py: a partitions definition evaluated at a tick's time, not the
# clock's. Public: none (get_last_partition_key has no "as of" argument); Dagster's own
# schedules use this context.
from dagster._core.definitions.partitions.context import partition_loading_context

# resources/alert_sensors.py: the statuses to filter a check's execution history by.
# Public: DagsterInstance.event_log_storage.get_asset_check_execution_history takes them
# but the enum is not exported.
from dagster._core.storage.asset_check_execution_record import (
    AssetCheckExecutionRecordStatus,
)

# resources/io_manager.py: the ".." escaping UPathIOManager applies to partition keys.
# Public: none; the override of make_safe_partition_path must apply it too.
from dagster._core.storage.upath_io_manager import escape_dotdot_segments

# resources/settings.py: a cron string check that gives the variable's name in its error.
# Public: none; ScheduleDefinition raises the same check's error without the variable.
from dagster._utils.schedules import is_valid_cron_string

__all__ = [
    "AssetCheckEvaluationTargetMaterializationData",
    "AssetGraph",
    "AssetGraphSubset",
    "AssetKeyPartitionKey",
    "AssetCheckExecutionRecordStatus",
    "escape_dotdot_segments",
    "is_valid_cron_string",
    "partition_loading_context",
]
