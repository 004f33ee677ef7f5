"""The PyMC model of one state: Rt prior, renewal, delay, exposure, likelihood."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pytensor.tensor.signal import convolve1d

from rt_assets.model.assumptions import (
    ALPHA_MU,
    ALPHA_SIGMA,
    INIT_LOG_R_SIGMA,
    RANDOM_WALK_SIGMA,
    SEED_LAM,
    generation_time,
    load_p_delay,
)
from rt_assets.model.data import PreparedData, prepare
from rt_assets.model.kernels import renewal


def model_coords(data: PreparedData) -> dict:
    """Coordinates: every model day, and the days that carry weight in the likelihood."""
    return {"date": data.dates.values, "weighted_date": data.dates.values[data.weight]}


def centred_log_rt_walk() -> pt.TensorVariable:
    """Rt prior inside the current model: log Rt a centred Gaussian random walk, returns r_t.

    log_r_t[0] ~ Normal(0, 1), steps ~ N(0, 0.035). The non-centred form (cumsum of
    standard normals) is the same distribution, but the data pin down every day, and it
    needed 3x more leapfrog steps (docs/performance.md, "What each step bought").
    """
    log_r_t = pm.GaussianRandomWalk(
        "log_r_t",
        sigma=RANDOM_WALK_SIGMA,
        init_dist=pm.Normal.dist(0.0, INIT_LOG_R_SIGMA),
        dims="date",
    )
    return pm.Deterministic("r_t", pt.exp(log_r_t), dims="date")


def observation_model(data: PreparedData, infections, p_delay: np.ndarray) -> None:
    """Delay, test exposure and the NegativeBinomial likelihood on the weighted days."""
    n = len(data.dates)
    weighted = np.flatnonzero(data.weight)
    test_adjusted_positive = pm.Deterministic(
        "test_adjusted_positive",
        convolve1d(infections, pt.constant(p_delay), mode="full")[:n],
        dims="date",
    )
    alpha = pm.Gamma("alpha", mu=ALPHA_MU, sigma=ALPHA_SIGMA)
    mu = pt.constant(data.exposure[weighted]) * test_adjusted_positive[weighted]
    pm.NegativeBinomial(
        "positive",
        mu=mu,
        alpha=alpha,
        observed=data.positive[weighted].astype(np.int64),
        dims="weighted_date",
    )


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model and the prepared data it was built on."""

    model: pm.Model
    data: PreparedData


def build(observed: pd.DataFrame, p_delay: np.ndarray | None = None) -> BuiltModel:
    """The rt.live generative model for one state (see the package docstring), with its data."""
    data = prepare(observed)
    p_delay = load_p_delay() if p_delay is None else np.asarray(p_delay, dtype=float)
    gt = generation_time()
    with pm.Model(coords=model_coords(data)) as model:
        r_t = centred_log_rt_walk()
        seed = pm.Exponential("seed", lam=SEED_LAM)
        infections = pm.Deterministic(
            "infections", renewal(r_t, seed[None], pt.constant(gt)), dims="date"
        )
        observation_model(data, infections, p_delay)
    return BuiltModel(model, data)


def build_model(observed: pd.DataFrame, p_delay: np.ndarray | None = None) -> pm.Model:
    """The model alone, for callers that do not need the prepared data."""
    return build(observed, p_delay).model
