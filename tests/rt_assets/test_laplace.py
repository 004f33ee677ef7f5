"""The sampler's coordinates: a Laplace approximation whitens the posterior, and the model
that is sampled has the template's log density whatever the whitening."""

import numpy as np
import pytensor
import pytest

from rt_assets import model as m
from rt_assets.model.kernels import _whiten, _whiten_vjp, whiten
from rt_assets.model.sampling import compiled_model
from tests.rt_assets.test_compiled import _series


def _gaussian(mean, precision):
    def logp_dlogp(x):
        d = x - mean
        return -0.5 * d @ precision @ d, -precision @ d

    return logp_dlogp


def test_laplace_of_a_gaussian_is_its_mean_and_covariance():
    rng = np.random.default_rng(1)
    a = rng.normal(size=(6, 6))
    precision = a @ a.T + 6 * np.eye(6)
    mean = rng.normal(size=6)
    found = m.laplace(_gaussian(mean, precision), np.zeros(6))
    assert found.found and found.reason == "" and found.evaluations > 0
    np.testing.assert_allclose(found.mean, mean, atol=1e-5)
    np.testing.assert_allclose(
        found.scale @ found.scale.T, np.linalg.inv(precision), rtol=1e-5, atol=1e-8
    )
    # lower triangular and C-ordered: what the whitening kernel reads
    assert np.all(np.triu(found.scale, 1) == 0) and found.scale.flags.c_contiguous


def test_laplace_says_why_it_falls_back_to_the_identity():
    def nowhere(x):
        return -np.inf, np.zeros_like(x)

    x0 = np.arange(3.0)
    fallback = m.laplace(nowhere, x0)
    assert not fallback.found and "not finite at the starting point" in fallback.reason
    np.testing.assert_array_equal(fallback.mean, x0)
    np.testing.assert_array_equal(fallback.scale, np.eye(3))

    def upwards(x):  # no mode: the search runs off, or finds no downward curvature
        return float(x @ x), 2 * x

    with np.errstate(over="ignore", invalid="ignore"):
        assert not m.laplace(upwards, np.ones(2)).found


def test_a_flat_direction_gets_a_wide_scale_not_an_infinite_one():
    precision = np.diag([4.0, 0.0])

    def logp_dlogp(x):
        return -0.5 * x @ precision @ x, -precision @ x

    found = m.laplace(logp_dlogp, np.array([1.0, 2.0]))
    assert found.found and np.all(np.isfinite(found.scale))
    assert found.scale[1, 1] > 100 * found.scale[0, 0]


def test_whiten_kernel_reads_the_lower_triangle_and_has_its_gradient():
    rng = np.random.default_rng(2)
    mean, scale, z = rng.normal(size=5), rng.normal(size=(5, 5)), rng.normal(size=5)
    np.testing.assert_allclose(_whiten(mean, scale, z), mean + np.tril(scale) @ z, rtol=1e-14)
    x_bar = rng.normal(size=5)
    np.testing.assert_allclose(_whiten_vjp(scale, x_bar), np.tril(scale).T @ x_bar, rtol=1e-14)
    pytensor.gradient.verify_grad(lambda mu, zz: whiten(mu, np.tril(scale), zz), [mean, z], rng=rng)
    with pytest.raises(ValueError, match="differ in size"):
        _whiten(mean, scale[:4, :4], z)


def _template_logp_dlogp(observed):
    """The template's own log density and gradient, with its data, as a flat function."""
    from pymc.pytensorf import join_nonshared_inputs

    built = m.build(observed)
    model = built.model
    outputs, joined = join_nonshared_inputs(
        model.initial_point(), [model.logp(), model.dlogp()], model.value_vars
    )
    return pytensor.function([joined], outputs, mode="NUMBA"), built


def test_the_sampled_model_has_the_template_s_log_density_under_any_whitening():
    observed = _series(50)
    reference, built = _template_logp_dlogp(observed)
    length = m.padded_length(len(built.data.dates))
    sampled = m.sampling_model(length)
    inputs = m.model_inputs(built.data)
    rng = np.random.default_rng(5)
    x0 = m.start_point(built.model)
    mean = x0 + rng.normal(0.0, 0.05, x0.size)
    scale = np.tril(rng.normal(0.0, 0.02, (x0.size, x0.size))) + 0.1 * np.eye(x0.size)
    for var in sampled.data_vars:
        value = {**inputs, **m.whitening_inputs(mean, scale)}.get(var.name)
        if value is not None:
            var.set_value(np.asarray(value, dtype=var.type.dtype))
    from pymc.pytensorf import join_nonshared_inputs

    outputs, joined = join_nonshared_inputs(
        {"z": np.zeros(x0.size)}, [sampled.logp(), sampled.dlogp()], sampled.value_vars
    )
    function = pytensor.function([joined], outputs, mode="NUMBA")
    z = rng.normal(size=x0.size)
    x = mean + scale @ z
    logp_z, grad_z = function(z)
    logp_x, grad_x = reference(x)
    # x = mean + L z: the same density (the Jacobian is constant: none is added), and the
    # chain rule's gradient.
    np.testing.assert_allclose(logp_z, logp_x, rtol=1e-10)
    np.testing.assert_allclose(grad_z, scale.T @ grad_x, rtol=1e-8, atol=1e-8)
    assert {v.name for v in sampled.deterministics} >= set(m.POSTERIOR_VARS)


def test_whiten_finds_the_series_mode_with_the_compiled_model():
    observed = _series(50)
    reference, built = _template_logp_dlogp(observed)
    model = compiled_model(m.padded_length(len(built.data.dates)))
    found = m.whiten(model, m.model_inputs(built.data))
    assert found.found
    logp_mode, grad_mode = reference(found.mean)
    logp_start, grad_start = reference(m.start_point(built.model))
    # L-BFGS stops on the relative change of the log density, near the mode.
    assert np.abs(grad_mode).max() < 1e-4 * np.abs(grad_start).max()
    assert logp_mode > logp_start
    # The compiled model's shared inputs were borrowed: its own placeholders are unchanged.
    np.testing.assert_array_equal(model.shared_data["laplace_scale"], np.eye(found.mean.size))


@pytest.mark.slow
def test_a_fit_records_its_coordinates_and_samples_far_fewer_steps():
    observed = _series(80)
    fast = m.get_preset("fast")
    whitened = m.fit(observed, fast, seed=3)
    own = m.fit(observed, m.SamplerPreset(**{**fast.__dict__, "laplace": False}), seed=3)
    assert whitened.posterior.attrs["laplace"] == "found"
    assert own.posterior.attrs["laplace"] == "not used by preset fast"
    # Same posterior, fewer leapfrog steps a draw.
    steps = {k: float(v.sample_stats["n_steps"].mean()) for k, v in [("w", whitened), ("o", own)]}
    assert steps["w"] < steps["o"]
    median_w = whitened.posterior["r_t"].median(("chain", "draw")).values
    median_o = own.posterior["r_t"].median(("chain", "draw")).values
    assert np.mean(np.abs(median_w - median_o) < 0.05) > 0.9
