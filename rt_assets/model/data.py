"""One state's observed frame laid out as the model sees it."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from rt_assets.model.assumptions import BUFFER_DAYS, EXPOSURE_CEILING, EXPOSURE_FLOOR


@dataclass(frozen=True)
class PreparedData:
    """One state's series, trimmed to the first positive and padded with buffer days."""

    dates: pd.DatetimeIndex
    positive: np.ndarray  # float, 0 on buffer days
    tests: np.ndarray  # float, 0 on buffer days and missing values
    weight: np.ndarray  # bool: the day enters the likelihood
    exposure: np.ndarray


def prepare(observed: pd.DataFrame, buffer_days: int = BUFFER_DAYS) -> PreparedData:
    """Validate one state's observed frame and lay it out as the model sees it."""
    missing = {"positive", "total", "excluded"} - set(observed.columns)
    if missing:
        raise ValueError(f"observed frame lacks columns {sorted(missing)}")
    index = observed.index
    if not isinstance(index, pd.DatetimeIndex) or index.name != "date":
        raise ValueError("observed frame must be indexed by a DatetimeIndex named 'date'")
    if len(index) and not index.equals(pd.date_range(index[0], periods=len(index), freq="D")):
        raise ValueError("observed 'date' index must be daily, sorted and contiguous")

    positive = observed["positive"].astype(float)
    total = observed["total"].astype(float)
    excluded = observed["excluded"].astype(bool)
    usable = ~excluded & positive.notna() & (positive > 0)
    if not usable.any():
        raise ValueError("observed frame has no non-excluded day with positives > 0")
    first = int(np.argmax(usable.to_numpy()))
    positive, total, excluded = positive.iloc[first:], total.iloc[first:], excluded.iloc[first:]

    dates = pd.date_range(
        positive.index[0] - pd.Timedelta(days=buffer_days), positive.index[-1], freq="D"
    )
    pad = np.zeros(buffer_days)
    pos = np.concatenate([pad, positive.to_numpy()])
    tests = np.concatenate([pad, total.fillna(0.0).clip(lower=0.0).to_numpy()])
    weight = np.concatenate(
        [np.zeros(buffer_days, bool), (~excluded & positive.notna() & total.gt(0)).to_numpy()]
    )
    if tests.max() <= 0:
        raise ValueError("observed frame has no day with tests > 0")
    exposure = np.clip(tests, tests.max() * EXPOSURE_FLOOR, EXPOSURE_CEILING)
    pos = np.where(weight, np.round(np.nan_to_num(pos)), 0.0)
    return PreparedData(dates.rename("date"), pos, tests, weight, exposure)
