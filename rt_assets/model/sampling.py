"""Fitting one state: build, compile, sample with nutpie, tidy, time; process memory."""

from __future__ import annotations

import json
import logging
import threading
import time
import zlib
from dataclasses import asdict

import numpy as np
import pandas as pd
import xarray as xr

from rt_assets.model.assumptions import MODEL_VERSION
from rt_assets.model.compiled import compile_model, entry_points_cached
from rt_assets.model.data import PreparedData, prepare
from rt_assets.model.diagnostics import convergence
from rt_assets.model.generative import (
    WHITENING_INPUTS,
    model_inputs,
    padded_length,
    sampling_model,
    whitening_inputs,
)
from rt_assets.model.laplace import Whitening, identity, laplace
from rt_assets.model.presets import DEFAULT_PRESET, SamplerPreset, as_preset, nutpie_settings

log = logging.getLogger("rt_assets.model")

POSTERIOR_VARS = ("r_t", "log_r_t", "infections", "test_adjusted_positive", "seed", "alpha")


def rt_seed(run_date: str, region: str) -> int:
    """A stable sampler seed from (run date, state): reruns give the same posterior."""
    return zlib.crc32(f"{run_date}|{region}".encode()) & 0x7FFFFFFF


def fit(
    observed: pd.DataFrame,
    preset: SamplerPreset | str = DEFAULT_PRESET,
    seed: int = 0,
    region: str = "",
    cores: int | None = None,
) -> xr.DataTree:
    """Build and sample the model for one state; same inputs and seed, same posterior.

    ``cores``: threads for the chains (None or 0: the preset's, else one per chain); it
    changes nothing in the result.
    """
    import nutpie  # imported here: it starts a thread pool, only sampling needs it

    preset = as_preset(preset)
    cores = cores or preset.cores or preset.chains
    started = time.perf_counter()
    try:
        data = prepare(observed)
    except ValueError as exc:
        # Say which state: the message ends up in a step failure of a date|state run.
        raise ValueError(f"{region or 'region'}: cannot fit the model: {exc}") from exc
    length = padded_length(len(data.dates))
    log.info(
        "%s: %d days (%s to %s, %d in the likelihood), model of %d days, preset %s",
        region or "?",
        len(data.dates),
        data.dates[0].date(),
        data.dates[-1].date(),
        int(data.weight.sum()),
        length,
        preset.name,
    )
    reused = length in _COMPILED
    model = compiled_model(length)
    compiled_at = time.perf_counter()
    if reused:
        how = "reused"
    else:
        how = "loaded from disk cache" if entry_points_cached(model) else "compiled"
    log.info("%s: compiled model %s in %.1f s", region or "?", how, compiled_at - started)
    inputs = model_inputs(data)
    if preset.laplace:
        whitening = whiten(model, inputs)
    else:
        whitening = identity(_origin(model), f"not used by preset {preset.name}")
    compiled = model.with_data(**inputs, **whitening_inputs(whitening.mean, whitening.scale))
    whitened_at = time.perf_counter()
    if preset.laplace:
        log.info(
            "%s: %s in %.2f s (%d log-density evaluations), sampling",
            region or "?",
            "Laplace approximation found"
            if whitening.found
            else f"no Laplace approximation ({whitening.reason}): own coordinates",
            whitened_at - compiled_at,
            whitening.evaluations,
        )
    idata = nutpie.sample(
        compiled,
        **nutpie_settings(preset, whitened=whitening.found),
        cores=cores,
        seed=seed,
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
        # "found", or why the model's own coordinates were sampled (``laplace``).
        laplace="found" if whitening.found else whitening.reason,
        laplace_seconds=round(whitened_at - compiled_at, 3),
        compiled_model_reused=int(reused),
        # How the model was had: "reused" (this process), "loaded from disk cache", "compiled".
        compiled_model=how,
        sampling_seconds=round(sampled_at - whitened_at, 3),
    )
    diag = convergence(idata)
    # Stored with the posterior (JSON text: netCDF attributes are flat), so that the step's
    # metadata need not compute it again.
    idata.posterior.attrs["convergence"] = json.dumps(diag)
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


_COMPILED: dict[int, object] = {}
_LAPLACE_LOCK = threading.Lock()


def whiten(model, inputs: dict) -> Whitening:
    """The Laplace approximation (``laplace.laplace``) of the posterior of the series whose
    ``inputs`` (``model_inputs``) are given, with ``model``'s (``compiled_model``) own
    log density: evaluated in the model's coordinates (identity whitening), from its
    starting point."""
    start = _origin(model)
    values = {
        **model.shared_data,
        **inputs,
        **whitening_inputs(np.zeros_like(start), np.eye(start.size)),
    }
    function = model.logp_func
    with _LAPLACE_LOCK:  # the function's inputs are shared: one series at a time
        for var in function.get_shared():
            var.set_value(np.asarray(values[var.name], dtype=var.type.dtype))
        return laplace(function, start)


def _origin(model) -> np.ndarray:
    """The compiled model's starting point in the template's coordinates: its placeholder
    whitening's mean (``generative.sampling_model``)."""
    return model.shared_data[WHITENING_INPUTS[0]]


def compiled_model(length: int):
    """nutpie's compiled model (``generative.sampling_model``) for series of ``length``
    days, compiled once per process.

    Its data are placeholders: ``.with_data(**model_inputs(data), laplace_mean=...,
    laplace_scale=...)`` gives a series' own, and its coordinates.
    Its numba code is cached on disk (``compiled.compile_model``): the first process that
    compiles a length takes ~15 s, the next ones load it in ~2 s.
    """
    if length not in _COMPILED:
        _COMPILED[length] = compile_model(sampling_model(length))
    return _COMPILED[length]


def peak_rss_mib() -> float:
    """This process's peak resident memory so far, in MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _tidy(idata: xr.DataTree, data: PreparedData) -> xr.DataTree:
    """Keep the named posterior variables, and store the data the model saw."""
    posterior = idata.posterior.to_dataset()
    posterior = posterior[[v for v in POSTERIOR_VARS if v in posterior]]
    # Drop the padding after the last date (see ``generative.BUCKET_DAYS``).
    posterior = posterior.isel(date=slice(0, len(data.dates)))
    posterior = posterior.assign_coords(date=data.dates.values)
    stats = idata.sample_stats.to_dataset()
    stats = stats[[v for v in ("diverging", "tree_depth", "n_steps", "logp") if v in stats]]
    constant = xr.Dataset(
        {
            "positive": ("date", data.positive),
            "tests": ("date", data.tests),
            "exposure": ("date", data.exposure),
            "weight": ("date", data.weight),
        },
        coords={"date": data.dates.values},
    )
    # ArviZ 1's InferenceData is an xarray DataTree with these groups as children.
    return xr.DataTree.from_dict(
        {"posterior": posterior, "sample_stats": stats, "constant_data": constant}
    )
