"""Materializing the same partitions twice gives byte-identical outputs.

The good day's lake is copied, and VT's inference and summary plus every
date-level asset of 2020-04-30 are materialized again in the copy (same code,
same inputs, a new Dagster instance). The national CSV, the staged and
published msgpack and CSV, and VT's summary must be the same bytes. (The
warehouse half of this promise: test_fault_postgres.py.)
"""

from __future__ import annotations

import dagster as dg
import pytest

from rt_assets import pipeline
from rt_assets.assets import NOT_CONVERGED
from tests.reliability.cases import CORPUS, GOOD_DAY
from tests.reliability.rt_runs import OUTPUTS, copy_lake, rt_env, run_counts, run_state

pytestmark = pytest.mark.slow


def test_rematerializing_gives_identical_bytes(published_good_day, tmp_path, monkeypatch):
    first = published_good_day
    lake = copy_lake(first, tmp_path / "lake")
    paths = [p.format(d=GOOD_DAY) for p in OUTPUTS] + [f"rt/summary/{GOOD_DAY}/VT.parquet"]
    before = {p: (lake / p).read_bytes() for p in paths}
    rt_env(monkeypatch, lake, CORPUS / "covid_good.csv")
    monkeypatch.setenv("RT_SAMPLER_PRESET", "fast")
    with dg.instance_for_test() as instance:
        assert run_counts(GOOD_DAY, instance).success
        assert run_state(GOOD_DAY, "VT", instance).success
        assert pipeline.run_publication(GOOD_DAY, instance).success
    after = {p: (lake / p).read_bytes() for p in paths}
    changed = [p for p in paths if before[p] != after[p]]
    assert not changed, f"not byte-identical on re-run: {changed}"


def test_good_day_published_vt_and_named_ny_as_not_converged(published_good_day):
    """The tiny preset cannot converge: NY's check fails, its summary is stored empty and
    the publication names it as not converged; VT still publishes."""
    import msgpack
    import pandas as pd

    run = published_good_day
    ny = run.results["NY"]
    # The check does not block (a backfill's batch goes on): the run succeeds, the check
    # fails, and the summary is stored with no rows.
    assert ny.success
    evaluations = [
        e.event_specific_data
        for e in ny.all_events
        if e.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
    ]
    assert [(ev.check_name, ev.passed) for ev in evaluations] == [("inference_converged", False)]
    assert "r_hat" in (evaluations[0].description or "")
    assert pd.read_parquet(run.lake / f"rt/summary/{GOOD_DAY}/NY.parquet").empty
    assert not (run.lake / f"rt/summary/{GOOD_DAY}/NY.png").exists()
    summary = ny.asset_materializations_for_node("rt__summary")[0].metadata
    assert summary["converged"].value is False and "r_hat" in summary["not_published"].value
    assert run.results["VT"].success

    national = pd.read_csv(run.lake / f"rt/published_csv/{GOOD_DAY}.csv")
    assert set(national["region"]) == {"VT"}
    doc = msgpack.unpackb((run.lake / f"rt/published_msgpack/{GOOD_DAY}.msgpack").read_bytes())
    assert list(doc["states"]) == ["VT"]
    assert doc["excluded"]["NY"] == NOT_CONVERGED
    meta = run.results["publish"].asset_materializations_for_node("rt__national_csv")[0].metadata
    assert "NY" in str(meta["failed_states"].value)
