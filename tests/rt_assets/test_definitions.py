"""The rt code location loads, with the asset keys, checks, partitions and tags of the product."""

import dagster as dg

from resources.k8s import HEAVY, LIGHT, step_tags
from rt_assets import partitions
from rt_assets.definitions import defs
from rt_assets.sources import STATES

PIPELINE = [
    "rt/raw_counts",
    "rt/processed_counts",
    "rt/inference",
    "rt/summary",
    "rt/national_csv",
    "rt/staged_msgpack",
    "rt/published_msgpack",
    "rt/published_csv",
]


def test_asset_keys_groups_and_partitions():
    graph = defs.resolve_asset_graph()
    keys = {k.to_user_string() for k in graph.get_all_asset_keys()}
    assert set(PIPELINE) <= keys
    for name in PIPELINE:
        node = graph.get(dg.AssetKey.from_user_string(name))
        assert node.group_name == "rt"
        assert node.owners == ["team:rt"]
        assert node.kinds, name
        assert node.code_version, name
        assert node.description and "<LAKE_URL>/" + name in node.description, name
        expected = (
            partitions.date_state_partitions
            if name in ("rt/raw_counts", "rt/processed_counts", "rt/inference", "rt/summary")
            else partitions.date_partitions
        )
        assert node.partitions_def == expected, name


def test_partitions_are_the_products():
    assert partitions.date_partitions.start.strftime("%Y-%m-%d") == "2020-03-01"
    dims = {d.name: d.partitions_def for d in partitions.date_state_partitions.partitions_defs}
    assert list(dims) == ["date", "state"]
    assert dims["state"].get_partition_keys() == list(STATES)
    key = partitions.date_state_key("2021-01-15", "NY")
    assert key == "2021-01-15|NY"
    assert partitions.date_state_partitions.has_partition_key(key)


def test_checks_and_their_blocking():
    graph = defs.resolve_asset_graph()
    checks = {(k.asset_key.to_user_string(), k.name) for k in graph.asset_check_keys}
    assert ("rt/inference", "inference_converged") in checks
    assert ("rt/staged_msgpack", "staged_vs_previous") in checks
    check_defs = {
        key.name: cdef
        for cdef in defs.asset_checks or []
        if isinstance(cdef, dg.AssetChecksDefinition)
        for key in cdef.check_keys
    }
    # Not blocking: a backfill's run of several dates of one state goes on past one
    # unconverged fit; the summary applies the gate (test_backfill_batches).
    assert not next(iter(check_defs["inference_converged"].check_specs)).blocking


def test_backfills_batch_the_date_state_assets_and_run_each_date_s_publication_alone():
    """The four date|state assets share one policy, so a batch runs them together."""
    for name in ("rt/raw_counts", "rt/processed_counts", "rt/inference", "rt/summary"):
        policy = _asset(name).backfill_policy
        assert policy == partitions.state_backfill_policy, name
        assert policy.max_partitions_per_run == partitions.BACKFILL_PARTITIONS_PER_RUN > 1
    for name in ("rt/national_csv", "rt/staged_msgpack", "rt/published_csv"):
        assert _asset(name).backfill_policy is None, name


def _asset(name: str) -> dg.AssetsDefinition:
    return defs.resolve_assets_def(dg.AssetKey.from_user_string(name))


def test_step_tags_pool_and_jobs():
    inference = _asset("rt/inference")
    assert inference.op.tags.items() >= step_tags(HEAVY).items()
    assert inference.op.pool == "rt_inference"
    for name in ("rt/raw_counts", "rt/processed_counts", "rt/summary", "rt/national_csv"):
        assert _asset(name).op.tags.items() >= step_tags(LIGHT).items()
    assert _asset("rt/published_csv").op.tags.items() >= step_tags(LIGHT).items()
    jobs = {j.name for j in defs.resolve_all_job_defs()}
    assert {"rt_counts_job", "rt_inference_job", "rt_publication_job"} <= jobs
    assert defs.resolve_job_def("rt_inference_job").partitions_def == (
        partitions.date_state_partitions
    )
    assert "rt_staging_policy" in defs.resources
