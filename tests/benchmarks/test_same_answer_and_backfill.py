"""The pure parts of two benchmarks: the same-answer criteria and the backfill summary."""

import pandas as pd
import pytest

from benchmarks import backfill, same_answer


def _summary(median, lower, upper):
    dates = pd.date_range("2021-01-01", periods=len(median)).strftime("%Y-%m-%d")
    return pd.DataFrame({"date": dates, "median": median, "lower_80": lower, "upper_80": upper})


def test_agreement_counts_close_medians_and_disjoint_intervals():
    reference = _summary([1.0] * 20, [0.9] * 20, [1.1] * 20)
    close = _summary([1.01] * 19 + [1.05], [0.91] * 20, [1.11] * 20)
    result = same_answer.agreement(reference, close)
    assert result["median_within"] == pytest.approx(0.95)
    assert result["max_median_diff"] == pytest.approx(0.05)
    assert result["hdi_disjoint_dates"] == []
    apart = _summary([1.0] * 19 + [1.3], [0.9] * 19 + [1.2], [1.1] * 19 + [1.4])
    assert same_answer.agreement(reference, apart)["hdi_disjoint_dates"] == ["2021-01-20"]


def test_agreement_refuses_summaries_of_different_dates():
    with pytest.raises(ValueError, match="different dates"):
        same_answer.agreement(
            _summary([1.0] * 3, [0.9] * 3, [1.1] * 3), _summary([1.0] * 2, [0.9] * 2, [1.1] * 2)
        )


def test_two_lakes_summaries_are_compared_state_by_state(tmp_path, capsys):
    date = "2021-03-07"
    for label, shift in (("old", 0.0), ("new", 0.01)):
        folder = tmp_path / label / "rt" / "summary" / date
        folder.mkdir(parents=True)
        _summary([1.0 + shift] * 5, [0.9] * 5, [1.1] * 5).to_parquet(folder / "VT.parquet")
        far = 0.5 if label == "new" else 0.0
        _summary([1.0 + far] * 5, [0.9 + far] * 5, [1.1 + far] * 5).to_parquet(
            folder / "CA.parquet"
        )
    out = tmp_path / "out"
    for label in ("old", "new"):
        argv = ["lake", "--label", label, "--lake", str(tmp_path / label), "--out", str(out)]
        assert same_answer.main([*argv, "--run-date", date]) == 0
    assert sorted(p.name for p in (out / "new").iterdir()) == ["CA.csv", "VT.csv"]
    assert same_answer.main(["compare", str(out / "old"), str(out / "new")]) == 1
    printed = capsys.readouterr()
    assert "VT         5              100.0%     0.010           0  ok" in printed.out
    assert "CA" in printed.out and "MISSED" in printed.out
    assert "missed the same-answer criteria: CA" in printed.err
    empty = ["lake", "--label", "x", "--lake", str(tmp_path / "none"), "--out", str(out)]
    assert same_answer.main(empty) == 1


def test_compare_s_help_and_missing_argument_error_print(capsys):
    with pytest.raises(SystemExit) as help_exit:
        same_answer.main(["compare", "--help"])
    assert help_exit.value.code == 0 and "reference" in capsys.readouterr().out
    with pytest.raises(SystemExit) as usage_exit:
        same_answer.main(["compare", "only-one"])
    assert usage_exit.value.code == 2 and "candidate" in capsys.readouterr().err


def test_backfill_summary_splits_run_time_into_steps_and_the_rest():
    runs = [
        {"partition": "2020-06-01|VT", "status": "SUCCESS", "launched": 0.0, "start": 5.0,
         "end": 65.0, "steps": {"rt__inference": 40.0, "rt__summary": 5.0}},
        {"partition": "2020-06-01|NH", "status": "SUCCESS", "launched": 0.0, "start": 10.0,
         "end": 50.0, "steps": {"rt__inference": 30.0}},
        {"partition": "2020-06-01", "status": "FAILURE", "launched": 70.0, "start": 72.0,
         "end": 92.0, "steps": {"rt__national_csv": 10.0}},
    ]  # fmt: skip
    summary = backfill.summarize({"step_start": "spawn", "status": "x", "wall_s": 120.0,
                                  "runs": runs}, n_date_state=2)  # fmt: skip
    assert summary["runs"] == 3 and summary["runs_failed"] == 1
    assert summary["date_state_runs"] == 2
    assert summary["run_s_per_date_state"] == pytest.approx(50.0)
    assert summary["in_runs_s"] == pytest.approx(120.0)
    assert summary["in_steps_s"] == pytest.approx(85.0)
    assert summary["step_s"] == {
        "rt__inference": 70.0,
        "rt__national_csv": 10.0,
        "rt__summary": 5.0,
    }
    assert summary["date_state_per_hour"] == pytest.approx(60.0)
    assert summary["history_projection_h"] == pytest.approx(backfill.HISTORY_PARTITIONS / 60.0)
    # The date|state phase: first launch (0 s) to the last date|state run's end (65 s).
    assert summary["date_state_phase_s"] == pytest.approx(65.0)
    assert summary["date_state_phase_per_hour"] == pytest.approx(2 / 65.0 * 3600)


def test_backfill_counts_a_batch_s_partitions():
    """A backfill's run of several dates of one state counts as that many partitions."""
    tags = {backfill.RANGE_START: "2021-01-16|VT", backfill.RANGE_END: "2021-01-31|VT"}
    assert backfill.run_partitions(tags) == "2021-01-16|VT..2021-01-31|VT"
    assert backfill.partition_count(tags) == 16
    assert backfill.partition_count({"dagster/partition": "2021-01-16|VT"}) == 1
    runs = [
        {"partition": "a|VT..b|VT", "partitions": 16, "status": "SUCCESS", "launched": 0.0,
         "start": 10.0, "end": 170.0, "steps": {"rt__inference": 150.0}},
        {"partition": "2021-01-16", "partitions": 1, "status": "SUCCESS", "launched": 170.0,
         "start": 172.0, "end": 180.0, "steps": {"rt__national_csv": 5.0}},
    ]  # fmt: skip
    summary = backfill.summarize({"step_start": "in_process", "status": "x", "wall_s": 180.0,
                                  "runs": runs}, n_date_state=16)  # fmt: skip
    assert summary["date_state_runs"] == 1 and summary["date_state_partitions"] == 16
    assert summary["run_s_per_date_state"] == pytest.approx(10.0)
    assert summary["date_state_phase_per_hour"] == pytest.approx(16 / 170.0 * 3600)
