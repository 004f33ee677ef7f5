"""The rt.live generative model: structure, gradient, recovery of a known Rt, determinism."""

import dataclasses
import json

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
import pytest
from scipy import special, stats

from rt_assets import model as m


def _observed(n=60, start="2020-06-01"):
    dates = pd.date_range(start, periods=n, freq="D", name="date")
    rng = np.random.default_rng(3)
    frame = pd.DataFrame(
        {
            "positive": rng.poisson(200, n).astype(float),
            "total": rng.poisson(5000, n).astype(float),
            "excluded": False,
        },
        index=dates,
    )
    frame.iloc[:3, 0] = 0.0  # leading days without positives are trimmed
    frame.iloc[20, 2] = True  # an excluded day
    frame.iloc[30, 1] = np.nan  # a day without tests
    return frame


def _true_r(n=130):
    dates = pd.date_range("2020-04-01", periods=n, freq="D", name="date")
    log_r = np.concatenate(
        [
            np.linspace(np.log(1.8), np.log(0.8), 50),
            np.linspace(np.log(0.8), np.log(1.25), 50),
            np.full(n - 100, np.log(1.25)),
        ]
    )
    return pd.Series(np.exp(log_r), index=dates)


def test_generation_time_and_delay_are_rtlive_s():
    gt = m.generation_time()
    assert gt.shape == (20,) and gt[0] == 0.0 and np.isclose(gt.sum(), 1.0)
    # rt.live puts the mass of (k-1, k] on day k, so the discrete mean sits ~0.5 above 4.7
    assert 4.9 < (np.arange(20) * gt).sum() < 5.4
    p_delay = m.load_p_delay()
    assert p_delay.shape == (66,) and np.isclose(p_delay.sum(), 1.0)
    assert np.all(p_delay[:6] == 0) and p_delay[6] > 0


def test_build_model_shapes_names_and_coords():
    observed = _observed()
    built = m.build(observed)
    model, dates = built.model, built.data.dates
    # trimmed to the first positive (day 3), plus 10 buffer days before it
    assert len(dates) == len(observed) - 3 + m.BUFFER_DAYS
    assert dates[0] == observed.index[3] - pd.Timedelta(days=m.BUFFER_DAYS)
    assert dates[-1] == observed.index[-1]
    # the model covers them padded to a whole bucket
    assert len(model.coords["date"]) == m.padded_length(len(dates)) == 3 * m.BUCKET_DAYS
    names = set(model.named_vars)
    assert {"r_t", "log_r_t", "infections", "test_adjusted_positive", "seed", "alpha"} <= names
    for name in ("r_t", "infections", "test_adjusted_positive"):
        assert model.named_vars_to_dims[name] == ("date",)
    # excluded day, day without tests, buffer days and padding carry no weight
    weighted = [dates[i] for i in model["weighted_days"].get_value()]
    assert len(weighted) == len(observed) - 3 - 2
    assert observed.index[20] not in weighted and observed.index[30] not in weighted
    assert min(weighted) == observed.index[3] and max(weighted) == observed.index[-1]
    observed_positive = model["observed_positive"].get_value()
    np.testing.assert_array_equal(observed_positive, observed["positive"].loc[weighted])
    point = model.initial_point()
    assert np.isfinite(model.compile_logp(mode="NUMBA")(point))


def test_padding_leaves_the_log_density_of_the_real_days_unchanged():
    # The padded days after the last date add only their random-walk prior: the same
    # series in a longer model differs by exactly that term.
    observed = _observed()
    data = m.prepare(observed)
    length = m.padded_length(len(data.dates))
    short = m.template(length, m.model_inputs(data))
    long = m.template(length + m.BUCKET_DAYS, m.model_inputs(data))
    point = short.initial_point()
    rng = np.random.default_rng(1)
    point["log_r_t"] = rng.normal(0.0, 0.05, len(point["log_r_t"]))
    extra = rng.normal(0.0, 0.05, m.BUCKET_DAYS)
    long_point = {**point, "log_r_t": np.concatenate([point["log_r_t"], extra])}
    steps = np.diff(np.concatenate([point["log_r_t"][-1:], extra]))
    walk = stats.norm(0.0, m.RANDOM_WALK_SIGMA).logpdf(steps).sum()
    difference = long.compile_logp()(long_point) - short.compile_logp()(point)
    assert np.isclose(difference, walk, rtol=0, atol=1e-8)


def test_one_compiled_model_serves_every_series_of_its_bucket():
    first = m.prepare(_observed(n=60))
    second = m.prepare(_observed(n=80, start="2020-07-01"))
    length = m.padded_length(len(first.dates))
    assert m.padded_length(len(second.dates)) == length
    compiled = m.compiled_model(length)
    assert m.compiled_model(length) is compiled
    swapped = compiled.with_data(**m.model_inputs(second))
    for name, values in m.model_inputs(second).items():
        np.testing.assert_array_equal(swapped.shared_data[name], values)


def test_build_model_rejects_bad_input():
    observed = _observed()
    with pytest.raises(ValueError, match="lacks columns"):
        m.build_model(observed.drop(columns="total"))
    with pytest.raises(ValueError, match="contiguous"):
        m.build_model(observed.drop(index=observed.index[10]))
    with pytest.raises(ValueError, match="no non-excluded day"):
        m.build_model(observed.assign(positive=0.0))


def test_renewal_op_matches_rtlive_formula_and_its_gradient():
    gt = m.generation_time()
    rng = np.random.default_rng(0)
    r = rng.uniform(0.5, 2.0, 40)
    y = m._renewal(r, 0.3, gt)
    # rt.live's scan: y[t] = sum over earlier days s of r[s] * y[s] * gt[t - s]
    expected = np.zeros(40)
    expected[0] = 0.3
    for t in range(1, 40):
        s = np.arange(max(0, t - 19), t)
        expected[t] = np.sum(r[s] * expected[s] * gt[t - s])
    np.testing.assert_allclose(y, expected, rtol=1e-12)
    pytensor.gradient.verify_grad(
        lambda r_, s_: m.renewal(r_, s_, pt.constant(gt)),
        [r, np.array([0.3])],
        rng=np.random.default_rng(1),
    )


def test_presets_and_errors():
    full = m.get_preset("full")
    assert (full.chains, full.low_rank, full.strict_gate) == (4, True, True)
    rtlive = m.get_preset("rtlive")
    assert (rtlive.chains, rtlive.tune, rtlive.draws, rtlive.target_accept) == (4, 700, 200, 0.95)
    assert not rtlive.low_rank and not rtlive.strict_gate
    assert m.get_preset().name == "fast"
    with pytest.raises(ValueError, match="known presets: fast, full"):
        m.get_preset("nope")
    with pytest.raises(ValueError, match="'bogus'"):
        m.get_preset("bogus")


def test_the_model_package_reads_no_environment(monkeypatch):
    # The preset is the caller's choice (the rt_sampler resource), never the environment's.
    monkeypatch.setenv("RT_SAMPLER_PRESET", "full")
    assert m.get_preset().name == "fast"


def test_build_returns_the_prepared_data_beside_the_model():
    observed = m.simulate(pd.Series(1.1, pd.date_range("2020-03-01", periods=40)))
    built = m.build(observed)
    assert isinstance(built.data, m.PreparedData)
    days = len(built.data.dates)
    assert built.model.dim_lengths["date"].eval() == m.padded_length(days) >= days
    assert not hasattr(built.model, "rt_prepared")


def test_rt_seed_is_stable_and_distinct():
    assert m.rt_seed("2021-03-07", "NY") == m.rt_seed("2021-03-07", "NY")
    assert m.rt_seed("2021-03-07", "NY") != m.rt_seed("2021-03-07", "CA")
    assert m.rt_seed("2021-03-07", "NY") != m.rt_seed("2021-03-06", "NY")


@pytest.fixture(scope="module")
def recovery():
    true_r = _true_r()
    observed = m.simulate(true_r, tests=np.linspace(3000, 30000, len(true_r)), rng=7)
    idata = m.fit(observed[["positive", "total", "excluded"]], "fast", seed=11, region="SIM")
    return true_r, observed, idata


@pytest.mark.slow
def test_fit_recovers_known_rt(recovery):
    true_r, observed, idata = recovery
    post = idata.posterior["r_t"].stack(sample=("chain", "draw"))
    days = observed.index  # observed days; buffer days are before them
    post = post.sel(date=days.values)
    lower = post.quantile(0.1, dim="sample").values
    upper = post.quantile(0.9, dim="sample").values
    median = post.median(dim="sample").values
    truth = true_r.loc[days].to_numpy()
    inside = (truth >= lower) & (truth <= upper)
    assert inside.mean() >= 0.7, f"true Rt inside the 80% interval on {inside.mean():.0%} of days"
    assert np.median(np.abs(median - truth)) < 0.06
    assert m.convergence(idata)["divergences"] == 0


@pytest.mark.slow
def test_fit_output_contract(recovery):
    _, observed, idata = recovery
    post = idata.posterior
    for name in ("r_t", "infections", "test_adjusted_positive"):
        assert post[name].dims == ("chain", "draw", "date")
        assert np.issubdtype(post[name]["date"].dtype, np.datetime64)
    assert post["seed"].dims == ("chain", "draw") and post["alpha"].dims == ("chain", "draw")
    assert post.sizes["date"] == len(observed) + m.BUFFER_DAYS
    assert post.sizes["chain"] == 2 and post.sizes["draw"] == 200
    assert post.attrs["model_version"] == m.MODEL_VERSION
    assert post.attrs["preset"] == "fast" and post.attrs["region"] == "SIM"
    assert post.attrs["seed"] == 11
    diag = m.convergence(idata)
    assert diag["max_rhat"] <= 1.1 and diag["min_ess_bulk"] > 50
    # The fit's own diagnostics travel with the posterior (the step's metadata reads them).
    assert json.loads(post.attrs["convergence"]) == diag


@pytest.mark.slow
def test_the_preset_s_tree_depth_cap_reaches_the_sampler():
    observed = m.simulate(_true_r()[:60], tests=8000.0, rng=2)[["positive", "total", "excluded"]]
    tiny = m.get_preset("tiny")
    uncapped = m.fit(observed, tiny, seed=5)
    capped = m.fit(observed, dataclasses.replace(tiny, maxdepth=2), seed=5)
    # Unconverged tiny fits take deep trees; the cap holds every draw's tree to depth 2,
    # at most 2**2 leapfrog steps.
    assert int(uncapped.sample_stats["n_steps"].max()) > 4
    assert int(capped.sample_stats["n_steps"].max()) <= 4
    assert "'maxdepth': 2" in capped.posterior.attrs["preset_settings"]
    assert m.nutpie_settings(m.get_preset("full"))["maxdepth"] == m.get_preset("full").maxdepth


@pytest.mark.slow
def test_same_seed_same_posterior_and_tiny_preset_fails_convergence():
    observed = m.simulate(_true_r()[:60], tests=8000.0, rng=2)[["positive", "total", "excluded"]]
    first = m.fit(observed, "tiny", seed=5)
    second = m.fit(observed, m.get_preset("tiny"), seed=5)
    np.testing.assert_array_equal(first.posterior["r_t"].values, second.posterior["r_t"].values)
    diag = m.convergence(first)
    assert diag["max_rhat"] > 1.1 or diag["divergences"] > 0


def test_gate_rtlive_and_strict():
    ok = {"max_rhat": 1.005, "min_ess_bulk": 900.0, "min_ess_tail": 800.0, "divergences": 0}
    assert m.gate(ok, "full") == [] and m.gate(ok, "fast") == []
    # Good enough for rt.live, not for the strict gate of `full`.
    loose = {**ok, "max_rhat": 1.05, "min_ess_bulk": 350.0}
    assert m.gate(loose, "rtlive") == []
    reasons = m.gate(loose, "full")
    assert reasons == ["max r_hat 1.050 (limit < 1.01)", "min bulk ESS 350 (limit > 400)"]
    assert m.gate({**ok, "max_rhat": 1.01}, "full") == ["max r_hat 1.010 (limit < 1.01)"]
    assert m.gate({**ok, "min_ess_tail": 400.0}, "full") == ["min tail ESS 400 (limit > 400)"]
    bad = {**ok, "max_rhat": 1.2, "divergences": 3}
    assert m.gate(bad, "fast") == ["3 divergences", "max r_hat 1.200 (limit 1.1)"]
    assert m.gate({**ok, "max_rhat": float("nan")}, "fast") == ["max r_hat nan (limit 1.1)"]


@pytest.mark.slow
def test_a_reused_compiled_model_gives_the_posterior_of_a_fresh_one():
    # Two series of one bucket with different weighted days: the second fitted on the model
    # compiled for the first must give exactly what a fresh compile gives.
    from rt_assets.model import sampling

    first = _observed(n=60)
    second = _observed(n=62, start="2020-08-01").assign(excluded=False)
    assert m.padded_length(len(m.prepare(first).dates)) == m.padded_length(
        len(m.prepare(second).dates)
    )
    sampling._COMPILED.clear()
    fresh = m.fit(second, "tiny", seed=3)
    assert fresh.posterior.attrs["compiled_model_reused"] == 0
    sampling._COMPILED.clear()
    m.fit(first, "tiny", seed=3)
    reused = m.fit(second, "tiny", seed=3)
    assert reused.posterior.attrs["compiled_model_reused"] == 1
    np.testing.assert_array_equal(fresh.posterior["r_t"].values, reused.posterior["r_t"].values)
    np.testing.assert_array_equal(fresh.constant_data["positive"], reused.constant_data["positive"])


@pytest.mark.parametrize("days", [40, 90])  # shorter and longer than the 66-day delay
def test_delay_op_is_the_cut_full_convolution_and_has_its_gradient(days):
    rng = np.random.default_rng(2)
    y = rng.uniform(1.0, 50.0, days)
    p = m.load_p_delay()
    np.testing.assert_allclose(m.delay(y, p).eval(), np.convolve(y, p)[:days], rtol=1e-12)
    pytensor.gradient.verify_grad(m.delay, [y, rng.uniform(0.0, 0.1, 70)], rng=rng)


def test_negative_binomial_op_is_pymc_s_likelihood_and_has_its_gradient():
    rng = np.random.default_rng(4)
    value = np.array([0, 1, 7, 250, 31_000, 4])
    mu = np.array([0.5, 3.0, 6.5, 180.0, 29_000.0, 40.0])
    for alpha in (0.3, 6.0):
        got = m.negative_binomial_logp(value, mu, alpha).eval()
        # PyMC 6 evaluates it through (n, p), which carries ~2e-8 of round-off (checked
        # against 50-digit arithmetic, docs/performance.md "Library versions"); the same
        # formula in SciPy's log-gamma is the tight reference.
        expected = pm.logp(pm.NegativeBinomial.dist(mu=mu, alpha=alpha), value).eval()
        np.testing.assert_allclose(got, expected, rtol=1e-7)
        exact = (
            special.gammaln(value + alpha)
            - special.gammaln(value + 1.0)
            - special.gammaln(alpha)
            + value * np.log(mu / (mu + alpha))
            + alpha * np.log(alpha / (mu + alpha))
        )
        np.testing.assert_allclose(got, exact, rtol=1e-11)
    # Past PyMC's switch to the Poisson limit (alpha > 1e10); PyMC's own value there carries
    # the round-off of its (n, p) parametrisation (~1e-7), so SciPy's Poisson is the reference.
    got = m.negative_binomial_logp(value, mu, 2e10).eval()
    np.testing.assert_allclose(got, stats.poisson.logpmf(value, mu), rtol=1e-12)
    # The gradient: PyTensor's own of PyMC's graph, and finite differences (on small counts:
    # on 31,000 they lose the digits the tolerance needs).
    mu_, alpha_ = pt.dvector("mu"), pt.dscalar("alpha")
    pymc_logp = pm.logp(pm.NegativeBinomial.dist(mu=mu_, alpha=alpha_), value).sum()
    ours = m.negative_binomial_logp(value, mu_, alpha_).sum()
    grads = pytensor.function(
        [mu_, alpha_], pt.grad(pymc_logp, [mu_, alpha_]) + pt.grad(ours, [mu_, alpha_])
    )(mu, 6.0)
    for expected, got in zip(grads[:2], grads[2:], strict=True):
        np.testing.assert_allclose(got, expected, rtol=1e-8)  # alpha: a sum of 6 terms
    pytensor.gradient.verify_grad(
        lambda mu_, alpha_: m.negative_binomial_logp(value[:4], mu_, alpha_),
        [mu[:4], np.array(6.0)],
        rng=rng,
    )
    # Out of the support: -inf, as PyMC's.
    assert np.all(np.isneginf(m.negative_binomial_logp(value, mu, -1.0).eval()))
    assert np.all(np.isneginf(m.negative_binomial_logp(value, mu * 0.0, 6.0).eval()))
    assert np.isneginf(m.negative_binomial_logp(np.array([-1, 2]), mu[:2], 6.0).eval()[0])


def test_kernels_give_the_library_formulation_s_log_density_and_gradient():
    """The product's observation model against rt.live's (PyTensor's convolution, PyMC's
    NegativeBinomial): the same log density and gradient, compiled as nutpie compiles."""
    from pymc.pytensorf import join_nonshared_inputs

    data = m.prepare(_observed(120))
    x = np.random.default_rng(5).normal(0.0, 0.1, len(data.dates) + 2)  # log_r_t, seed, alpha
    results = []
    for library in (True, False):
        with pm.Model(coords=m.model_coords(data)) as model:
            r_t = m.centred_log_rt_walk()
            seed = pm.Exponential("seed", lam=m.SEED_LAM)
            infections = m.renewal(r_t, seed[None], pt.constant(m.generation_time()))
            m.observation_model(data, infections, m.load_p_delay(), library=library)
        outputs, joined = join_nonshared_inputs(
            model.initial_point(), [model.logp(), model.dlogp()], model.value_vars
        )
        results.append(pytensor.function([joined], outputs, mode="NUMBA")(x))
    (logp_library, grad_library), (logp, grad) = results
    np.testing.assert_allclose(logp, logp_library, rtol=1e-12)
    np.testing.assert_allclose(grad, grad_library, rtol=1e-9, atol=1e-9)
