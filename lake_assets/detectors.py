"""Three anomaly detectors over daily mean departure delay per airport.

Pure functions (numpy, pandas, scikit-learn, statsmodels), no Dagster.

- ``isolation_forest``: the original approach, an IsolationForest per airport
  on the daily mean delay with a fixed random state.
- ``arima``: the original approach, an ARIMA(p, 0, q) per airport with
  (p, q) <= (4, 4) chosen by AIC, flagging residuals beyond 3 standard
  deviations.
- ``robust``: residual from a robust seasonal baseline (29-day rolling
  median trend + the airport's weekly profile), minus the day's median
  residual over all airports (holidays, national bad days) and the median
  of the airport's 8 most similar airports that day (regional weather; the
  peers are learned from residual correlation), weighted by the day's
  flights (standard error of a mean) and scaled by a 121-day rolling MAD;
  the score is that one-sided z-score (an incident makes delays longer),
  flags above 3.5 with at most 10 per airport and year. Its settings were
  chosen on synthetic seed 1 and are reported on seed 0.

Each detector returns one score per day (higher: more anomalous) and a flag.
Airports with fewer than ``MIN_DAYS`` days of data are not scored and are
reported by ``detect``.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

MIN_DAYS = 60
DETECTORS = ("iforest", "arima", "robust")
# What a deployed run computes unless its config asks for more: the robust detector
# scores a 350-airport year in seconds; ARIMA takes seconds per airport, so a whole year
# runs past the light step's deadline (benchmarks/results/2026-12-01-lake-detectors.md).
DEFAULT_DETECTORS = ("robust",)
# The comparison detectors (IsolationForest, ARIMA), when asked for, score at most this
# many airports (the busiest), so that opting in cannot run past the step deadline either.
COMPARISON_MAX_AIRPORTS = 20
IFOREST_RANDOM_STATE = 42
IFOREST_CONTAMINATION = 0.02
ARIMA_MAX_P = 4
ARIMA_MAX_Q = 4
ARIMA_THRESHOLD = 3.0
ROBUST_THRESHOLD = 3.5
ROBUST_MAX_FLAGS = 10  # per airport and year: incidents are rare by definition
MAD_TO_SIGMA = 1.4826
TREND_DAYS = 29  # robust trend window: far longer than a 1-2 day incident
SCALE_DAYS = 121  # rolling MAD window: the noise level follows the seasons
ROBUST_PEERS = 8  # airports whose residuals move most with this one (its "region")


@dataclass
class DetectionReport:
    scored_airports: int = 0
    insufficient: dict[str, int] = field(default_factory=dict)  # origin -> days of data
    arima_orders: dict[str, tuple[int, int]] = field(default_factory=dict)
    detectors_run: tuple[str, ...] = ()
    # Airports each comparison detector scored (the busiest, at most the cap).
    comparison_airports: list[str] = field(default_factory=list)
    seconds: dict[str, float] = field(default_factory=dict)
    flags: dict[str, int] = field(default_factory=dict)


def isolation_forest(values: np.ndarray, random_state: int = IFOREST_RANDOM_STATE):
    """Scores (higher: more isolated) and flags of an IsolationForest on one series."""
    from sklearn.ensemble import IsolationForest

    x = np.asarray(values, dtype=float).reshape(-1, 1)
    model = IsolationForest(
        n_estimators=100, contamination=IFOREST_CONTAMINATION, random_state=random_state
    ).fit(x)
    return -model.score_samples(x), model.predict(x) == -1


def arima(
    values: np.ndarray,
    max_p: int = ARIMA_MAX_P,
    max_q: int = ARIMA_MAX_Q,
    threshold: float = ARIMA_THRESHOLD,
):
    """ARIMA(p, 0, q) chosen by AIC over p <= max_p, q <= max_q; |residual| / sd as score.

    Missing days (NaN) are handled by the state-space likelihood.
    Returns scores, flags and the chosen (p, q).
    """
    from statsmodels.tsa.arima.model import ARIMA
    from threadpoolctl import threadpool_limits

    y = np.asarray(values, dtype=float)
    best = None
    # Tiny matrices: a multi-threaded BLAS only spins (30x slower on a busy box).
    with warnings.catch_warnings(), threadpool_limits(limits=1):
        # Convergence chatter for the larger orders is expected; AIC decides.
        warnings.simplefilter("ignore")
        for p in range(max_p + 1):
            for q in range(max_q + 1):
                try:
                    result = ARIMA(y, order=(p, 0, q)).fit()
                except (ValueError, np.linalg.LinAlgError):
                    continue
                if np.isfinite(result.aic) and (best is None or result.aic < best[0]):
                    best = (result.aic, (p, q), result.resid)
    if best is None:
        raise ValueError("no ARIMA order could be fitted")
    _, order, resid = best
    resid = np.asarray(resid, dtype=float)
    sd = np.nanstd(resid)
    score = np.abs(resid) / sd if sd > 0 else np.zeros_like(resid)
    return score, score > threshold, order


def mad_score(resid: np.ndarray) -> np.ndarray:
    """(r - median) / (1.4826 MAD): a z-score that a few huge outliers cannot inflate."""
    r = np.asarray(resid, dtype=float)
    center = np.nanmedian(r)
    mad = np.nanmedian(np.abs(r - center)) * MAD_TO_SIGMA
    if not np.isfinite(mad) or mad == 0:
        return np.zeros_like(r)
    return (r - center) / mad


def cap_flags(score: np.ndarray, threshold: float, max_flags: int) -> np.ndarray:
    """Flags where score > threshold, at most ``max_flags`` (the highest scores)."""
    score = np.nan_to_num(np.asarray(score, dtype=float), nan=-np.inf)
    flags = score > threshold
    if flags.sum() > max_flags:
        keep = np.argsort(-score, kind="stable")[:max_flags]
        flags = np.zeros_like(flags)
        flags[keep] = True
    return flags


def _rolling_median(frame: pd.DataFrame, window: int, min_periods: int) -> pd.DataFrame:
    return frame.rolling(window, center=True, min_periods=min_periods).median()


def seasonal_residuals(delay: pd.DataFrame) -> pd.DataFrame:
    """Daily delay minus a robust baseline, per airport (one column each).

    Baseline: a long centred rolling median (``TREND_DAYS``: an incident of
    one or two days cannot move it) plus the airport's weekly profile (median
    deviation from the trend per day of the week), estimated twice so that
    each is fitted on data cleared of the other.
    """
    dow = delay.index.dayofweek
    trend = _rolling_median(delay, TREND_DAYS, TREND_DAYS // 3)
    weekly = (delay - trend).groupby(dow).median()
    seasonal = weekly.reindex(dow).set_axis(delay.index)
    trend = _rolling_median(delay - seasonal, TREND_DAYS, TREND_DAYS // 3)
    weekly = (delay - trend).groupby(dow).median()
    seasonal = weekly.reindex(dow).set_axis(delay.index)
    return delay - trend - seasonal


def _peer_consensus(resid: pd.DataFrame, peers: int) -> pd.DataFrame:
    """Per airport and day: the median residual of the ``peers`` airports that move most with it.

    Regional bad weather hits a group of airports on the same days; which
    airports form a group is learned from the data (correlation of the
    airports' residuals, clipped so that single incidents do not decide it),
    since the lake has no map of regions.
    """
    z = resid / (resid.abs().median() * MAD_TO_SIGMA).replace(0, np.nan)
    z = z.clip(-4, 4).fillna(0.0).to_numpy()
    z = z - z.mean(axis=0)
    norm = np.sqrt((z**2).sum(axis=0))
    norm[norm == 0] = 1.0
    corr = (z.T @ z) / np.outer(norm, norm)
    np.fill_diagonal(corr, -np.inf)
    k = min(peers, resid.shape[1] - 1)
    nearest = np.argsort(-corr, axis=1)[:, :k]
    values = resid.to_numpy()
    stacked = values[:, nearest]  # days x airports x peers
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # a day no peer flew
        consensus = np.nanmedian(stacked, axis=2)
    return pd.DataFrame(np.nan_to_num(consensus), index=resid.index, columns=resid.columns)


def robust_scores(
    delay: pd.DataFrame, flights: pd.DataFrame | None = None, peers: int | None = None
) -> pd.DataFrame:
    """Robust anomaly scores, one column per airport, one row per day (higher: more anomalous).

    1. residual from the seasonal baseline (``seasonal_residuals``);
    2. cross-sectional adjustment (with 3 or more airports): minus the day's
       median residual over all airports (holidays, national bad days), then
       minus the median of the airport's most similar peers that day
       (regional weather), so that only what is local to the airport is left;
    3. scaled by the standard error of a daily mean (residual x sqrt(flights
       that day / typical flights)) and a centred rolling MAD
       (``SCALE_DAYS``), so scores of large and small airports, and of calm
       and stormy seasons, are comparable;
    4. one-sided: an incident makes delays longer, so the score is the
       signed z-score (a quiet day scores low, not high).
    """
    peers = ROBUST_PEERS if peers is None else peers
    resid = seasonal_residuals(delay)
    if resid.shape[1] >= 3:
        resid = resid.sub(resid.median(axis=1), axis=0)
        if peers > 0:
            resid = resid - _peer_consensus(resid, peers)
    if flights is not None:
        typical = flights.where(flights > 0).median()
        weight = np.sqrt(flights.where(flights > 0) / typical)
        resid = resid * weight.reindex_like(resid)
    center = _rolling_median(resid, SCALE_DAYS, SCALE_DAYS // 3)
    spread = _rolling_median((resid - center).abs(), SCALE_DAYS, SCALE_DAYS // 3)
    whole = (resid - resid.median()).abs().median()
    # A floor at half the airport's whole-year spread: a run of calm days
    # must not make an ordinary day look extreme.
    spread = spread.clip(lower=0.5 * whole, axis=1) * MAD_TO_SIGMA
    score = (resid - center) / spread.replace(0, np.nan)
    return score.where(delay.notna())


def robust(
    residuals: pd.Series,
    threshold: float = ROBUST_THRESHOLD,
    max_flags: int = ROBUST_MAX_FLAGS,
):
    """Scores and flags of one airport's residuals (MAD z-score, capped flags)."""
    score = mad_score(residuals.to_numpy())
    return score, cap_flags(score, threshold, max_flags)


def robust_single(
    values: pd.Series, threshold: float = ROBUST_THRESHOLD, max_flags: int = ROBUST_MAX_FLAGS
):
    """The robust detector on one series alone (no other airports to compare with)."""
    score = robust_scores(values.to_frame("x"))["x"].to_numpy()
    return score, cap_flags(score, threshold, max_flags)


def _daily_series(gold: pd.DataFrame, column: str = "mean_dep_delay") -> dict[str, pd.Series]:
    """One daily series per airport, from its first to its last day (missing days NaN)."""
    frame = pd.DataFrame(
        {
            "origin": gold["origin"].astype(str).to_numpy(),
            "fl_date": pd.to_datetime(gold["fl_date"].astype("string")).to_numpy(),
            "value": gold[column].astype(float).to_numpy(),
        }
    )
    wide = frame.pivot(index="fl_date", columns="origin", values="value")
    wide = wide.asfreq("D") if len(wide) else wide
    # Each series spans the airport's own first..last day with a row (a day
    # with a row but no departure has a NaN delay, like a day without a row).
    span = frame.groupby("origin")["fl_date"].agg(["min", "max"])
    return {
        str(o): wide[o].loc[span.at[o, "min"] : span.at[o, "max"]].rename(None)
        for o in sorted(wide.columns)
    }


def detect(
    gold: pd.DataFrame,
    detectors: tuple[str, ...] = DEFAULT_DETECTORS,
    min_days: int = MIN_DAYS,
    comparison_max_airports: int | None = COMPARISON_MAX_AIRPORTS,
) -> tuple[pd.DataFrame, DetectionReport]:
    """Run the detectors on every airport of a gold table.

    Returns one row per gold row (fl_date, origin) with ``<detector>_score``
    and ``<detector>_flag`` columns for every known detector (NaN / False where
    the airport has too little data, marked in ``status``, and for a detector
    that was not run or did not score that airport), and a report.

    The defaults are the production step's: the robust detector only, and
    the comparison cap, so that a caller who passes nothing cannot start an
    hour of ARIMA fits (every airport, uncapped) by accident.
    ``comparison_max_airports`` limits IsolationForest and ARIMA to that many
    of the busiest airports (by flights); ``None`` scores every airport.
    """
    unknown = set(detectors) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; known: {DETECTORS}")
    if comparison_max_airports is not None and comparison_max_airports < 0:
        raise ValueError(f"comparison_max_airports must be >= 0, got {comparison_max_airports}")
    report = DetectionReport(detectors_run=tuple(d for d in DETECTORS if d in detectors))
    series = _daily_series(gold)
    flight_counts = _daily_series(gold, "flights")
    scored = {}
    for origin, s in series.items():
        days = int(s.notna().sum())
        if days < min_days:
            report.insufficient[origin] = days
        else:
            scored[origin] = s
    report.scored_airports = len(scored)
    compared = _busiest(gold, scored, comparison_max_airports)
    if {"iforest", "arima"} & set(detectors):
        report.comparison_airports = list(compared)

    results: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {d: {} for d in DETECTORS}
    if "iforest" in detectors:
        start = time.perf_counter()
        for origin, s in compared.items():
            observed = s.dropna()
            score, flag = isolation_forest(observed.to_numpy())
            results["iforest"][origin] = (
                pd.Series(score, observed.index).reindex(s.index).to_numpy(),
                pd.Series(flag, observed.index).reindex(s.index, fill_value=False).to_numpy(),
            )
        report.seconds["iforest"] = time.perf_counter() - start
    if "arima" in detectors:
        start = time.perf_counter()
        for origin, s in compared.items():
            score, flag, order = arima(s.to_numpy())
            results["arima"][origin] = (score, flag)
            report.arima_orders[origin] = order
        report.seconds["arima"] = time.perf_counter() - start
    if "robust" in detectors and scored:
        start = time.perf_counter()
        delay = pd.DataFrame({o: s for o, s in scored.items()})
        counts = pd.DataFrame({o: flight_counts[o] for o in scored})
        score = robust_scores(delay, counts)
        for origin, s in scored.items():
            col = score[origin].reindex(s.index).to_numpy()
            results["robust"][origin] = (col, cap_flags(col, ROBUST_THRESHOLD, ROBUST_MAX_FLAGS))
        report.seconds["robust"] = time.perf_counter() - start

    out = gold.copy()
    key = pd.to_datetime(out["fl_date"].astype("string"))
    out["status"] = np.where(
        out["origin"].isin(list(report.insufficient)), "insufficient_data", "scored"
    )
    rows_of = out.groupby(out["origin"].astype(str), sort=False).indices
    for name in DETECTORS:
        score_col = np.full(len(out), np.nan)
        flag_col = np.zeros(len(out), dtype=bool)
        for origin, (score, flag) in results[name].items():
            idx = series[origin].index
            rows = rows_of[origin]
            pos = idx.get_indexer(key.iloc[rows])
            score_col[rows] = np.asarray(score, dtype=float)[pos]
            flag_col[rows] = np.asarray(flag, dtype=bool)[pos] & np.isfinite(score_col[rows])
        out[f"{name}_score"] = score_col
        out[f"{name}_flag"] = flag_col
        if name in detectors:
            report.flags[name] = int(flag_col.sum())
    return out, report


def _busiest(
    gold: pd.DataFrame, scored: dict[str, pd.Series], limit: int | None
) -> dict[str, pd.Series]:
    """The scorable airports with the most flights, at most ``limit`` (all if None)."""
    if limit is None or limit >= len(scored):
        return scored
    flights = gold.groupby(gold["origin"].astype(str), observed=True)["flights"].sum()
    ranked = flights.reindex(list(scored)).sort_values(ascending=False, kind="stable")
    return {origin: scored[origin] for origin in ranked.index[:limit]}
