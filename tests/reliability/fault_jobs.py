"""Jobs the fault tests run out of process (they must be importable by step processes)."""

from __future__ import annotations

import dagster as dg

from rt_assets import keys, pipeline
from rt_assets.partitions import date_state_partitions

# The counts of one state: the snapshot's slice and the corrected counts.
COUNTS = dg.AssetSelection.assets(keys.RAW_COUNTS, keys.PROCESSED_COUNTS)

# A test-sized copy of resources.retries.NETWORK_RETRY: same exponential backoff,
# waits short enough for a test.
TEST_NETWORK_RETRY = dg.RetryPolicy(max_retries=2, delay=0.5, backoff=dg.Backoff.EXPONENTIAL)


def counts_defs(op_retry_policy: dg.RetryPolicy | None = None) -> dg.Definitions:
    job = dg.define_asset_job(
        "rt_counts_job",
        selection=COUNTS,
        partitions_def=date_state_partitions,
        op_retry_policy=op_retry_policy,
    )
    return dg.Definitions(
        assets=pipeline.ALL_ASSETS, jobs=[job], resources=pipeline.default_resources()
    )


def counts_job() -> dg.JobDefinition:
    """One state's counts (snapshot slice, corrected counts) as a job with Dagster's
    multiprocess executor (each step a process)."""
    return counts_defs().resolve_job_def("rt_counts_job")
