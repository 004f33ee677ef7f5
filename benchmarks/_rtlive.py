"""Model variants for the inference benchmark: rt.live's formulation and the steps to ours.

All variants are the same statistical model as ``rt_assets.model.build_model`` (same
priors, likelihood, generation time, delay, data layout via ``rt_assets.model.prepare``);
they differ only in how the renewal equation and the random walk are computed:

- ``scan_centred``: rt.live's code path (rtcovidlive/covid-model): the renewal as a
  sequential PyTensor ``scan`` over a precomputed (T-1) x T generation-time matrix,
  centred ``GaussianRandomWalk`` (with the proper init distribution of ours);
- ``op_centred``: the renewal as the numba Op with its hand-written gradient;
- ``op_noncentred``: the Op and a non-centred walk (cumsum of standard normals), tried
  and dropped: it needed about 3x more leapfrog steps per draw;
- the product (``rt_assets.model.build_model``): the Op and the centred walk.
"""

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt

from rt_assets import model as m
from rt_assets.logs import quiet_model_compilation

quiet_model_compilation()  # the benchmarks build and compile the model in this process


def _convolution_ready_gt(gt: np.ndarray, n: int) -> np.ndarray:
    """rt.live's precomputed matrix: row t-1 holds gt reversed against days before t."""
    out = np.zeros((n - 1, n))
    for t in range(1, n):
        begin = max(0, t - len(gt) + 1)
        part = gt[1 : t - begin + 1][::-1]
        out[t - 1, begin : begin + len(part)] = part
    return out


def _renewal_step(t, gt_row, y, r):
    """One step of rt.live's scan (a named function: PyMC pickles the model for its chain
    processes, and a lambda would make it fall back to sampling the chains one by one)."""
    return pt.set_subtensor(y[t], pt.sum(r * y * gt_row))


def build_scan_centred(observed: pd.DataFrame) -> pm.Model:
    """rt.live's formulation: centred random walk, renewal by ``scan``."""
    data = m.prepare(observed)
    n = len(data.dates)
    gt_matrix = pytensor.shared(_convolution_ready_gt(m.generation_time(), n))
    with pm.Model(coords=m.model_coords(data)) as model:
        r_t = m.centred_log_rt_walk()
        seed = pm.Exponential("seed", lam=m.SEED_LAM)
        y0 = pt.set_subtensor(pt.zeros(n)[0], seed)
        outputs, _ = pytensor.scan(
            fn=_renewal_step,
            sequences=[pt.arange(1, n), gt_matrix],
            outputs_info=y0,
            non_sequences=r_t,
            n_steps=n - 1,
        )
        infections = pm.Deterministic("infections", outputs[-1], dims="date")
        m.observation_model(data, infections, m.load_p_delay(), library=True)
    return model


def build_op_centred(observed: pd.DataFrame) -> pm.Model:
    """Centred random walk, renewal by the numba Op."""
    data = m.prepare(observed)
    gt = m.generation_time()
    with pm.Model(coords=m.model_coords(data)) as model:
        r_t = m.centred_log_rt_walk()
        seed = pm.Exponential("seed", lam=m.SEED_LAM)
        infections = pm.Deterministic(
            "infections", m.renewal(r_t, seed[None], pt.constant(gt)), dims="date"
        )
        m.observation_model(data, infections, m.load_p_delay(), library=True)
    return model


def build_op_noncentred(observed: pd.DataFrame) -> pm.Model:
    """Non-centred random walk, renewal by the numba Op."""
    data = m.prepare(observed)
    gt = m.generation_time()
    n = len(data.dates)
    with pm.Model(coords=m.model_coords(data)) as model:
        init = pm.Normal("log_r_t_init", 0.0, m.INIT_LOG_R_SIGMA)
        steps = pm.Normal("log_r_t_steps_z", 0.0, 1.0, shape=n - 1)
        log_r_t = pm.Deterministic(
            "log_r_t",
            pt.concatenate([init[None], init + pt.cumsum(m.RANDOM_WALK_SIGMA * steps)]),
            dims="date",
        )
        r_t = pm.Deterministic("r_t", pt.exp(log_r_t), dims="date")
        seed = pm.Exponential("seed", lam=m.SEED_LAM)
        infections = pm.Deterministic(
            "infections", m.renewal(r_t, seed[None], pt.constant(gt)), dims="date"
        )
        m.observation_model(data, infections, m.load_p_delay(), library=True)
    return model


BUILDERS = {
    "scan_centred": build_scan_centred,
    "op_centred": build_op_centred,
    "op_noncentred": build_op_noncentred,
    "product": m.build_model,
}

# name -> (model builder, sampler)
VARIANTS = {
    "baseline": ("scan_centred", "pymc"),  # rt.live: scan + PyMC NUTS
    "op_pymc": ("op_centred", "pymc"),  # + renewal Op with hand-written gradient
    "op_nutpie": ("op_centred", "nutpie"),  # + nutpie (numba backend)
    "op_noncentred_nutpie": ("op_noncentred", "nutpie"),  # non-centred walk: dropped
    "product": ("product", "nutpie"),  # = rt_assets.model.fit (op_nutpie + seeded presets)
}
