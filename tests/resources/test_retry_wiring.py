"""Retry policies sit on the steps that fail for passing reasons, and only there."""

import dagster as dg

from lake_assets.definitions import defs as lake_defs
from resources.retries import NETWORK_RETRY, POD_LOSS_RETRY
from rt_assets.definitions import defs as rt_defs


def _policies(defs: dg.Definitions) -> dict[str, dg.RetryPolicy | None]:
    graph = defs.resolve_asset_graph()
    out = {}
    for key in graph.get_all_asset_keys():
        node = graph.get(key)
        if not node.is_materializable:
            continue
        assets_def = node.assets_def
        out[key.to_user_string()] = assets_def.op.retry_policy
    return out


def test_heavy_and_network_steps_retry_with_backoff():
    rt, lake = _policies(rt_defs), _policies(lake_defs)
    assert rt["rt/inference"] == POD_LOSS_RETRY
    assert rt["rt/raw_counts"] == NETWORK_RETRY
    assert lake["lake/bronze_flights"] == NETWORK_RETRY
    assert lake["lake/warehouse_delay_table"] == NETWORK_RETRY
    for policy in (POD_LOSS_RETRY, NETWORK_RETRY):
        assert policy.max_retries >= 2
        assert policy.backoff == dg.Backoff.EXPONENTIAL


def test_pure_computation_steps_do_not_retry():
    rt = _policies(rt_defs)
    # A correction or summary that failed fails the same way again.
    assert rt["rt/processed_counts"] is None
    assert rt["rt/summary"] is None


def test_bad_source_is_not_retried(tmp_path, monkeypatch):
    from resources.io_manager import LakeIOManager
    from rt_assets.assets import raw_counts

    bad = tmp_path / "bad.csv"
    bad.write_text("date,state,positive\n2020-04-01,NY,1\n")  # no test counts at all
    monkeypatch.setenv("COVID_SOURCE", str(bad))
    result = dg.materialize(
        [raw_counts],
        partition_key="2020-04-02|NY",
        resources={"io_manager": LakeIOManager(base_url=str(tmp_path / "lake"))},
        raise_on_error=False,
    )
    assert not result.success
    events = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    assert "bad.csv" in failure.step_failure_data.user_failure_data.description


def test_a_missing_upstream_partition_fails_at_once_naming_it(tmp_path):
    import time

    from resources.io_manager import LakeIOManager
    from rt_assets.assets import RtSampler, inference, processed_counts, raw_counts

    # rt/inference keeps its heavy retry policy (60 s backoff); the missing counts must
    # not go through it.
    assert inference.op.retry_policy == POD_LOSS_RETRY
    started = time.monotonic()
    result = dg.materialize(
        [raw_counts, processed_counts, inference],
        selection=[inference],
        partition_key="2021-01-26|VT",
        resources={
            "io_manager": LakeIOManager(base_url=str(tmp_path / "lake")),
            "rt_sampler": RtSampler(),
        },
        raise_on_error=False,
    )
    elapsed = time.monotonic() - started
    assert not result.success
    events = [e.event_type for e in result.all_events]
    assert dg.DagsterEventType.STEP_UP_FOR_RETRY not in events
    assert elapsed < 30, elapsed
    failure = next(e for e in result.all_events if e.event_type == dg.DagsterEventType.STEP_FAILURE)
    description = failure.step_failure_data.user_failure_data.description
    assert "missing upstream partition: rt/processed_counts partition 2021-01-26|VT" in description
    assert "Materialize rt/processed_counts for partition 2021-01-26|VT first" in description
    assert str(tmp_path / "lake/rt/processed_counts/2021-01-26/VT.parquet") in description
