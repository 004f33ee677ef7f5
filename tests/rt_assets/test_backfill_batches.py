"""A backfill's run of several date|state partitions (``state_backfill_policy``).

The state phase's job runs in process over a partition range, as the daemon launches a
backfill's batch (the range tags a ``BackfillPolicy.multi_run`` run carries), with the real
lake IO manager on tmp_path: each partition is stored at its own path with its own metadata,
the convergence check is recorded per partition, and an unconverged fit in a batch gets an
empty summary without failing its batch. The daemon's side (the dialog's backfill cut into
batches) is tests/operations/test_backfill_live.py.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from resources.io_manager import LakeIOManager, lake_format
from rt_assets import assets, keys
from rt_assets.partitions import date_state_partitions
from rt_assets.pipeline import phase_job, run_publication

# Three fits of a short series with the fast preset: tens of seconds on 2 cores.
pytestmark = pytest.mark.slow

DATES = ["2020-06-01", "2020-06-02", "2020-06-03"]
STATE = "VT"
PARTITIONS = [f"{d}|{STATE}" for d in DATES]
RANGE = {
    "dagster/asset_partition_range_start": PARTITIONS[0],
    "dagster/asset_partition_range_end": PARTITIONS[-1],
}
DATE_STATE_ASSETS = [keys.RAW_COUNTS, keys.PROCESSED_COUNTS, keys.INFERENCE, keys.SUMMARY]


def _resources(lake, preset: str) -> dict:
    return {
        "io_manager": LakeIOManager(base_url=str(lake)),
        "rt_staging_policy": assets.RtStagingPolicy(),
        "rt_sampler": assets.RtSampler(preset=preset, cores=1),
    }


def _batch(lake, preset: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return phase_job("state", _resources(lake, preset)).execute_in_process(
        instance=instance, tags=RANGE, raise_on_error=False
    )


def _materializations(result: dg.ExecuteInProcessResult, key: dg.AssetKey) -> dict:
    return {
        m.partition: m.metadata
        for m in (
            e.event_specific_data.materialization
            for e in result.all_events
            if e.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
        )
        if m.asset_key == key
    }


@pytest.fixture(scope="module")
def env(tmp_path_factory):
    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("COVID_SOURCE", raising=False)
        mp.delenv("RT_SAMPLER_CORES", raising=False)
        yield tmp_path_factory


@pytest.fixture(scope="module")
def converged(env):
    lake = env.mktemp("lake")
    with dg.instance_for_test() as instance:
        yield lake, instance, _batch(lake, "fast", instance)


def test_a_batch_stores_each_partition_at_its_own_path_with_its_own_metadata(converged):
    lake, _, result = converged
    assert result.success
    for key in DATE_STATE_ASSETS:
        stored = _materializations(result, key)
        assert sorted(stored) == PARTITIONS, key
        for partition, meta in stored.items():
            # The lake IO manager's uri is the partition's own object, and it exists.
            uri = str(meta["uri"].value)
            assert f"/{partition.replace('|', '/')}." in uri, uri
            assert (lake / uri[len(str(lake)) + 1 :]).exists(), uri
    # Each date's counts end the day before their run date: one more row each date.
    counts = _materializations(result, keys.PROCESSED_COUNTS)
    rows = [counts[p]["rows"].value for p in PARTITIONS]
    assert rows[1] == rows[0] + 1 and rows[2] == rows[1] + 1, rows
    for partition, n in zip(PARTITIONS, rows, strict=True):
        date = partition.split("|")[0]
        table = pd.read_parquet(lake / f"rt/processed_counts/{date}/{STATE}.parquet")
        assert len(table) == n
        summary = pd.read_parquet(lake / f"rt/summary/{date}/{STATE}.parquet")
        assert len(summary) == n and (lake / f"rt/summary/{date}/{STATE}.png").exists()
    fits = _materializations(result, keys.INFERENCE)
    assert len({fits[p]["seed"].value for p in PARTITIONS}) == len(PARTITIONS)


def test_a_batch_records_the_convergence_check_per_partition(converged):
    _, instance, result = converged
    evaluations = {e.partition: e for e in result.get_asset_check_evaluations()}
    assert sorted(evaluations) == PARTITIONS
    for partition, evaluation in evaluations.items():
        assert evaluation.passed and evaluation.description == f"{partition}: converged"
        # Evaluated against that partition's materialization (the UI links them).
        latest = instance.fetch_materializations(
            dg.AssetRecordsFilter(asset_key=keys.INFERENCE, asset_partitions=[partition]),
            limit=1,
        ).records[0]
        assert evaluation.target_materialization_data.storage_id == latest.storage_id
    summaries = _materializations(result, keys.SUMMARY)
    assert all(summaries[p]["converged"].value is True for p in PARTITIONS)


def test_unconverged_fits_in_a_batch_get_empty_summaries_and_the_batch_succeeds(env):
    """The tiny preset cannot converge: every check fails, the run does not, the summaries
    are stored with no rows, and the date's publication names the state as not converged."""
    lake = env.mktemp("lake")
    with dg.instance_for_test() as instance:
        result = _batch(lake, "tiny", instance)
        assert result.success
        evaluations = result.get_asset_check_evaluations()
        assert sorted(e.partition for e in evaluations) == PARTITIONS
        assert not any(e.passed for e in evaluations)
        assert all(e.severity == dg.AssetCheckSeverity.ERROR for e in evaluations)
        summaries = _materializations(result, keys.SUMMARY)
        for partition in PARTITIONS:
            assert summaries[partition]["converged"].value is False
            assert "r_hat" in summaries[partition]["not_published"].value
            date = partition.split("|")[0]
            assert pd.read_parquet(lake / f"rt/summary/{date}/{STATE}.parquet").empty
            assert not (lake / f"rt/summary/{date}/{STATE}.png").exists()
        published = run_publication(DATES[0], instance, resources=_resources(lake, "tiny"))
        # No state of the date converged: nothing to publish, and the failure says why.
        assert not published.success
        failures = [e for e in published.all_events if e.is_step_failure]
        description = failures[0].step_failure_data.user_failure_data.description
        assert "failed checks: VT" in description, description


def test_a_multi_partition_output_that_is_not_one_value_per_partition_fails_clearly(tmp_path):
    @dg.asset(
        key=dg.AssetKey(["rt", "probe"]),
        partitions_def=date_state_partitions,
        metadata=lake_format("json"),
    )
    def probe(context):
        return [1, 2, 3]

    result = dg.materialize(
        [probe],
        resources={"io_manager": LakeIOManager(base_url=str(tmp_path))},
        tags=RANGE,
        raise_on_error=False,
    )
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "a run of 3 partitions must return a dict with one value per partition key" in (
        description
    ), description
    assert not list(tmp_path.rglob("*.json"))
