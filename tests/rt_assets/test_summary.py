"""Posterior -> rt.csv rows, on a generated posterior (ArviZ DataTree) with known values."""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from rt_assets import summary

DATES = pd.date_range("2020-04-01", periods=12, freq="D", name="date")
BUFFER = pd.date_range("2020-03-29", periods=3, freq="D", name="date")


def counts() -> pd.DataFrame:
    n = len(DATES)
    return pd.DataFrame(
        {
            "region": "AA",
            "date": DATES,
            "positive": np.arange(10.0, 10.0 + n),
            "total": np.full(n, 100.0),
            "excluded": [False] * n,
            "exclusion_reason": [""] * n,
            "positive_cumulative": np.cumsum(np.arange(10.0, 10.0 + n)) + 5,
            "tests_cumulative": np.cumsum(np.full(n, 100.0)),
            "new_deaths": np.ones(n),
        }
    )


@pytest.fixture
def idata() -> xr.DataTree:
    rng = np.random.default_rng(1)
    dates = BUFFER.append(DATES)
    true_rt = np.linspace(1.4, 0.8, len(dates))
    draws = true_rt + rng.normal(0, 0.05, size=(2, 400, len(dates)))
    infections = np.broadcast_to(np.linspace(1, 2, len(dates)), (2, 400, len(dates)))
    return az.from_dict(
        {
            "posterior": {
                "r_t": draws,
                "infections": infections,
                "test_adjusted_positive": infections,
            }
        },
        coords={"date": dates.values},
        dims={"r_t": ["date"], "infections": ["date"], "test_adjusted_positive": ["date"]},
    )


def test_rows_header_and_observed_days_only(idata):
    rows = summary.summarize(idata, counts(), "AA")
    assert list(rows.columns) == summary.RT_CSV_COLUMNS
    assert list(rows["date"]) == list(DATES.strftime("%Y-%m-%d"))  # no buffer days
    assert list(rows["index"]) == list(range(len(DATES)))
    assert (rows["region"] == "AA").all()


def test_rt_statistics_and_80_percent_hdi(idata):
    rows = summary.summarize(idata, counts(), "AA")
    r_t = idata.posterior["r_t"].sel(date=DATES.values).values.reshape(-1, len(DATES))
    np.testing.assert_allclose(rows["mean"], r_t.mean(axis=0))
    np.testing.assert_allclose(rows["median"], np.median(r_t, axis=0))
    inside = ((r_t >= rows["lower_80"].values) & (r_t <= rows["upper_80"].values)).mean(axis=0)
    assert np.all(np.abs(inside - 0.8) < 0.02)
    assert (rows["upper_80"] - rows["lower_80"] < 2 * 1.2816 * 0.05 * 1.15).all()


def test_counts_and_scaled_curves(idata):
    rows = summary.summarize(idata, counts(), "AA")
    c = counts()
    assert list(rows["positive"]) == list(c["positive"])
    assert list(rows["tests"]) == list(c["total"])
    # reported daily changes: first observed day has no previous cumulative value
    assert np.isnan(rows["new_cases"].iloc[0])
    assert list(rows["new_cases"].iloc[1:]) == list(c["positive"].iloc[1:])
    assert list(rows["new_tests"].iloc[1:]) == [100.0] * (len(DATES) - 1)
    # the curves are rescaled to the mean of the observed positives, as rt.live did
    for column in ("infections", "test_adjusted_positive", "test_adjusted_positive_raw"):
        assert rows[column].mean() == pytest.approx(c["positive"].mean())


def test_mismatched_dates_fail_clearly(idata):
    late = counts().assign(date=pd.date_range("2021-01-01", periods=len(DATES)))
    with pytest.raises(ValueError, match="do not overlap"):
        summary.summarize(idata, late, "AA")


def test_plot_is_a_png(idata):
    rows = summary.summarize(idata, counts(), "AA")
    png = summary.rt_plot_png(rows)
    assert png.startswith(b"\x89PNG")
    assert summary.latest(rows)["date"] == "2020-04-12"
