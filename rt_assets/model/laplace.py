"""A Laplace approximation of one series' posterior, to sample in coordinates it whitens.

The posterior of a year of daily Rt is a strongly correlated ~386-dimensional density:
sampled in the model's own coordinates, even with nutpie's low-rank mass matrix, a draw
takes ~31 leapfrog steps and tuning ~110 a draw. Its mode and curvature are cheap to find
(an L-BFGS search and a finite-difference Hessian: ~1,000 log-density evaluations, well
under a second), and in the coordinates ``z`` with ``x = mean + scale @ z`` (``scale`` the
lower Cholesky factor of the inverse of the negative Hessian) the posterior is close to a
standard normal.

The transform is linear and fixed before sampling: its Jacobian is a constant, so the
sampler draws from exactly the same posterior whatever ``mean`` and ``scale`` are. A poor
approximation costs steps, never correctness; the convergence gate judges the draws as
before. Where no usable approximation is found, ``laplace`` says why and the caller
samples in the model's own coordinates (``identity``).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy import optimize

# The Hessian's central differences step, in the model's unconstrained coordinates (log Rt
# and log-scale parameters, whose posterior sds are ~1e-2 and more).
FD_STEP = 1e-5
# Precision eigenvalues are floored at this fraction of the largest: a direction that is
# flat or curved the wrong way at the mode gets a wide (not an infinite) scale.
EIGENVALUE_FLOOR = 1e-8
MAX_ITERATIONS = 2000


@dataclass(frozen=True)
class Whitening:
    """``x = mean + scale @ z``; ``found`` False: the identity (the model's own coordinates),
    with ``reason`` saying why no approximation was used."""

    mean: np.ndarray
    scale: np.ndarray
    found: bool
    reason: str = ""
    evaluations: int = 0


def identity(x0: np.ndarray, reason: str = "") -> Whitening:
    """The model's own coordinates, shifted to ``x0`` (where the sampler starts, jittered)."""
    x0 = np.asarray(x0, dtype=float)
    return Whitening(x0.copy(), np.eye(x0.size), False, reason)


def laplace(logp_dlogp: Callable[[np.ndarray], tuple], x0: np.ndarray) -> Whitening:
    """The mode of ``logp_dlogp`` (log density and gradient of a flat vector), found from
    ``x0``, and the lower Cholesky factor of the inverse of the negative Hessian there.

    Returns ``identity(x0, reason)`` when the search fails or the curvature is not finite.
    """
    x0 = np.asarray(x0, dtype=float)
    evaluations = 0

    def objective(x):
        nonlocal evaluations
        evaluations += 1
        logp, grad = logp_dlogp(x)
        if not np.isfinite(logp) or not np.all(np.isfinite(grad)):
            return np.inf, np.zeros_like(x)
        return -float(logp), -np.asarray(grad, dtype=float)

    start_logp, _ = objective(x0)
    if not np.isfinite(start_logp):
        return identity(x0, "the log density is not finite at the starting point")
    result = optimize.minimize(
        objective, x0, jac=True, method="L-BFGS-B", options={"maxiter": MAX_ITERATIONS}
    )
    mode = result.x
    if not np.isfinite(result.fun) or not np.all(np.isfinite(mode)):
        return identity(x0, f"the mode search failed: {result.message}")
    hessian = np.empty((mode.size, mode.size))
    for i in range(mode.size):
        step = np.zeros(mode.size)
        step[i] = FD_STEP
        up, down = objective(mode + step)[1], objective(mode - step)[1]
        # objective's gradient is -grad logp: this is the negative Hessian of logp.
        hessian[:, i] = (up - down) / (2 * FD_STEP)
    precision = (hessian + hessian.T) / 2
    if not np.all(np.isfinite(precision)):
        return identity(x0, "the curvature at the mode is not finite")
    eigenvalues, vectors = np.linalg.eigh(precision)
    if eigenvalues[-1] <= 0:
        return identity(x0, "the log density is not curved downwards at the mode")
    eigenvalues = np.maximum(eigenvalues, eigenvalues[-1] * EIGENVALUE_FLOOR)
    covariance = (vectors / eigenvalues) @ vectors.T
    try:
        scale = np.linalg.cholesky((covariance + covariance.T) / 2)
    except np.linalg.LinAlgError:
        return identity(x0, "the inverse curvature has no Cholesky factor")
    return Whitening(mode, np.ascontiguousarray(scale), True, evaluations=evaluations)
