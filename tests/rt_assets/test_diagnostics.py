"""The convergence diagnostics, computed for every date at once, against ArviZ's own.

``rt_assets.model.diagnostics.rank_diagnostics`` re-implements ArviZ's rank-normalized
split r_hat and bulk and tail ESS over a whole (chain, draw, date) array; the gate of the
blocking check reads them, so they must be ArviZ's numbers, including the edge cases of
Geyer's truncation (anti-correlated chains, very short chains, ties, constant draws).
"""

import arviz as az
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from rt_assets import model as m
from rt_assets.model.diagnostics import TAIL_QUANTILES, rank_diagnostics


def _arviz(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ds = xr.Dataset({"v": (("chain", "draw", "k"), x)})
    return (
        az.rhat(ds)["v"].values,
        az.ess(ds, method="bulk")["v"].values,
        # The 5% and 95% quantiles (Vehtari et al.): ArviZ 1's default is its ci_prob (0.89).
        az.ess(ds, method="tail", prob=TAIL_QUANTILES)["v"].values,
    )


def _ar1(phi: float, chains: int, draws: int, k: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    x = np.zeros((chains, draws, k))
    noise = rng.normal(size=(chains, draws, k))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


def _cases() -> dict[str, np.ndarray]:
    constant = _ar1(0.3, 4, 100, 5, seed=6)
    constant[..., 2] = 3.0
    with_nan = _ar1(0.5, 4, 50, 6, seed=11)
    with_nan[1, 7, 3] = np.nan
    return {
        "autocorrelated": _ar1(0.95, 4, 1000, 40, seed=1),
        "anti-correlated, odd draws": _ar1(-0.7, 4, 501, 40, seed=2),
        "two short chains": _ar1(0.5, 2, 7, 30, seed=3),
        "four draws": _ar1(0.5, 3, 4, 10, seed=4),
        "chains apart": _ar1(0.9, 4, 200, 20, seed=5) + np.arange(4)[:, None, None],
        "ties": np.round(_ar1(0.3, 4, 300, 20, seed=7), 1),
        "a constant variable": constant,
        # The positive sequence runs to the end of a short series with rho[2K] < 0 < pair K.
        "short, truncated at the end": _ar1(0.8, 4, 19, 30, seed=8),
        "one chain": _ar1(0.5, 1, 100, 10, seed=9),
        "three draws": _ar1(0.5, 4, 3, 5, seed=10),
        "a NaN draw": with_nan,
    }


@pytest.mark.parametrize("name", list(_cases()))
def test_rank_diagnostics_are_arviz_s(name):
    x = _cases()[name]
    for ours, theirs, what in zip(
        rank_diagnostics(x), _arviz(x), ("r_hat", "bulk", "tail"), strict=True
    ):
        assert ours.shape == (x.shape[2],)
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(theirs), err_msg=what)
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, err_msg=f"{name}: {what}")


@pytest.mark.slow  # fits the model
def test_convergence_of_a_posterior_is_arviz_s():
    # A real posterior of the model (fast preset, 2 chains), not only synthetic chains.
    r_t = pd.Series(1.1, index=pd.date_range("2020-04-01", periods=60, name="date"))
    observed = m.simulate(r_t, tests=8000.0, rng=2)[["positive", "total", "excluded"]]
    idata = m.fit(observed, "fast", seed=3)
    r_t = idata.posterior.to_dataset()[["r_t"]]
    diag = m.convergence(idata)
    assert diag["max_rhat"] == pytest.approx(float(az.rhat(r_t)["r_t"].max()), rel=1e-12)
    for kind in ("bulk", "tail"):
        prob = TAIL_QUANTILES if kind == "tail" else None
        expected = float(az.ess(r_t, method=kind, prob=prob)["r_t"].min())
        assert diag[f"min_ess_{kind}"] == pytest.approx(expected, rel=1e-10)
    assert (diag["chains"], diag["draws"]) == (2, 200)
