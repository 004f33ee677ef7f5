"""Posterior -> rt.live's published ``rt.csv`` rows, and the Rt plot (pure, no Dagster)."""

from __future__ import annotations

import io

import arviz as az
import numpy as np
import pandas as pd
import xarray as xr

# rt.live's published rt.csv header: part of the product's interface.
RT_CSV_COLUMNS = [
    "date",
    "region",
    "index",
    "mean",
    "median",
    "lower_80",
    "upper_80",
    "infections",
    "test_adjusted_positive",
    "test_adjusted_positive_raw",
    "positive",
    "tests",
    "new_tests",
    "new_cases",
    "new_deaths",
]
HDI_PROB = 0.8


def _scale_to(reference: pd.Series, series: pd.Series) -> pd.Series:
    """Rescale ``series`` to the mean of the observed positives, as rt.live published it."""
    denominator = series.mean()
    if not np.isfinite(denominator) or denominator == 0:
        return series * np.nan
    return series * (reference.mean() / denominator)


def summarize(idata: xr.DataTree, counts: pd.DataFrame, region: str) -> pd.DataFrame:
    """One row per observed day of ``region``: Rt mean, median, 80% HDI and the counts.

    ``counts`` are the region's processed counts (``rt/processed_counts`` rows);
    the posterior's buffer days before them are left out. ``positive``/``tests``
    are the corrected daily counts the model saw; ``new_cases``/``new_tests`` the
    daily changes as the source reported them (unclipped); ``new_deaths`` as reported.
    """
    posterior = idata.posterior
    if "r_t" not in posterior:
        raise ValueError(f"{region}: posterior has no variable 'r_t'")
    counts = counts[counts["region"] == region].sort_values("date")
    counts = counts.set_index(pd.DatetimeIndex(counts["date"], name="date"))
    post_dates = pd.DatetimeIndex(posterior["date"].values, name="date")
    days = post_dates.intersection(counts.index)
    if days.empty:
        raise ValueError(
            f"{region}: posterior dates ({post_dates.min():%Y-%m-%d} to "
            f"{post_dates.max():%Y-%m-%d}) do not overlap the processed counts"
        )
    r_t = posterior["r_t"].sel(date=days.values)
    hdi = az.hdi(r_t, prob=HDI_PROB)
    sample_dims = ["chain", "draw"]
    reported = pd.DataFrame(
        {
            "new_tests": counts["tests_cumulative"].diff(),
            "new_cases": counts["positive_cumulative"].diff(),
            "new_deaths": counts["new_deaths"].astype(float),
        }
    ).loc[days]
    counts = counts.loc[days]
    positive = counts["positive"].astype(float)
    tests = counts["total"].astype(float)

    def posterior_mean(name: str) -> pd.Series:
        if name not in posterior:
            return pd.Series(np.nan, index=days)
        values = posterior[name].sel(date=days.values).mean(sample_dims).values
        return _scale_to(positive, pd.Series(values, index=days))

    raw = positive / tests.clip(lower=max(tests.max(), 0) * 0.1).replace(0, np.nan)
    summary = pd.DataFrame(
        {
            "date": days.strftime("%Y-%m-%d"),
            "region": region,
            "index": np.arange(len(days)),
            "mean": r_t.mean(sample_dims).values,
            "median": r_t.median(sample_dims).values,
            "lower_80": hdi.sel(ci_bound="lower").values,
            "upper_80": hdi.sel(ci_bound="upper").values,
            "infections": posterior_mean("infections").values,
            "test_adjusted_positive": posterior_mean("test_adjusted_positive").values,
            "test_adjusted_positive_raw": _scale_to(positive, raw).values,
            "positive": positive.values,
            "tests": tests.values,
            "new_tests": reported["new_tests"].values,
            "new_cases": reported["new_cases"].values,
            "new_deaths": reported["new_deaths"].values,
        }
    )
    return summary[RT_CSV_COLUMNS].reset_index(drop=True)


def latest(summary: pd.DataFrame) -> dict[str, float | str]:
    """The last day's Rt of one region's summary, for logs and metadata."""
    last = summary.iloc[-1]
    return {
        "date": str(last["date"]),
        "mean": float(last["mean"]),
        "lower_80": float(last["lower_80"]),
        "upper_80": float(last["upper_80"]),
    }


def rt_plot_png(summary: pd.DataFrame, title: str = "") -> bytes:
    """Rt mean with its 80% HDI band as a PNG (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    dates = pd.to_datetime(summary["date"])
    fig, ax = plt.subplots(figsize=(7, 2.8), dpi=90)
    try:
        ax.fill_between(
            dates, summary["lower_80"], summary["upper_80"], color="tab:blue", alpha=0.25,
            linewidth=0, label="80% HDI",
        )  # fmt: skip
        ax.plot(dates, summary["mean"], color="tab:blue", linewidth=1.5, label="mean Rt")
        ax.axhline(1.0, color="black", linewidth=0.8, linestyle="--")
        ax.set_ylim(0.5, max(2.0, float(np.nanmax(summary["upper_80"])) * 1.05))
        ax.set_ylabel("Rt")
        ax.set_title(title or str(summary["region"].iloc[0]))
        ax.legend(loc="upper right", fontsize=8)
        fig.autofmt_xdate()
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
        return buf.getvalue()
    finally:
        plt.close(fig)
