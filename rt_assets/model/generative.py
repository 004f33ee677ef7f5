"""The PyMC model of one state: Rt prior, renewal, delay, exposure, likelihood."""

from __future__ import annotations

from dataclasses import dataclass
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
from pytensor.graph.replace import graph_replace
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
from rt_assets.model.kernels import delay, negative_binomial_logp, renewal, whiten

# Models are compiled for series lengths rounded up to a multiple of this many days, so that
# one compiled model serves every state and date whose series falls in the same bucket
# (the data are inputs, not constants). The padded days after the last date carry no
# likelihood and nothing earlier depends on them, so the posterior of the real days is
# the same; ``fit`` drops them.
BUCKET_DAYS = 32


def padded_length(days: int) -> int:
    """``days`` rounded up to a whole number of buckets."""
    return -(-days // BUCKET_DAYS) * BUCKET_DAYS


def model_inputs(data: PreparedData) -> dict[str, np.ndarray]:
    """The data the likelihood reads: the weighted days (indices into the model's days),
    their positives and their exposure. Their number varies from series to series; the
    model's length (``padded_length``) does not depend on them."""
    days = np.flatnonzero(data.weight).astype(np.int64)
    return {
        "weighted_days": days,
        "observed_positive": data.positive[days].astype(np.int64),
        "weighted_exposure": data.exposure[days].astype(float),
    }


def model_coords(data: PreparedData) -> dict:
    """Coordinates of a model built on the data's own dates (no padding)."""
    return {"date": data.dates.values}


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


def observation_model(
    data, infections, p_delay, inputs: dict | None = None, library: bool = False
) -> None:
    """Delay, test exposure and the NegativeBinomial likelihood on the weighted days.

    ``data``: a ``PreparedData`` (or anything with the model's ``dates``); ``p_delay``: the
    delay distribution, an array or a model input; ``inputs``: the model's data inputs
    (``pm.Data``) in place of the data's own (``model_inputs(data)``). The delay and the
    likelihood are computed by the product's numba kernels (``kernels.delay``,
    ``kernels.negative_binomial_logp``); ``library``: by PyTensor's ``convolve1d`` and
    PyMC's ``NegativeBinomial`` instead, rt.live's formulation (the benchmarks' baseline).
    The same distribution either way.
    """
    inputs = model_inputs(data) if inputs is None else inputs
    days = pt.as_tensor_variable(inputs["weighted_days"])
    p_delay = pt.as_tensor_variable(p_delay)
    # infections cover the model's days; the library's full convolution runs past them.
    if library:
        delayed = convolve1d(infections, p_delay, mode="full")[: len(data.dates)]
    else:
        delayed = delay(infections, p_delay)
    test_adjusted_positive = pm.Deterministic("test_adjusted_positive", delayed, dims="date")
    alpha = pm.Gamma("alpha", mu=ALPHA_MU, sigma=ALPHA_SIGMA)
    mu = pt.as_tensor_variable(inputs["weighted_exposure"]) * test_adjusted_positive[days]
    observed = inputs["observed_positive"]
    if library:
        pm.NegativeBinomial("positive", mu=mu, alpha=alpha, observed=observed)
    else:
        pm.CustomDist(
            "positive",
            mu,
            alpha,
            dist=_negative_binomial,
            logp=negative_binomial_logp,
            observed=observed,
        )


def _negative_binomial(mu, alpha, size):
    """The likelihood's distribution, for drawing from the model (its log density is
    ``kernels.negative_binomial_logp``)."""
    return pm.NegativeBinomial.dist(mu=mu, alpha=alpha, size=size)


# The names of the model's data inputs (``pm.Data``), as ``model_inputs`` returns them.
MODEL_INPUTS = ("weighted_days", "observed_positive", "weighted_exposure")


@dataclass(frozen=True)
class BuiltModel:
    """A PyMC model and the prepared data it was built on (the model may be longer)."""

    model: pm.Model
    data: PreparedData


def template(
    length: int, inputs: dict[str, np.ndarray] | None = None, p_delay: np.ndarray | None = None
) -> pm.Model:
    """The model for series of ``length`` days, its data as inputs (``pm.Data``).

    ``inputs`` (``model_inputs``) sets them; without, they are placeholders to be replaced
    in the compiled model (``nutpie``'s ``with_data``).
    """
    if inputs is None:  # one weighted day, replaced by each series' own
        inputs = {
            "weighted_days": np.array([length - 1]),
            "observed_positive": np.array([1]),
            "weighted_exposure": np.array([1.0]),
        }
    p_delay = load_p_delay() if p_delay is None else np.asarray(p_delay, dtype=float)
    gt = generation_time()
    with pm.Model(coords={"date": np.arange(length)}) as model:
        data_inputs = {name: pm.Data(name, inputs[name]) for name in MODEL_INPUTS}
        # An input, not a constant: the gradient reverses it, and a reversed constant is
        # an array numba cannot cache (compiled.py).
        p_delay = pm.Data("p_delay", p_delay)
        r_t = centred_log_rt_walk()
        seed = pm.Exponential("seed", lam=SEED_LAM)
        infections = pm.Deterministic(
            "infections", renewal(r_t, seed[None], pt.constant(gt)), dims="date"
        )
        observation_model(SimpleNamespace(dates=range(length)), infections, p_delay, data_inputs)
    return model


# The inputs that place the sampler's coordinates: ``x = laplace_mean + tril(laplace_scale) @ z``
# (``laplace.Whitening``), x the template's unconstrained free variables, flattened.
WHITENING_INPUTS = ("laplace_mean", "laplace_scale")


def free_point(model: pm.Model) -> tuple[list[tuple[str, tuple[int, ...]]], np.ndarray]:
    """The template's unconstrained free variables in order, with their shapes, and its
    starting point (support point) flattened in that order."""
    point = model.initial_point()
    sizes = [(value.name, point[value.name].shape) for value in model.value_vars]
    return sizes, np.concatenate([np.ravel(point[name]) for name, _ in sizes])


def free_sizes(model: pm.Model) -> list[tuple[str, tuple[int, ...]]]:
    """The template's unconstrained free variables in order, with their shapes."""
    return free_point(model)[0]


def start_point(model: pm.Model) -> np.ndarray:
    """The template's starting point (support point), flattened as ``free_sizes``."""
    return free_point(model)[1]


def whitening_inputs(mean: np.ndarray, scale: np.ndarray) -> dict[str, np.ndarray]:
    """A whitening (``laplace.Whitening``'s mean and scale) as the sampled model's inputs."""
    return dict(zip(WHITENING_INPUTS, (mean, scale), strict=True))


def sampling_model(length: int, p_delay: np.ndarray | None = None) -> pm.Model:
    """The model that is sampled: ``template(length)``'s log density in the coordinates
    ``z`` of ``x = laplace_mean + tril(laplace_scale) @ z`` (inputs, like the data: one compiled
    model serves every whitening; ``laplace`` explains why). Its trace holds the
    template's variables (``r_t``, ``log_r_t``, ``seed``, ...) as deterministics.

    With the identity (``laplace.identity``) it is the template, shifted: the same log
    density at the same point, whose gradient is the template's.
    """
    base = template(length, p_delay=p_delay)
    sizes, x0 = free_point(base)
    data_names = (*MODEL_INPUTS, "p_delay")
    with pm.Model(coords=base.coords) as model:
        data = {name: pm.Data(name, base[name].get_value()) for name in data_names}
        mean, scale = (
            pm.Data(name, value) for name, value in whitening_inputs(x0, np.eye(x0.size)).items()
        )
        z = pm.Flat("z", shape=x0.size)
        x = whiten(mean, scale, z)
        replacements = {base[name]: data[name] for name in data_names}
        start = 0
        for value, (_, shape) in zip(base.value_vars, sizes, strict=True):
            size = int(np.prod(shape))
            replacements[value] = x[start : start + size].reshape(shape)
            start += size
        pm.Potential("log_density", graph_replace(base.logp(), replacements, strict=False))
        traced = [*base.free_RVs, *base.deterministics]
        for var, expr in zip(traced, base.replace_rvs_by_values(traced), strict=True):
            pm.Deterministic(
                var.name,
                graph_replace(expr, replacements, strict=False),
                dims=base.named_vars_to_dims.get(var.name),
            )
    return model


def build(observed: pd.DataFrame, p_delay: np.ndarray | None = None) -> BuiltModel:
    """The rt.live generative model for one state (see the package docstring), with its data.

    The model covers the data's days padded to a whole bucket (``padded_length``).
    """
    data = prepare(observed)
    return BuiltModel(template(padded_length(len(data.dates)), model_inputs(data), p_delay), data)


def build_model(observed: pd.DataFrame, p_delay: np.ndarray | None = None) -> pm.Model:
    """The model alone, for callers that do not need the prepared data."""
    return build(observed, p_delay).model
