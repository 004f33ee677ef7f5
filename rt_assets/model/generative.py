"""The rt.live generative model of daily positive tests, in PyMC, sampled with nutpie.

Pure code: no Dagster, no I/O apart from reading the bundled delay distribution.

The model is rt.live's (rtcovidlive/covid-model, ``covid/models/generative.py``):

- ``log_r_t`` is a Gaussian random walk with step SD 0.035 and a proper initial
  distribution ``Normal(0, 1)`` (rt.live's PyMC3 default was an improper flat prior);
- one seed of infections ``seed ~ Exponential(lam=50)`` on the first buffer day;
- infections follow rt.live's renewal equation
  ``y[t] = sum_{k=1..19} g[k] * r[t-k] * y[t-k]`` with the generation time ``g`` a
  lognormal (mean 4.7, SD 2.9 days) discretised over 20 days;
- ``test_adjusted_positive`` is the infections convolved with the onset-to-confirmation
  delay ``p_delay``;
- the expected positives are ``exposure * test_adjusted_positive``, with exposure the
  daily tests clipped below at 10% of the state's maximum;
- positives ~ NegativeBinomial(mu, alpha), alpha ~ Gamma(mu=6, sigma=1), on the days
  that carry weight: excluded days and days without tests are left out of the
  likelihood, they are not zeros;
- 10 buffer days before the first positive, because infections precede reports.

What differs from rt.live is only how it is computed, for speed (see
README ("Performance")): the renewal equation is one PyTensor Op with a hand-written
gradient compiled with numba instead of a ``scan``, and nutpie samples instead of
PyMC's NUTS.
"""

from __future__ import annotations

import logging
import os
import time
import warnings
import zlib
from dataclasses import asdict, dataclass
from importlib import resources
from typing import Any

import arviz as az
import numba
import numpy as np
import pandas as pd
import pymc as pm
import pytensor.tensor as pt
import xarray as xr
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key
from pytensor.tensor.signal import convolve1d
from scipy import stats

log = logging.getLogger("rt_assets.model")
# PyTensor's C backend warns that it found no BLAS; this model compiles with numba and
# uses no BLAS operation, so the warning is noise in every step's log.
warnings.filterwarnings("ignore", message="PyTensor could not link to a BLAS installation")

MODEL_VERSION = "rtlive-generative-1.0+nutpie-3"

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

POSTERIOR_VARS = ("r_t", "log_r_t", "infections", "test_adjusted_positive", "seed", "alpha")


class _SkippedRewriteFilter(logging.Filter):
    """Drop PyTensor's 4-record ERROR report of a failed ``local_subtensor_merge``.

    PyTensor 2.38 tries that graph rewrite on an index of the Gaussian random walk's
    log-density, overflows an int8 constant and skips the rewrite: the graph stays
    correct, but each fit printed ~20 lines of traceback at ERROR. Other rewrite failures
    are left alone.
    """

    def __init__(self) -> None:
        super().__init__()
        self._dropping = 0

    def filter(self, record: logging.LogRecord) -> bool:
        message = str(record.msg)
        if message.startswith("Rewrite failure due to: local_subtensor_merge"):
            self._dropping = 3  # then "node: ...", "TRACEBACK:", the traceback
            return False
        if self._dropping:
            self._dropping -= 1
            return False
        return True


logging.getLogger("pytensor.graph.rewriting.basic").addFilter(_SkippedRewriteFilter())


# --------------------------------------------------------------------------- presets


@dataclass(frozen=True)
class SamplerPreset:
    """Named sampler settings. ``cores`` None lets nutpie run all chains in parallel."""

    name: str
    chains: int
    tune: int
    draws: int
    target_accept: float
    cores: int | None = None
    maxdepth: int = 10
    # nutpie's low-rank modified mass matrix: it learns the strong correlation of
    # neighbouring days of the random walk, and cuts the leapfrog steps per draw ~7x.
    low_rank: bool = False
    # The convergence gate the blocking check applies (see ``gate``).
    strict_gate: bool = False


PRESETS: dict[str, SamplerPreset] = {
    # Production. Same chains as rt.live, and the stricter gate (r_hat < 1.01, bulk and
    # tail ESS > 400, no divergences). With the low-rank mass matrix, 300 tuning steps
    # are enough (rt.live tuned 700). 600 draws gave ESS ~1000 but a max r_hat over the
    # ~370 days of 1.011 on AR and CT; 1000 draws give 1.004 there (README ("Performance")).
    "full": SamplerPreset(
        "full", chains=4, tune=300, draws=1000, target_accept=0.9, low_rank=True, strict_gate=True
    ),
    # rt.live's exact settings (diagonal mass matrix), for comparison with the baseline.
    "rtlive": SamplerPreset("rtlive", chains=4, tune=700, draws=200, target_accept=0.95),
    # Tests and the demo: passes rt.live's gate (r_hat <= 1.1, no divergences), also on
    # the year-long series of 2021-03-07.
    "fast": SamplerPreset("fast", chains=2, tune=300, draws=200, target_accept=0.9, low_rank=True),
    # Deliberately too short to converge: exercises the failing-check paths.
    "tiny": SamplerPreset("tiny", chains=2, tune=3, draws=6, target_accept=0.8),
}

# rt.live's gate, and the stricter one of the `full` preset (Vehtari et al., 2021).
RTLIVE_MAX_RHAT = 1.1
STRICT_MAX_RHAT = 1.01
STRICT_MIN_ESS = 400

PRESET_ENV = "RT_SAMPLER_PRESET"
# Threads one fit may use for its chains (default: one per chain). Set to 1 when
# several inference steps share a small machine; it changes nothing in the result.
CORES_ENV = "RT_SAMPLER_CORES"
DEFAULT_PRESET = "fast"


def get_preset(name: str | None = None) -> SamplerPreset:
    """The preset called ``name``; None reads ``RT_SAMPLER_PRESET`` (default "fast")."""
    if name is None:
        name = os.environ.get(PRESET_ENV, "").strip() or DEFAULT_PRESET
    try:
        return PRESETS[name]
    except KeyError:
        raise ValueError(
            f"unknown sampler preset {name!r} (from argument or ${PRESET_ENV}); "
            f"known presets: {', '.join(sorted(PRESETS))}"
        ) from None


def _as_preset(preset: SamplerPreset | str | None) -> SamplerPreset:
    return preset if isinstance(preset, SamplerPreset) else get_preset(preset)


def rt_seed(run_date: str, region: str) -> int:
    """A stable sampler seed from (run date, state): reruns give the same posterior."""
    return zlib.crc32(f"{run_date}|{region}".encode()) & 0x7FFFFFFF


# --------------------------------------------------------------------------- fixed inputs


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


# --------------------------------------------------------------------------- data prep


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


# --------------------------------------------------------------------------- renewal Op


@numba.njit(cache=True, nogil=True)
def _renewal(r, seed, gt):
    """rt.live's renewal: y[0] = seed, y[t] = sum_k gt[k] * r[t-k] * y[t-k]."""
    n = r.shape[0]
    g = gt.shape[0]
    y = np.empty(n)
    y[0] = seed
    for t in range(1, n):
        acc = 0.0
        for k in range(1, min(t, g - 1) + 1):
            acc += gt[k] * r[t - k] * y[t - k]
        y[t] = acc
    return y


@numba.njit(cache=True, nogil=True)
def _renewal_vjp(r, seed, gt, y_bar):
    """Reverse-mode gradient of `_renewal`: adjoints of r and of the seed.

    ``a[t]`` is the total adjoint of ``y[t]``: its own cotangent plus what flows back
    from the later days it infects.
    """
    n = r.shape[0]
    g = gt.shape[0]
    y = _renewal(r, seed, gt)
    a = np.empty(n)
    r_bar = np.empty(n)
    for t in range(n - 1, -1, -1):
        c = 0.0
        for k in range(1, min(n - 1 - t, g - 1) + 1):
            c += gt[k] * a[t + k]
        a[t] = y_bar[t] + r[t] * c
        r_bar[t] = y[t] * c
    seed_bar = np.empty(1)
    seed_bar[0] = a[0]
    return r_bar, seed_bar


class RenewalOp(Op):
    """infections = renewal(r_t, seed[1], generation_time); numba kernel, exact gradient."""

    __props__ = ()

    def make_node(self, r, seed, gt):
        r, seed, gt = (pt.as_tensor_variable(x).astype("float64") for x in (r, seed, gt))
        return Apply(self, [r, seed, gt], [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        r, seed, gt = inputs
        output_storage[0][0] = _renewal(r, seed[0], gt)

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0]]

    def grad(self, inputs, output_grads):
        r, seed, gt = inputs
        r_bar, seed_bar = RenewalVJPOp()(r, seed, gt, output_grads[0])
        return [r_bar, seed_bar, pt.zeros_like(gt)]


class RenewalVJPOp(Op):
    __props__ = ()

    def make_node(self, r, seed, gt, y_bar):
        ins = [pt.as_tensor_variable(x).astype("float64") for x in (r, seed, gt, y_bar)]
        return Apply(self, ins, [pt.dvector(), pt.dvector()])

    def perform(self, node, inputs, output_storage):
        r, seed, gt, y_bar = inputs
        r_bar, seed_bar = _renewal_vjp(r, seed[0], gt, y_bar)
        output_storage[0][0] = r_bar
        output_storage[1][0] = seed_bar

    def infer_shape(self, fgraph, node, shapes):
        return [shapes[0], shapes[1]]


@register_funcify_default_op_cache_key(RenewalOp)
def _numba_renewal(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def renewal(r, seed, gt):
        return _renewal(r, seed[0], gt)

    return renewal


@register_funcify_default_op_cache_key(RenewalVJPOp)
def _numba_renewal_vjp(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def renewal_vjp(r, seed, gt, y_bar):
        return _renewal_vjp(r, seed[0], gt, y_bar)

    return renewal_vjp


renewal = RenewalOp()


# --------------------------------------------------------------------------- model


def model_coords(data: PreparedData) -> dict:
    """Coordinates: every model day, and the days that carry weight in the likelihood."""
    return {"date": data.dates.values, "weighted_date": data.dates.values[data.weight]}


def centred_log_rt_walk() -> pt.TensorVariable:
    """Rt prior inside the current model: log Rt a centred Gaussian random walk, returns r_t.

    log_r_t[0] ~ Normal(0, 1), steps ~ N(0, 0.035). The non-centred form (cumsum of
    standard normals) is the same distribution, but the data pin down every day, and it
    needed 3x more leapfrog steps (README ("Performance")).
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


def build_model(observed: pd.DataFrame, p_delay: np.ndarray | None = None) -> pm.Model:
    """The rt.live generative model for one state (see module docstring)."""
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
    model.rt_prepared = data  # type: ignore[attr-defined]
    return model


def fit(
    observed: pd.DataFrame,
    preset: SamplerPreset | str | None = None,
    seed: int = 0,
    region: str = "",
) -> az.InferenceData:
    """Build and sample the model for one state; same inputs and seed, same posterior."""
    import nutpie  # imported here: it starts a thread pool, only sampling needs it

    preset = _as_preset(preset)
    cores = int(os.environ.get(CORES_ENV, "0") or 0) or preset.cores or preset.chains
    started = time.perf_counter()
    try:
        model = build_model(observed)
    except ValueError as exc:
        # Say which state: the message ends up in a step failure of a date|state run.
        raise ValueError(f"{region or 'region'}: cannot fit the model: {exc}") from exc
    data: PreparedData = model.rt_prepared  # type: ignore[attr-defined]
    log.info(
        "%s: %d days (%s to %s, %d in the likelihood), preset %s",
        region or "?",
        len(data.dates),
        data.dates[0].date(),
        data.dates[-1].date(),
        int(data.weight.sum()),
        preset.name,
    )
    compiled = nutpie.compile_pymc_model(model, backend="numba")
    compiled_at = time.perf_counter()
    log.info("%s: compiled in %.1f s, sampling", region or "?", compiled_at - started)
    idata = nutpie.sample(
        compiled,
        draws=preset.draws,
        tune=preset.tune,
        chains=preset.chains,
        cores=cores,
        seed=seed,
        target_accept=preset.target_accept,
        maxdepth=preset.maxdepth,
        low_rank_modified_mass_matrix=preset.low_rank,
        save_warmup=False,
        progress_bar=False,
    )
    sampled_at = time.perf_counter()
    idata = _tidy(idata, data)
    idata.posterior.attrs.update(
        model_version=MODEL_VERSION,
        preset=preset.name,
        preset_settings=repr(asdict(preset)),
        region=region,
        seed=int(seed),
        sampler="nutpie",
        compile_seconds=round(compiled_at - started, 3),
        sampling_seconds=round(sampled_at - compiled_at, 3),
    )
    diag = convergence(idata)
    log.info(
        "%s: sampled in %.1f s; max r_hat %.3f, min ESS bulk %.0f tail %.0f, %d divergences",
        region or "?",
        sampled_at - compiled_at,
        diag["max_rhat"],
        diag["min_ess_bulk"],
        diag["min_ess_tail"],
        diag["divergences"],
    )
    return idata


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tidy(idata: az.InferenceData, data: PreparedData) -> az.InferenceData:
    """Keep the named posterior variables, and store the data the model saw."""
    posterior = idata.posterior[[v for v in POSTERIOR_VARS if v in idata.posterior]]
    posterior = posterior.assign_coords(date=data.dates.values)
    stats = idata.sample_stats[
        [v for v in ("diverging", "tree_depth", "n_steps", "logp") if v in idata.sample_stats]
    ]
    constant = xr.Dataset(
        {
            "positive": ("date", data.positive),
            "tests": ("date", data.tests),
            "exposure": ("date", data.exposure),
            "weight": ("date", data.weight),
        },
        coords={"date": data.dates.values},
    )
    return az.InferenceData(posterior=posterior, sample_stats=stats, constant_data=constant)


# --------------------------------------------------------------------------- diagnostics


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


def gate(diag: dict[str, Any], preset: SamplerPreset | str | None) -> list[str]:
    """Why ``diag`` (from ``convergence``) fails the preset's gate; empty when it passes.

    Every preset: no divergences. rt.live's gate: max r_hat <= 1.1. The strict gate
    (``full``): max r_hat < 1.01 and min bulk and tail ESS > 400.
    """
    preset = _as_preset(preset)
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


# --------------------------------------------------------------------------- simulation


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
