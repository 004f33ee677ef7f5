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
