"""Three anomaly detectors over daily mean departure delay per airport.

Pure functions (numpy, pandas, scikit-learn, statsmodels), no Dagster.

- ``isolation_forest``: the original approach, an IsolationForest per airport
  on the daily mean delay with a fixed random state.
- ``arima``: the original approach, an ARIMA(p, 0, q) per airport with
  (p, q) <= (4, 4) chosen by AIC, flagging residuals beyond 3 standard
  deviations.
- ``robust``: seasonal-trend decomposition (STL, weekly period, robust
  fitting) of log-scaled delays, minus the day's median residual across
  airports (holidays and national bad days are not local incidents), scored
  by the median absolute deviation (the smaller of the airport's own and the
  relative score), one-sided (an incident makes delays
  longer), with a cap on flags per series.

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
IFOREST_RANDOM_STATE = 42
IFOREST_CONTAMINATION = 0.02
ARIMA_MAX_P = 4
ARIMA_MAX_Q = 4
ARIMA_THRESHOLD = 3.0
ROBUST_THRESHOLD = 3.5
ROBUST_MAX_FLAGS = 10  # per airport and year: incidents are rare by definition
MAD_TO_SIGMA = 1.4826


@dataclass
class DetectionReport:
    scored_airports: int = 0
    insufficient: dict[str, int] = field(default_factory=dict)  # origin -> days of data
    arima_orders: dict[str, tuple[int, int]] = field(default_factory=dict)
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


def log_delay(values: np.ndarray) -> np.ndarray:
    """Log-like scale for delays in minutes that may be negative (asinh: log for large values)."""
    return np.arcsinh(np.asarray(values, dtype=float) / 5.0)


def stl_residuals(values: pd.Series) -> pd.Series:
    """Remainder of a robust weekly STL of the log-scaled series (missing days interpolated)."""
    from statsmodels.tsa.seasonal import STL

    z = pd.Series(log_delay(values.to_numpy()), index=values.index)
    filled = z.interpolate(limit_direction="both")
    fit = STL(filled, period=7, seasonal=7, trend=15, robust=True).fit()
    resid = pd.Series(fit.resid, index=values.index)
    return resid.where(z.notna())


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


def robust(
    residuals: pd.Series,
    threshold: float = ROBUST_THRESHOLD,
    max_flags: int = ROBUST_MAX_FLAGS,
):
    """Scores and flags of one airport's (common-mode removed) STL residuals."""
    score = mad_score(residuals.to_numpy())
    return score, cap_flags(score, threshold, max_flags)


def robust_single(
    values: pd.Series, threshold: float = ROBUST_THRESHOLD, max_flags: int = ROBUST_MAX_FLAGS
):
    """The robust detector on one series alone (no other airports to compare with)."""
    return robust(stl_residuals(values), threshold, max_flags)


def _daily_series(gold: pd.DataFrame) -> dict[str, pd.Series]:
    frame = gold[["origin", "fl_date", "mean_dep_delay"]].copy()
    frame["fl_date"] = pd.to_datetime(frame["fl_date"].astype("string"))
    out = {}
    for origin, group in frame.groupby("origin", sort=True, observed=True):
        s = group.set_index("fl_date")["mean_dep_delay"].astype(float).sort_index()
        out[str(origin)] = s.asfreq("D")
    return out


def detect(
    gold: pd.DataFrame,
    detectors: tuple[str, ...] = DETECTORS,
    min_days: int = MIN_DAYS,
) -> tuple[pd.DataFrame, DetectionReport]:
    """Run the detectors on every airport of a gold table.

    Returns one row per gold row (fl_date, origin) with ``<detector>_score``
    and ``<detector>_flag`` columns (NaN / False where the airport has too
    little data, marked in ``status``), and a report.
    """
    unknown = set(detectors) - set(DETECTORS)
    if unknown:
        raise ValueError(f"unknown detectors {sorted(unknown)}; known: {DETECTORS}")
    report = DetectionReport()
    series = _daily_series(gold)
    scored = {}
    for origin, s in series.items():
        days = int(s.notna().sum())
        if days < min_days:
            report.insufficient[origin] = days
        else:
            scored[origin] = s
    report.scored_airports = len(scored)

    results: dict[str, dict[str, tuple[np.ndarray, np.ndarray]]] = {d: {} for d in detectors}
    if "iforest" in detectors:
        start = time.perf_counter()
        for origin, s in scored.items():
            observed = s.dropna()
            score, flag = isolation_forest(observed.to_numpy())
            results["iforest"][origin] = (
                pd.Series(score, observed.index).reindex(s.index).to_numpy(),
                pd.Series(flag, observed.index).reindex(s.index, fill_value=False).to_numpy(),
            )
        report.seconds["iforest"] = time.perf_counter() - start
    if "arima" in detectors:
        start = time.perf_counter()
        for origin, s in scored.items():
            score, flag, order = arima(s.to_numpy())
            results["arima"][origin] = (score, flag)
            report.arima_orders[origin] = order
        report.seconds["arima"] = time.perf_counter() - start
    if "robust" in detectors:
        start = time.perf_counter()
        own = pd.DataFrame({o: stl_residuals(s) for o, s in scored.items()})
        shared = own.median(axis=1, skipna=True) if own.shape[1] >= 3 else None
        for origin, s in scored.items():
            score, flags = robust(own[origin].reindex(s.index))
            if shared is not None:
                # Shared shocks (holidays, a region's weather) are not local
                # incidents: a day must stand out for the airport itself and
                # against the other airports that day.
                relative, _ = robust((own[origin] - shared).reindex(s.index))
                score = np.fmin(score, relative)
                flags = cap_flags(score, ROBUST_THRESHOLD, ROBUST_MAX_FLAGS)
            results["robust"][origin] = (score, flags)
        report.seconds["robust"] = time.perf_counter() - start

    out = gold.copy()
    key = pd.to_datetime(out["fl_date"].astype("string"))
    out["status"] = np.where(
        out["origin"].isin(list(report.insufficient)), "insufficient_data", "scored"
    )
    for name in detectors:
        score_col = np.full(len(out), np.nan)
        flag_col = np.zeros(len(out), dtype=bool)
        for origin, (score, flag) in results[name].items():
            idx = series[origin].index
            rows = np.flatnonzero((out["origin"] == origin).to_numpy())
            pos = idx.get_indexer(key.iloc[rows])
            score_col[rows] = np.asarray(score, dtype=float)[pos]
            flag_col[rows] = np.asarray(flag, dtype=bool)[pos] & np.isfinite(score_col[rows])
        out[f"{name}_score"] = score_col
        out[f"{name}_flag"] = flag_col
        report.flags[name] = int(flag_col.sum())
    return out, report
