"""Convergence of a fit and the gate the blocking check applies."""

from __future__ import annotations

from typing import Any

import arviz as az
import numpy as np

from rt_assets.model.presets import SamplerPreset, as_preset

# rt.live's gate, and the stricter one of the `full` preset (Vehtari et al., 2021).
RTLIVE_MAX_RHAT = 1.1
STRICT_MAX_RHAT = 1.01
STRICT_MIN_ESS = 400


def convergence(idata: az.InferenceData, var_name: str = "r_t") -> dict[str, Any]:
    """Convergence of ``r_t``: max r_hat, min bulk and tail ESS, divergences."""
    sub = idata.posterior[[var_name]]
    rhat = az.rhat(sub)[var_name].values
    ess_bulk = az.ess(sub, method="bulk")[var_name].values
    ess_tail = az.ess(sub, method="tail")[var_name].values
    diverging = idata.sample_stats.get("diverging")
    return {
        "max_rhat": float(np.nanmax(rhat)) if np.isfinite(rhat).any() else float("inf"),
        "min_ess_bulk": float(np.nanmin(ess_bulk)) if np.isfinite(ess_bulk).any() else 0.0,
        "min_ess_tail": float(np.nanmin(ess_tail)) if np.isfinite(ess_tail).any() else 0.0,
        "divergences": int(diverging.values.sum()) if diverging is not None else 0,
        "chains": int(sub.sizes["chain"]),
        "draws": int(sub.sizes["draw"]),
    }


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
