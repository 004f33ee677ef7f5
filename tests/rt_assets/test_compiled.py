"""The compiled model's numba code cached on disk: same numbers, loaded by a second process."""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytensor
import pytensor.tensor as pt
import pytest
import scipy.special
from nutpie.compile_pymc import make_user_data

from rt_assets import model as m
from rt_assets.model import compiled


def test_record_layout_finds_each_input_s_address_and_length():
    values = {
        "a": np.arange(5, dtype=np.int64),
        "b": np.linspace(0, 1, 7),
        "n": np.array(3, dtype=np.int64),
    }
    shared = {pytensor.shared(value, name=name): name for name, value in values.items()}
    user_data = make_user_data(shared, values)
    words = np.frombuffer(user_data.tobytes(), dtype=np.uint64)
    layout = compiled.record_layout(user_data, {n: v.dtype for n, v in values.items()})
    assert [(x.name, x.dtype, x.ndim) for x in layout] == [
        ("a", "int64", 1),
        ("b", "float64", 1),
        ("n", "int64", 0),
    ]
    for x in layout:
        assert words[x.address_word] == values[x.name].ctypes.data
        assert words[x.size_word] == values[x.name].size


def test_record_layout_finds_a_matrix_input_s_shape():
    value = np.arange(6.0).reshape(2, 3)
    user_data = make_user_data({pytensor.shared(value, name="w"): "w"}, {"w": value})
    words = np.frombuffer(user_data.tobytes(), dtype=np.uint64)
    (x,) = compiled.record_layout(user_data, {"w": "float64"})
    assert x.ndim == 2 and words[x.address_word] == value.ctypes.data
    assert (words[x.shape_word], words[x.shape_word + 1]) == (2, 3)


def test_record_layout_refuses_a_three_dimensional_input():
    value = np.zeros((2, 3, 4))
    user_data = make_user_data({pytensor.shared(value, name="w"): "w"}, {"w": value})
    with pytest.raises(ValueError, match="'w' has 3 dimensions; at most 2 are supported"):
        compiled.record_layout(user_data, {"w": "float64"})


def test_digamma_is_scipy_s_and_has_a_cache_key():
    from pytensor.link.numba.dispatch.basic import numba_funcify_and_cache_key

    x = pt.dvector("x")
    y = pt.psi(x)
    function = pytensor.function([x], y, mode="NUMBA")
    points = np.array([1e-3, 0.5, 1.0, 2.5, 7.0, 35.0, 1e4])
    np.testing.assert_array_equal(function(points), scipy.special.psi(points))
    scalar = pytensor.scalar.float64("s")
    node = pytensor.scalar.psi(scalar).owner
    _, key = numba_funcify_and_cache_key(node.op, node=node)
    assert key is not None


@pytest.mark.slow
def test_cached_entry_points_give_nutpie_s_own_draws():
    # nutpie's own compile of the same model and ours: the same draws, to the bit.
    import nutpie

    observed = m.prepare(_series())
    length = m.padded_length(len(observed.dates))
    inputs = m.model_inputs(observed)
    theirs = nutpie.compile_pymc_model(m.template(length), backend="numba").with_data(**inputs)
    ours = compiled.compile_model(m.template(length)).with_data(**inputs)
    settings = dict(draws=20, tune=30, chains=2, cores=1, seed=5, progress_bar=False)
    a = nutpie.sample(theirs, **settings)
    b = nutpie.sample(ours, **settings)
    np.testing.assert_array_equal(a.posterior["r_t"].values, b.posterior["r_t"].values)
    np.testing.assert_array_equal(a.sample_stats["logp"].values, b.sample_stats["logp"].values)


def _entry_point(model, x: np.ndarray) -> tuple[int, float, np.ndarray]:
    """Call a compiled model's log-density entry point as nutpie's sampler does."""
    import ctypes

    gradient, value = np.zeros_like(x), np.zeros(1)
    double = ctypes.POINTER(ctypes.c_double)
    code = model.compiled_logp_func.ctypes(
        x.size,
        x.ctypes.data_as(double),
        gradient.ctypes.data_as(double),
        value.ctypes.data_as(double),
        model.user_data.ctypes.data_as(ctypes.c_void_p),
    )
    return code, float(value[0]), gradient


@pytest.mark.slow
def test_cached_entry_points_with_a_matrix_input_give_nutpie_s_log_density():
    # The model that is sampled, with a whitening of its own (a 2-D input). numba rounds
    # nutpie's build and ours differently in the last bits (~1e-12 of a log density of
    # ~6000; reading the matrix through nutpie's reshape did not change that), so draws
    # drift apart over a chain; the log density and its gradient are compared instead, at
    # points spread over the space.
    import nutpie

    observed = m.prepare(_series())
    length = m.padded_length(len(observed.dates))
    inputs = m.model_inputs(observed)
    rng = np.random.default_rng(3)
    start = m.start_point(m.template(length))
    scale = np.tril(rng.normal(0.0, 0.1, (start.size, start.size))) + np.eye(start.size)
    whitening = m.whitening_inputs(start, scale)
    theirs = nutpie.compile_pymc_model(m.sampling_model(length), backend="numba")
    theirs = theirs.with_data(**inputs, **whitening)
    ours = compiled.compile_model(m.sampling_model(length)).with_data(**inputs, **whitening)
    for _ in range(20):
        z = rng.normal(0.0, 0.3, start.size)
        code_a, value_a, gradient_a = _entry_point(theirs, z)
        code_b, value_b, gradient_b = _entry_point(ours, z)
        assert code_a == code_b == 0
        assert value_b == pytest.approx(value_a, rel=1e-12, abs=1e-9)
        np.testing.assert_allclose(gradient_b, gradient_a, rtol=1e-9, atol=1e-9)


@pytest.mark.slow
def test_the_same_model_built_again_has_the_same_cache_key():
    # A graph whose rewrites depend on object order (ids) gets a new key now and then, and a
    # process then misses the disk cache; five builds in one process catch that most times.
    from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS

    length = m.padded_length(45)
    keys = set()
    for _ in range(5):
        built = compiled.compile_model(m.sampling_model(length))
        keys.add(CACHED_SRC_FUNCTIONS.get(built.logp_func.vm.jit_fn.py_func))
    assert len(keys) == 1 and None not in keys


_CHILD = """
import json, sys
import numpy as np, nutpie
from rt_assets import model as m
from rt_assets.model import compiled
from tests.rt_assets.test_compiled import _series
data = m.prepare(_series())
model = compiled.compile_model(m.sampling_model(m.padded_length(len(data.dates))))
idata = nutpie.sample(model.with_data(**m.model_inputs(data)), draws=10, tune=20, chains=1,
                      cores=1, seed=2, progress_bar=False)
print(json.dumps({"cached": compiled.entry_points_cached(model),
                  "r_t": idata.posterior["r_t"].values.ravel().tolist()}))
"""


@pytest.mark.slow
def test_a_second_process_loads_the_entry_points_from_the_disk_cache(tmp_path):
    env = {**os.environ, "PYTENSOR_FLAGS": f"base_compiledir={tmp_path}"}

    def child():
        done = subprocess.run(
            [sys.executable, "-c", _CHILD],
            env=env,
            cwd=Path(__file__).parents[2],
            capture_output=True,
            text=True,
            check=True,
        )
        return json.loads(done.stdout.strip().splitlines()[-1])

    first, second = child(), child()
    assert (first["cached"], second["cached"]) == (False, True)
    entries = [p for p in (tmp_path / "numba").iterdir() if p.name.startswith("rt_assets_")]
    assert any(p.name.startswith("rt_assets_logp_entry") for p in entries)
    assert first["r_t"] == second["r_t"]
    # A damaged cache entry: the fit compiles instead, with the same draws.
    for path in entries:
        if path.suffix == ".nbc":
            path.write_bytes(b"not a numba cache entry")
    third = child()
    assert third["cached"] is False
    assert third["r_t"] == first["r_t"]


def _series(n=45):
    import pandas as pd

    dates = pd.date_range("2020-05-01", periods=n, freq="D", name="date")
    rng = np.random.default_rng(8)
    return pd.DataFrame(
        {
            "positive": rng.poisson(120, n).astype(float),
            "total": rng.poisson(3000, n).astype(float),
            "excluded": False,
        },
        index=dates,
    )
