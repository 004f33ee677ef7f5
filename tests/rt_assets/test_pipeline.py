"""The whole rt graph through Dagster with the real lake IO manager on tmp_path.

One run date early in the epidemic (short series: quick to sample) and two
small states that pass the convergence gate with the fast preset, run in two worker
processes (``parallel_states=2``).
"""

import gzip
from pathlib import Path

import dagster as dg
import msgpack
import pandas as pd
import pytest
from dagster._serdes import serialize_value

from resources.cpus import usable_cpus
from resources.io_manager import LakeIOManager
from rt_assets import assets
from rt_assets.model import chain_threads, get_preset
from rt_assets.pipeline import ALL_ASSETS, run_daily, run_publication
from rt_assets.summary import RT_CSV_COLUMNS

# The module fixture runs the whole graph (sampling included): minutes on 2 cores.
pytestmark = pytest.mark.slow

DATE = "2020-05-15"
STATES = ["VT", "NH"]
HEADER = ",".join(RT_CSV_COLUMNS)


def _resources(lake) -> dict:
    return {
        "io_manager": LakeIOManager(base_url=str(lake)),
        "rt_staging_policy": assets.RtStagingPolicy(),
        "rt_sampler": assets.RtSampler(preset="fast"),
    }


@pytest.fixture(scope="module")
def daily(tmp_path_factory):
    lake = tmp_path_factory.mktemp("lake")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("RT_SAMPLER_PRESET", "fast")
        mp.delenv("COVID_SOURCE", raising=False)
        mp.delenv("RT_SAMPLER_CORES", raising=False)
        mp.setenv("LAKE_URL", str(lake))
        # A persistent instance, so the two states run in two worker processes that
        # record their runs in it (the path the daily benchmark and production use).
        home = tmp_path_factory.mktemp("dagster_home")
        with dg.DagsterInstance.local_temp(str(home)) as instance:
            result = run_daily(DATE, STATES, instance, parallel_states=2)
            yield lake, instance, result


def test_whole_graph_writes_the_documented_files(daily):
    lake, instance, result = daily
    assert result.counts_ok and result.states_ok == STATES, result.states_failed
    assert result.published, result.publish_error
    # The UI lists each run by its phase's job, not as __ephemeral_asset_job__.
    jobs = [instance.get_run_by_id(run_id).job_name for run_id in result.run_ids]
    assert jobs == ["rt_counts_job", "rt_inference_job", "rt_inference_job", "rt_publication_job"]
    for path in (
        f"rt/raw_counts/{DATE}.csv.gz",
        f"rt/raw_counts/{DATE}/VT.csv.gz",
        f"rt/processed_counts/{DATE}/VT.parquet",
        f"rt/processed_counts/{DATE}/NH.parquet",
        f"rt/inference/{DATE}/VT.nc",
        f"rt/inference/{DATE}/NH.nc",
        f"rt/summary/{DATE}/VT.parquet",
        f"rt/national_csv/{DATE}.csv",
        f"rt/staged_msgpack/{DATE}.msgpack",
        f"rt/published_msgpack/{DATE}.msgpack",
        f"rt/published_csv/{DATE}.csv",
    ):
        assert (lake / path).is_file(), path
    csv = (lake / f"rt/published_csv/{DATE}.csv").read_text()
    assert csv.splitlines()[0] == HEADER
    assert csv == (lake / f"rt/national_csv/{DATE}.csv").read_text()
    national = pd.read_csv(lake / f"rt/published_csv/{DATE}.csv")
    assert sorted(national["region"].unique()) == sorted(STATES)
    assert national["date"].max() == "2020-05-14"  # data up to D-1 only
    assert (national["lower_80"] <= national["mean"]).all()
    assert (national["mean"] <= national["upper_80"]).all()


def test_the_two_workers_share_the_cpus_between_their_chains(daily):
    """Two states sample at once: each fit's chains get its share of the CPUs (one thread
    each on 2 CPUs), passed in each state run's config; the counts and publication runs
    carry none."""
    _, instance, result = daily
    expected = chain_threads(get_preset("fast").chains, usable_cpus(), 2)
    configs = [instance.get_run_by_id(run_id).run_config for run_id in result.run_ids]
    threads = [c.get("resources", {}).get("rt_sampler", {}).get("config", {}) for c in configs]
    assert [t.get("cores") for t in threads] == [None, expected, expected, None]


def test_published_msgpack_is_the_documented_document(daily):
    lake, _, _ = daily
    raw = (lake / f"rt/published_msgpack/{DATE}.msgpack").read_bytes()
    doc = msgpack.unpackb(raw, raw=False)
    assert raw == (lake / f"rt/staged_msgpack/{DATE}.msgpack").read_bytes()
    assert set(doc) == {"format", "run_date", "model_version", "preset", "states", "excluded"}
    assert doc["format"] == "rtlive-msgpack/1"
    assert doc["run_date"] == DATE and doc["preset"] == "fast"
    from rt_assets.model import MODEL_VERSION

    assert doc["model_version"] == MODEL_VERSION
    assert list(doc["states"]) == sorted(STATES)
    vt = doc["states"]["VT"]
    # the Rt series, and the optional counts that the page's state view charts
    assert set(vt) == {"dates", "mean", "median", "lower_80", "upper_80"} | {
        "positive",
        "tests",
        "infections",
    }
    assert vt["dates"] == sorted(vt["dates"]) and vt["dates"][-1] == "2020-05-14"
    assert all(len(vt[k]) == len(vt["dates"]) for k in vt)
    assert all(round(v, 4) == v for v in vt["mean"])
    assert doc["excluded"]["NY"] == "not run for this date"
    assert "VT" not in doc["excluded"] and len(doc["excluded"]) == 49


def test_inference_is_stored_with_model_version_and_check_metadata(daily):
    lake, instance, _ = daily
    import xarray as xr

    idata = xr.load_datatree(lake / f"rt/inference/{DATE}/VT.nc")
    assert idata.posterior.attrs["preset"] == "fast"
    assert "model_version" in idata.posterior.attrs
    records = instance.event_log_storage.get_asset_check_execution_history(
        dg.AssetCheckKey(dg.AssetKey(["rt", "inference"]), "inference_converged"), limit=10
    )
    assert len(records) == len(STATES)
    evaluations = [r.event.dagster_event.event_specific_data for r in records]
    # Each evaluation is tied to its date|state: the UI lists it under that partition.
    assert sorted(e.partition for e in evaluations) == sorted(f"{DATE}|{s}" for s in STATES)
    for evaluation in evaluations:
        assert evaluation.passed
        assert evaluation.description == f"{evaluation.partition}: converged"
        assert {"max_rhat", "min_ess_bulk", "min_ess_tail", "divergences"} <= set(
            evaluation.metadata
        )
    (staging,) = [
        r.event.dagster_event.event_specific_data
        for r in instance.event_log_storage.get_asset_check_execution_history(
            dg.AssetCheckKey(dg.AssetKey(["rt", "staged_msgpack"]), "staged_vs_previous"), limit=5
        )
    ]
    assert staging.partition == DATE
    assert staging.description.startswith(f"{DATE}: ")
    # Recorded by the worker processes in the shared instance, with the step's costs.
    records = instance.fetch_materializations(dg.AssetKey(["rt", "inference"]), limit=10).records
    assert sorted(str(r.asset_materialization.partition) for r in records) == sorted(
        f"{DATE}|{state}" for state in STATES
    )
    for record in records:
        meta = {k: v.value for k, v in record.asset_materialization.metadata.items()}
        assert meta["compile_seconds"] > 0 and meta["sampling_seconds"] > 0
        assert meta["compiled_model"] in {"reused", "loaded from disk cache", "compiled"}
        # The default preset samples in the coordinates of each series' Laplace approximation.
        assert meta["laplace"] == "found" and 0 < meta["laplace_seconds"] < 60
        assert round(meta["sampling_seconds"], 1) == meta["sampling_seconds"]
        # The convergence numbers on the materialization itself, rounded, as numbers.
        assert 0.9 < meta["max_rhat"] < 1.1 and round(meta["max_rhat"], 3) == meta["max_rhat"]
        assert isinstance(meta["min_ess_bulk"], int) and meta["min_ess_bulk"] > 0
        assert isinstance(meta["min_ess_tail"], int) and meta["divergences"] == 0
        assert 100 < meta["peak_rss_mib"] < 8192  # a real process's high-water mark


# A summary event measured 4.2 KB: Dagster's envelope (run id, step, partition, asset
# key, tags) 1.8 KB, ten metadata entries of ~150 bytes each, the 7-row preview 0.75 KB.
# 5 KB leaves room for an S3 URL in place of a local path and longer values; the chart
# embedded as base64, as before it moved into the lake, made each event ~37 KB.
MAX_SUMMARY_EVENT_BYTES = 5 * 1024


def test_summary_events_link_their_chart_in_the_lake(daily):
    lake, instance, _ = daily
    records = instance.fetch_materializations(dg.AssetKey(["rt", "summary"]), limit=10).records
    assert len(records) == len(STATES)
    for record in records:
        size = len(serialize_value(record.event_log_entry))
        assert size < MAX_SUMMARY_EVENT_BYTES, size
        state = record.asset_materialization.partition.split("|")[1]
        meta = record.asset_materialization.metadata
        chart = Path(meta["rt_curve"].value)
        assert chart == lake / f"rt/summary/{DATE}/{state}.png"
        assert chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        latest = meta["latest_rt"].value
        assert isinstance(latest, float) and latest == round(latest, 3)
        assert meta["latest_rt_lower_80"].value <= latest <= meta["latest_rt_upper_80"].value


def test_warnings_refuse_promotion_and_keep_yesterday_untouched(daily):
    lake, instance, _ = daily
    staged = msgpack.unpackb((lake / f"rt/staged_msgpack/{DATE}.msgpack").read_bytes(), raw=False)
    # Yesterday's production said something quite different for VT.
    yesterday = "2020-05-14"
    previous = dict(staged, run_date=yesterday)
    previous["states"] = {
        k: dict(v, mean=[m + 0.5 for m in v["mean"]]) for k, v in staged["states"].items()
    }
    prev_msgpack = lake / f"rt/published_msgpack/{yesterday}.msgpack"
    prev_csv = lake / f"rt/published_csv/{yesterday}.csv"
    prev_msgpack.write_bytes(msgpack.packb(previous, use_bin_type=True))
    prev_csv.write_text(HEADER + "\nyesterday's production\n")
    before = (prev_msgpack.read_bytes(), prev_csv.read_bytes())
    today = [lake / f"rt/published_msgpack/{DATE}.msgpack", lake / f"rt/published_csv/{DATE}.csv"]
    for path in today:
        path.unlink()

    refused = run_publication(DATE, instance, _resources(lake))
    assert not refused.success
    failure = next(e for e in refused.all_events if e.is_step_failure)
    message = failure.step_failure_data.user_failure_data.description
    assert "refusing to publish 2020-05-15" in message and "approve_warnings" in message
    assert "VT" in message
    assert (prev_msgpack.read_bytes(), prev_csv.read_bytes()) == before
    assert not any(path.exists() for path in today)
    check = refused.get_asset_check_evaluations()
    assert [c.passed for c in check] == [False]

    approved = run_publication(DATE, instance, _resources(lake), approve_warnings=True)
    assert approved.success
    assert all(path.exists() for path in today)
    assert (prev_msgpack.read_bytes(), prev_csv.read_bytes()) == before


def test_raw_snapshot_is_immutable_and_v1_sources_work(tmp_path, monkeypatch):
    from tests.rt_assets.conftest import V1_CSV

    v1 = tmp_path / "daily.csv"
    v1.write_text(V1_CSV)
    monkeypatch.setenv("COVID_SOURCE", str(v1))
    resources = _resources(tmp_path / "lake")
    selection = [assets.raw_counts, assets.processed_counts]
    assert dg.materialize(
        ALL_ASSETS, selection=selection, partition_key="2020-04-05|VT", resources=resources
    ).success
    # The date's snapshot as fetched, and VT's rows of it as the source wrote them.
    stored = tmp_path / "lake/rt/raw_counts/2020-04-05.csv.gz"
    assert gzip.decompress(stored.read_bytes()) == V1_CSV.encode()
    vt = tmp_path / "lake/rt/raw_counts/2020-04-05/VT.csv.gz"
    assert gzip.decompress(vt.read_bytes()) == V1_CSV.encode()
    processed = pd.read_parquet(tmp_path / "lake/rt/processed_counts/2020-04-05/VT.parquet")
    assert list(processed["total"]) == [50.0, 100.0]  # 2020-04-03 and -04, not -05

    # The source changes afterwards: the snapshot for that date stays as first fetched,
    # and so does every state's slice of it.
    v1.write_text(V1_CSV.replace("20200404,VT,25", "20200404,VT,26"))
    before, slice_before = stored.read_bytes(), vt.read_bytes()
    result = dg.materialize(
        ALL_ASSETS,
        selection=[assets.raw_counts],
        partition_key="2020-04-05|VT",
        resources=resources,
    )
    assert result.success
    assert (stored.read_bytes(), vt.read_bytes()) == (before, slice_before)
    meta = result.asset_materializations_for_node("rt__raw_counts")[0].metadata
    assert meta["source"].value.startswith("kept existing snapshot")


def _raw_counts_failure(tmp_path, monkeypatch, partition: str) -> str:
    """rt/raw_counts of ``partition`` on the v1 test source: it must fail, once (no retry:
    the data will not change by trying again); its message."""
    from tests.rt_assets.conftest import V1_CSV

    v1 = tmp_path / "daily.csv"
    v1.write_text(V1_CSV)
    monkeypatch.setenv("COVID_SOURCE", str(v1))
    result = dg.materialize(
        ALL_ASSETS,
        selection=[assets.raw_counts],
        partition_key=partition,
        resources=_resources(tmp_path / "lake"),
        raise_on_error=False,
    )
    assert not result.success
    assert not [e for e in result.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]
    failure = next(e for e in result.all_events if e.is_step_failure)
    return failure.step_failure_data.user_failure_data.description


def test_a_state_the_snapshot_lacks_fails_at_once_naming_it(tmp_path, monkeypatch):
    message = _raw_counts_failure(tmp_path, monkeypatch, "2020-04-05|NY")
    assert "has no rows for state NY" in message
    assert not (tmp_path / "lake/rt/raw_counts/2020-04-05").exists()


def test_run_date_outside_the_source_fails_naming_the_range(tmp_path, monkeypatch):
    message = _raw_counts_failure(tmp_path, monkeypatch, "2020-06-01|VT")
    assert "covers 2020-04-02 to 2020-04-05" in message
    assert not (tmp_path / "lake/rt/raw_counts/2020-06-01.csv.gz").exists()


def test_parallel_states_needs_default_resources(tmp_path):
    with pytest.raises(ValueError, match="pass resources=None"):
        run_daily(DATE, STATES, dg.DagsterInstance.ephemeral(), {}, parallel_states=2)
