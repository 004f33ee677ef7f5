"""Convergence of a fit and the gate its check reports and its summary applies."""

from __future__ import annotations

from typing import Any

import numpy as np
import scipy.fft
import scipy.special
import scipy.stats
import xarray as xr

from rt_assets.model.presets import SamplerPreset, as_preset

# rt.live's gate, and the stricter one of the `full` preset (Vehtari et al., 2021).
RTLIVE_MAX_RHAT = 1.1
STRICT_MAX_RHAT = 1.01
STRICT_MIN_ESS = 400
# The quantiles whose indicators give the tail ESS (Vehtari et al., 2021; ArviZ 0.x's
# default). ArviZ 1.x's `ess(method="tail")` defaults to its `stats.ci_prob` (0.89) instead.
TAIL_QUANTILES = (0.05, 0.95)


def convergence(idata: xr.DataTree, var_name: str = "r_t") -> dict[str, Any]:
    """Convergence of ``r_t``: max r_hat, min bulk and tail ESS, divergences.

    The same estimators as ArviZ's ``rhat`` (rank-normalized split r_hat) and ``ess``
    (``bulk``, and ``tail`` at ``TAIL_QUANTILES``), computed for every date at once
    (``rank_diagnostics``); the tests check them against ArviZ.
    """
    draws = idata.posterior[var_name]
    values = np.asarray(draws.values, dtype=float).reshape(
        draws.sizes["chain"], draws.sizes["draw"], -1
    )
    rhat, bulk, tail = rank_diagnostics(values)
    diverging = idata.sample_stats.get("diverging")
    return {
        "max_rhat": float(np.nanmax(rhat)) if np.isfinite(rhat).any() else float("inf"),
        "min_ess_bulk": float(np.nanmin(bulk)) if np.isfinite(bulk).any() else 0.0,
        "min_ess_tail": float(np.nanmin(tail)) if np.isfinite(tail).any() else 0.0,
        "divergences": int(diverging.values.sum()) if diverging is not None else 0,
        "chains": int(draws.sizes["chain"]),
        "draws": int(draws.sizes["draw"]),
    }


# Rank-normalized split r_hat and ESS (Vehtari, Gelman, Simpson, Carpenter and Bürkner,
# 2021, "Rank-normalization, folding, and localization"), as ArviZ computes them one
# variable at a time, here over the last axis of a (chain, draw, variable) array at once:
# ArviZ's per-variable loop was most of a state's work outside sampling, paid by the fit and
# again by its check (docs/performance.md, "The steps around the sampler").


def _split_chains(x: np.ndarray) -> np.ndarray:
    """Each chain's first and last half as two chains (the middle draw of an odd count dropped)."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]], axis=0)


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Normal scores of the ranks over all chains and draws (Blom's offset 3/8), per variable."""
    chains, draws = x.shape[:2]
    ranks = scipy.stats.rankdata(x.reshape(chains * draws, -1), method="average", axis=0)
    return scipy.special.ndtri((ranks - 0.375) / (chains * draws + 0.25)).reshape(x.shape)


def _rhat(x: np.ndarray) -> np.ndarray:
    draws = x.shape[1]
    between = draws * x.mean(axis=1).var(axis=0, ddof=1)
    within = x.var(axis=1, ddof=1).mean(axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.sqrt((between / within + draws - 1) / draws)


def _ess(x: np.ndarray) -> np.ndarray:
    """Effective sample size of each variable of a (chain, draw, variable) array: Geyer's
    initial positive and monotone sequence estimators on the multi-chain autocorrelation."""
    chains, draws, _ = x.shape
    total = chains * draws
    n_fft = scipy.fft.next_fast_len(2 * draws)
    centred = x - x.mean(axis=1, keepdims=True)
    spectrum = np.fft.rfft(centred, n=n_fft, axis=1)
    spectrum *= np.conjugate(spectrum)
    acov = np.fft.irfft(spectrum, n=n_fft, axis=1)[:, :draws] / draws  # (chain, lag, variable)
    mean_var = acov[:, 0].mean(axis=0) * draws / (draws - 1.0)
    var_plus = mean_var * (draws - 1.0) / draws
    if chains > 1:
        var_plus = var_plus + x.mean(axis=1).var(axis=0, ddof=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (mean_var - acov.mean(axis=0)) / var_plus  # (lag, variable)
    rho[0] = 1.0
    # Pairs (rho[2k], rho[2k+1]) for k = 0..last; the positive sequence takes pairs while
    # the previous pair's sum is positive, pair `last` at most.
    last = max(0, (draws - 3) // 2)
    pairs = rho[: 2 * last + 2].reshape(last + 1, 2, -1).sum(axis=1)  # (pair, variable)
    non_positive = pairs <= 0
    first = np.where(non_positive.any(axis=0), non_positive.argmax(axis=0), last + 1)
    taken = np.minimum(first, last)  # pairs 0..taken-1 in full
    columns = np.arange(rho.shape[1])
    monotone = np.minimum.accumulate(pairs, axis=0)
    in_sum = np.arange(last + 1)[:, None] < taken
    even = rho[2 * taken, columns]
    kept = (pairs[taken, columns] >= 0) | (even > 0)
    end = np.where(kept, even, 0.0)  # with no pair taken: rho[0] = 1
    tau = -1.0 + 2.0 * np.where(in_sum, monotone, 0.0).sum(axis=0) + end
    tau = np.maximum(tau, 1.0 / np.log10(total))
    ess = total / tau
    ess[np.isnan(rho).any(axis=0)] = np.nan
    constant = np.ptp(x, axis=(0, 1)) < np.finfo(float).resolution
    ess[constant] = total
    return ess


def rank_diagnostics(x: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rank-normalized split r_hat, bulk ESS and tail ESS of each variable of a
    (chain, draw, variable) array.

    r_hat: the larger of the bulk's (normal scores of the ranks of the split chains) and the
    tail's (the same of the distance to the median). Bulk ESS: of the bulk's normal scores.
    Tail ESS: the smaller ESS of the indicators of the 5% and 95% quantiles.
    """
    chains, draws, n = x.shape
    if draws < 4:  # ArviZ's minimum for every estimator
        return np.full(n, np.nan), np.full(n, np.nan), np.full(n, np.nan)
    split = _split_chains(x)
    z_bulk = _z_scale(split)
    folded = np.abs(split - np.median(split.reshape(-1, n), axis=0))
    bulk_rhat, tail_rhat = _rhat(z_bulk), _rhat(_z_scale(folded))
    # ArviZ takes Python's max(bulk, tail): the bulk's value where the tail's is NaN.
    rhat = np.where(np.isnan(tail_rhat), bulk_rhat, np.maximum(bulk_rhat, tail_rhat))
    if chains < 2:  # r_hat compares chains: ArviZ's needs two
        rhat[:] = np.nan
    flat = x.reshape(-1, n)
    quantile_ess = (
        _ess(_split_chains((x <= np.quantile(flat, p, axis=0)).astype(float)))
        for p in TAIL_QUANTILES
    )
    ess_bulk, ess_tail = _ess(z_bulk), np.minimum(*quantile_ess)
    with_nan = np.isnan(x).any(axis=(0, 1))  # ArviZ gives NaN for a variable with a NaN draw
    for values in (rhat, ess_bulk, ess_tail):
        values[with_nan] = np.nan
    return rhat, ess_bulk, ess_tail


def gate(diag: dict[str, Any], preset: SamplerPreset | str) -> list[str]:
    """Why ``diag`` (from ``convergence``) fails the preset's gate; empty when it passes.

    Every preset: no divergences. rt.live's gate: max r_hat <= 1.1. The strict gate
    (``full``): max r_hat < 1.01 and min bulk and tail ESS > 400.
    """
    preset = as_preset(preset)
    reasons = []
    if diag["divergences"]:
        reasons.append(f"{diag['divergences']} divergences")
    if preset.strict_gate:
        if not diag["max_rhat"] < STRICT_MAX_RHAT:
            reasons.append(f"max r_hat {diag['max_rhat']:.3f} (limit < {STRICT_MAX_RHAT})")
        for kind in ("bulk", "tail"):
            ess = diag[f"min_ess_{kind}"]
            if not ess > STRICT_MIN_ESS:
                reasons.append(f"min {kind} ESS {ess:.0f} (limit > {STRICT_MIN_ESS})")
    elif not diag["max_rhat"] <= RTLIVE_MAX_RHAT:
        reasons.append(f"max r_hat {diag['max_rhat']:.3f} (limit {RTLIVE_MAX_RHAT})")
    return reasons
