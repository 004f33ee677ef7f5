"""The warm start the warm_start benchmark measures: chains start from the previous date's
posterior, and nutpie accepts those starting points."""

import dataclasses

import numpy as np
import pandas as pd
import pytest

from benchmarks import _data
from benchmarks.warm_start import warm_points
from rt_assets import model as m
from rt_assets.model import sampling
from rt_assets.model.data import prepare
from rt_assets.model.generative import model_inputs, padded_length

pytestmark = pytest.mark.slow  # compiles a model

PREVIOUS, RUN_DATE, STATE = "2020-04-14", "2020-04-15", "VT"


@pytest.fixture(scope="module")
def previous():
    return m.fit(_data.observed(STATE, PREVIOUS), "tiny", seed=1, region=STATE)


def _compiled(run_date: str):
    data = prepare(_data.observed(STATE, run_date))
    compiled = sampling.compiled_model(padded_length(len(data.dates)))
    return compiled.with_data(**model_inputs(data)), data


def test_chains_start_at_a_draw_of_the_previous_posterior(previous):
    compiled, data = _compiled(RUN_DATE)
    start = warm_points(previous, compiled, data.dates)
    # The sampler's coordinates (the identity whitening): the template's point, shifted.
    point = start(7) + compiled.shared_data["laplace_mean"]
    assert point.shape == (compiled.n_dim,) and np.isfinite(point).all()
    known = previous.posterior.sizes["date"]
    assert len(data.dates) > known  # the run date adds a day
    draws = previous.posterior["log_r_t"].stack(s=("chain", "draw")).transpose("s", "date").values
    matches = np.flatnonzero((draws == point[:known]).all(axis=1))
    # One draw, or a draw the chain stayed at (a rejected transition repeats it).
    assert len(matches) >= 1
    # seed and alpha of the same draw, on the log scale nutpie samples
    i = matches[0]
    seed = previous.posterior["seed"].stack(s=("chain", "draw")).values[i]
    alpha = previous.posterior["alpha"].stack(s=("chain", "draw")).values[i]
    assert point[-2:] == pytest.approx([np.log(seed), np.log(alpha)])
    # the new day and the padding continue the walk: no two equal neighbours (a zero gradient
    # there made nutpie refuse the point)
    length = compiled.shapes["log_r_t"][0]
    assert np.all(np.diff(point[known - 1 : length]) != 0)
    assert not np.array_equal(start(8), start(7))  # chains start apart


def test_nutpie_samples_from_the_warm_start(previous):
    import nutpie

    compiled, data = _compiled(RUN_DATE)
    known = previous.posterior.sizes["date"]
    draws = previous.posterior["log_r_t"].stack(s=("chain", "draw")).transpose("s", "date").values

    def distance_of_first_draw(model) -> float:
        """Mean |log Rt| distance of the first tuning draw to the nearest previous draw."""
        idata = nutpie.sample(
            model, draws=5, tune=5, chains=2, cores=1, seed=3, progress_bar=False,
            save_warmup=True,
        )  # fmt: skip
        first = idata.warmup_posterior["log_r_t"].isel(draw=0).values[:, :known]
        return max(np.abs(draws - chain).mean(axis=1).min() for chain in first)

    warm = dataclasses.replace(
        compiled, initial_point_func=warm_points(previous, compiled, data.dates)
    )
    near, cold = distance_of_first_draw(warm), distance_of_first_draw(compiled)
    assert near < 0.1 < cold, (near, cold)


def test_a_series_that_starts_elsewhere_starts_cold(previous):
    compiled, data = _compiled(RUN_DATE)
    assert warm_points(previous, compiled, data.dates[1:]) is None
    shorter = pd.DatetimeIndex(data.dates[: previous.posterior.sizes["date"] - 1])
    assert warm_points(previous, compiled, shorter) is None
