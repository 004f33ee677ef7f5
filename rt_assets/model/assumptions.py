"""The model's fixed assumptions: priors, generation interval, delay, data layout constants.

These are rt.live's (rtcovidlive/covid-model, ``covid/models/generative.py``). A change
here changes the model: bump ``MODEL_VERSION`` (tests/rt_assets/test_model_fingerprint.py
fails until it is bumped and the new fingerprint recorded).
"""

from __future__ import annotations

from importlib import resources

import numpy as np
import pandas as pd
from scipy import stats

# The inference asset's code_version, and stamped into every stored posterior.
MODEL_VERSION = "rtlive-generative-1.0+nutpie-4"

BUFFER_DAYS = 10
GENERATION_TIME_MEAN = 4.7
GENERATION_TIME_SD = 2.9
GENERATION_TIME_DAYS = 20
RANDOM_WALK_SIGMA = 0.035
INIT_LOG_R_SIGMA = 1.0
SEED_LAM = 50.0
ALPHA_MU = 6.0
ALPHA_SIGMA = 1.0
EXPOSURE_FLOOR = 0.1
EXPOSURE_CEILING = 1e9


def load_p_delay() -> np.ndarray:
    """rt.live's onset-to-confirmation delay distribution (bundled CSV, sums to 1)."""
    ref = resources.files("rt_assets") / "data" / "rtlive_p_delay.csv"
    with resources.as_file(ref) as path:
        frame = pd.read_csv(path)
    if "p_delay" not in frame.columns:
        raise ValueError(f"{path}: expected a column 'p_delay', got {list(frame.columns)}")
    values = frame["p_delay"].to_numpy(dtype=float)
    if values.ndim != 1 or np.any(values < 0) or not np.isclose(values.sum(), 1.0, atol=1e-6):
        raise ValueError(f"{path}: p_delay must be non-negative probabilities summing to 1")
    return values


def generation_time() -> np.ndarray:
    """Generation time: lognormal (mean 4.7, SD 2.9 days), discretised over 20 days.

    As rt.live: CDF differences on days 0..19, day 0 gets zero, renormalised.
    """
    mean, sd = GENERATION_TIME_MEAN, GENERATION_TIME_SD
    mu = np.log(mean**2 / np.sqrt(sd**2 + mean**2))
    sigma = np.sqrt(np.log(sd**2 / mean**2 + 1))
    cdf = stats.lognorm(scale=np.exp(mu), s=sigma).cdf(np.arange(GENERATION_TIME_DAYS))
    gt = np.diff(cdf, prepend=np.nan)
    gt[0] = 0.0
    return gt / gt.sum()
