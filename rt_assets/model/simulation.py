"""Synthetic observations drawn from the generative model for a known Rt path."""

from __future__ import annotations

import numpy as np
import pandas as pd

from rt_assets.model.assumptions import (
    BUFFER_DAYS,
    EXPOSURE_CEILING,
    EXPOSURE_FLOOR,
    generation_time,
    load_p_delay,
)
from rt_assets.model.kernels import _renewal


def simulate(
    r_t: pd.Series,
    tests: np.ndarray | float = 20_000.0,
    seed_infections: float = 0.02,
    alpha: float = 6.0,
    rng: np.random.Generator | int | None = 0,
    p_delay: np.ndarray | None = None,
) -> pd.DataFrame:
    """Daily positives drawn from the generative model for a known Rt path.

    ``r_t`` is indexed by date and starts on the day of the seed (the model's first
    buffer day). Returns the observed frame ``build_model`` takes, starting
    ``BUFFER_DAYS`` after the seed, with a column ``r_t_true``.
    """
    rng = np.random.default_rng(rng)
    p_delay = load_p_delay() if p_delay is None else np.asarray(p_delay, dtype=float)
    r = r_t.to_numpy(dtype=float)
    n = len(r)
    tests = np.broadcast_to(np.asarray(tests, dtype=float), (n,))
    infections = _renewal(r, float(seed_infections), generation_time())
    adjusted = np.convolve(infections, p_delay)[:n]
    exposure = np.clip(tests, tests.max() * EXPOSURE_FLOOR, EXPOSURE_CEILING)
    mu = exposure * adjusted
    # NegativeBinomial(mu, alpha) as a Gamma-Poisson mixture.
    positive = rng.poisson(rng.gamma(alpha, mu / alpha)).astype(float)
    frame = pd.DataFrame(
        {
            "positive": positive,
            "total": tests,
            "excluded": False,
            "r_t_true": r,
        },
        index=pd.DatetimeIndex(r_t.index, name="date"),
    )
    return frame.iloc[BUFFER_DAYS:]
