"""The rt.live generative model of daily positive tests, in PyMC, sampled with nutpie.

Pure code: no Dagster, no environment, no I/O apart from reading the bundled delay
distribution, nothing installed at import (the log filters live in ``rt_assets.logs``).

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
docs/performance.md): the renewal equation, the delay and the NegativeBinomial
log-likelihood are PyTensor Ops with hand-written gradients compiled with numba (instead
of a ``scan``, a library convolution and PyMC's graph), and nutpie samples instead of
PyMC's NUTS, in coordinates that whiten a Laplace approximation of each series' posterior
(a fixed linear map: the same posterior, far fewer leapfrog steps; ``laplace``).

The package, by concern: ``assumptions`` (priors, generation time, delay, MODEL_VERSION),
``data`` (the observed frame as the model sees it), ``kernels`` (the renewal, delay and
likelihood Ops), ``generative`` (the PyMC model, and the model that is sampled), ``laplace``
(the sampler's coordinates), ``presets`` and ``sampling`` (fitting one state),
``diagnostics`` (convergence and the gate), ``simulation`` (synthetic series).
"""

from rt_assets.model.assumptions import (
    ALPHA_MU,
    ALPHA_SIGMA,
    BUFFER_DAYS,
    EXPOSURE_CEILING,
    EXPOSURE_FLOOR,
    GENERATION_TIME_DAYS,
    GENERATION_TIME_MEAN,
    GENERATION_TIME_SD,
    INIT_LOG_R_SIGMA,
    MODEL_VERSION,
    RANDOM_WALK_SIGMA,
    SEED_LAM,
    generation_time,
    load_p_delay,
)
from rt_assets.model.data import PreparedData, prepare
from rt_assets.model.diagnostics import (
    RTLIVE_MAX_RHAT,
    STRICT_MAX_RHAT,
    STRICT_MIN_ESS,
    convergence,
    gate,
)
from rt_assets.model.generative import (
    BUCKET_DAYS,
    MODEL_INPUTS,
    BuiltModel,
    build,
    build_model,
    centred_log_rt_walk,
    free_point,
    free_sizes,
    model_coords,
    model_inputs,
    observation_model,
    padded_length,
    sampling_model,
    start_point,
    template,
    whitening_inputs,
)
from rt_assets.model.kernels import (
    RenewalOp,
    RenewalVJPOp,
    _renewal,
    _renewal_vjp,
    delay,
    negative_binomial_logp,
    renewal,
)
from rt_assets.model.laplace import Whitening, identity, laplace
from rt_assets.model.presets import (
    DEFAULT_PRESET,
    PRESETS,
    SamplerPreset,
    as_preset,
    chain_threads,
    get_preset,
    nutpie_settings,
)
from rt_assets.model.sampling import (
    POSTERIOR_VARS,
    compiled_model,
    fit,
    peak_rss_mib,
    rt_seed,
    whiten,
)
from rt_assets.model.simulation import simulate

__all__ = [
    "ALPHA_MU",
    "ALPHA_SIGMA",
    "BUCKET_DAYS",
    "BUFFER_DAYS",
    "DEFAULT_PRESET",
    "EXPOSURE_CEILING",
    "EXPOSURE_FLOOR",
    "GENERATION_TIME_DAYS",
    "GENERATION_TIME_MEAN",
    "GENERATION_TIME_SD",
    "INIT_LOG_R_SIGMA",
    "MODEL_INPUTS",
    "MODEL_VERSION",
    "POSTERIOR_VARS",
    "PRESETS",
    "RANDOM_WALK_SIGMA",
    "RTLIVE_MAX_RHAT",
    "SEED_LAM",
    "STRICT_MAX_RHAT",
    "STRICT_MIN_ESS",
    "BuiltModel",
    "PreparedData",
    "RenewalOp",
    "RenewalVJPOp",
    "SamplerPreset",
    "_renewal",
    "_renewal_vjp",
    "as_preset",
    "chain_threads",
    "build",
    "build_model",
    "centred_log_rt_walk",
    "compiled_model",
    "whiten",
    "convergence",
    "delay",
    "fit",
    "gate",
    "generation_time",
    "get_preset",
    "load_p_delay",
    "model_coords",
    "model_inputs",
    "negative_binomial_logp",
    "nutpie_settings",
    "observation_model",
    "padded_length",
    "peak_rss_mib",
    "prepare",
    "renewal",
    "rt_seed",
    "simulate",
    "template",
    "sampling_model",
    "free_point",
    "free_sizes",
    "whitening_inputs",
    "start_point",
    "Whitening",
    "identity",
    "laplace",
]
