"""Bad COVID sources: each corpus file through the real readers and through Dagster.

Every Dagster case starts from a lake where the good day (2020-04-30) was
published, reads the bad file for the next day (2020-05-01), and checks: the
decided outcome (see cases.py), runs VT's inference (fast preset) whenever the
counts are stored, and then either publishes VT from the good rows only (the
bad rows set aside or ignored) or refuses to publish anything; the good day's
published files stay byte-identical either way.
"""

from __future__ import annotations

import dagster as dg
import pandas as pd
import pytest

from resources.io_manager import CODECS
from rt_assets import corrections, pipeline, sources
from rt_assets.model import prepare
from tests.reliability.cases import BAD_DAY, CORPUS, COVID_CASES, GOOD_DAY, Case
from tests.reliability.rt_runs import (
    PUBLISHED,
    copy_lake,
    published_under,
    rt_env,
    run_counts,
    run_state,
)

pytestmark = pytest.mark.slow

CASES = {c.id: c for c in COVID_CASES}


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    parts = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            err = event.step_failure_data.error
            parts.append(err.message)
            if err.cause:
                parts.append(err.cause.message)
    return "\n".join(parts)


def processed_for(path, day: str = BAD_DAY) -> pd.DataFrame:
    data = path.read_bytes()
    return corrections.process_counts(sources.read_source(data, path.name), day)


@pytest.mark.parametrize("case", COVID_CASES, ids=lambda c: c.id)
def test_reader_outcome(case: Case):
    """The pure readers alone already decide: fail with a message, or set rows aside."""
    data = case.path.read_bytes()
    if case.outcome == "fail" and case.step == "rt/raw_counts":
        with pytest.raises(sources.SourceError) as info:
            table = sources.read_source(data, name=case.file)
            sources.check_run_date(table, BAD_DAY, name=case.file)
        for fragment in case.mentions:
            assert fragment in str(info.value), (fragment, str(info.value))
        return
    processed = processed_for(case.path)
    assert set(processed["region"]) <= set(sources.STATES)
    if case.step == "rt/inference":
        with pytest.raises(ValueError, match="positive"):
            prepare(corrections.observed_for_model(processed, "VT"))


def test_future_rows_change_nothing():
    good = processed_for(CORPUS / "covid_good.csv")
    future = processed_for(CASES["covid_future_dates"].path)
    pd.testing.assert_frame_equal(good, future)


def test_cumulative_drop_day_is_clipped_and_excluded_with_reason():
    processed = processed_for(CASES["covid_cumulative_drop"].path)
    vt = processed[processed["region"] == "VT"].set_index("date")
    assert (vt["positive"] >= 0).all()
    row = vt.loc[pd.Timestamp("2020-04-29")]
    assert row["positive"] == 0.0 and row["excluded"]
    assert row["exclusion_reason"].startswith("cumulative positive fell by"), row
    # Only that day changed against the good file (apart from the rebound day after it).
    good = processed_for(CORPUS / "covid_good.csv")
    good_vt = good[good["region"] == "VT"].set_index("date")
    differs = (vt["positive"] != good_vt["positive"]) | (vt["excluded"] != good_vt["excluded"])
    assert list(vt.index[differs].strftime("%Y-%m-%d")) == ["2020-04-29", "2020-04-30"]


def test_zero_tests_state_has_every_day_excluded():
    processed = processed_for(CASES["covid_zero_tests"].path)
    vt = processed[processed["region"] == "VT"]
    assert len(vt) and vt["excluded"].all()
    assert set(vt["exclusion_reason"]) == {corrections.POSITIVES_GE_TESTS}
    with pytest.raises(ValueError, match="positive"):
        prepare(corrections.observed_for_model(processed, "VT"))


# The cases whose bad rows are set aside (or ignored) while VT itself stays sound: the day
# must publish VT, from the good rows only. Every other case must refuse: the file fails at
# the counts, or VT (the only state run) has no positivity signal left.
PUBLISHES_WITHOUT_THE_BAD_ROWS = {
    "covid_cumulative_drop",
    "covid_unknown_state",
    "covid_future_dates",
}


@pytest.mark.parametrize("case", COVID_CASES, ids=lambda c: c.id)
def test_bad_day_publishes_only_good_rows_or_refuses(
    case: Case, published_good_day, tmp_path, monkeypatch
):
    good_run = published_good_day
    assert good_run.results["publish"].success, "the good day must publish first"
    lake = copy_lake(good_run, tmp_path / "lake")
    good_files = {
        rel: (lake / rel).read_bytes() for rel in (p.format(d=GOOD_DAY) for p in PUBLISHED)
    }
    before = published_under(lake)
    rt_env(monkeypatch, lake, case.path)
    # VT converges with the fast preset on the good rows (the good day's own run), so a
    # refusal below comes from the bad data, not from a sampler that could not converge.
    monkeypatch.setenv("RT_SAMPLER_PRESET", "fast")

    with dg.instance_for_test() as instance:
        counts = run_counts(BAD_DAY, instance)
        if case.outcome == "fail" and case.step == "rt/raw_counts":
            assert not counts.success
            message = failure_text(counts)
            for fragment in case.mentions:
                assert fragment in message, (fragment, message)
            # Neither the date's snapshot nor anything made from it is stored.
            assert not (lake / f"rt/raw_counts/{BAD_DAY}.csv.gz").exists()
            assert not (lake / f"rt/raw_counts/{BAD_DAY}").exists()
            assert not (lake / f"rt/processed_counts/{BAD_DAY}").exists()
        else:
            assert counts.success, failure_text(counts)
            stored = CODECS["parquet"].loads(
                (lake / f"rt/processed_counts/{BAD_DAY}/VT.parquet").read_bytes()
            )
            assert set(stored["region"]) == {"VT"}
            if case.step in ("rt/raw_counts", "rt/processed_counts") and case.mentions:
                # The counts step named by the case says what it set aside, in its metadata.
                node = counts.asset_materializations_for_node(case.step.replace("/", "__"))
                meta = node[0].metadata
                text = " ".join(str(v.value) for k, v in meta.items() if k != "preview")
                for fragment in case.mentions:
                    assert fragment in text, (fragment, text)
            state = run_state(BAD_DAY, "VT", instance)
            if case.id in PUBLISHES_WITHOUT_THE_BAD_ROWS:
                assert state.success, failure_text(state)
            else:
                assert not state.success
                message = failure_text(state)
                for fragment in ("VT", "positive"):
                    assert fragment in message, message
                assert not (lake / f"rt/summary/{BAD_DAY}/VT.parquet").exists()
        publish = pipeline.run_publication(BAD_DAY, instance)

    for rel, data in good_files.items():
        assert (lake / rel).read_bytes() == data, f"{rel} changed"
    if case.id in PUBLISHES_WITHOUT_THE_BAD_ROWS:
        assert publish.success, failure_text(publish)
        new = sorted(set(published_under(lake)) - set(before))
        assert new == [f"rt/published_csv/{BAD_DAY}.csv", f"rt/published_msgpack/{BAD_DAY}.msgpack"]
        published = pd.read_csv(lake / f"rt/published_csv/{BAD_DAY}.csv")
        # Only the sound state, only days before the run date: no XV, no future rows.
        assert set(published["region"]) == {"VT"}
        assert published["date"].max() == "2020-04-30"
    else:
        # No state summary exists for the bad day, so the publication job refuses.
        assert not publish.success
        assert "nothing to publish" in failure_text(publish)
        assert published_under(lake) == before, "nothing new may be published"
