"""The model's heavy arithmetic as PyTensor Ops: numba kernels with hand-written gradients.

- ``whiten``: the sampler's coordinates, ``mean + tril(scale) @ z`` (``laplace``);
- ``renewal``: the renewal equation, in place of rt.live's ``scan``;
- ``delay``: infections convolved with the delay distribution, in place of PyTensor's full
  ``convolve1d`` cut to the series;
- ``negative_binomial_logp``: the likelihood, in place of PyMC's NegativeBinomial graph.

For speed (docs/performance.md, "What each step bought"); the same arithmetic, checked
against the library formulations in the tests.
"""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.gradient import grad_undefined
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key

from rt_assets.model.compiled import digamma

# Salt for PyTensor's on-disk cache key of the Ops below, which covers only an Op's class
# and props: a change to any kernel in this file makes new keys, so a cached function never
# calls an older kernel.
_SOURCE_KEY = int(hashlib.sha256(Path(__file__).read_bytes()).hexdigest()[:15], 16)


# The loops below push each day's contribution forward (backward, in the gradients) into the
# days it reaches: the inner loops then walk memory in order and vectorise, 2-3x faster than
# summing each day's window. Same sums, in another order (rounding differs in the last bits).


@numba.njit(cache=True, nogil=True)
def _renewal(r, seed, gt):
    """rt.live's renewal: y[0] = seed, y[t] = sum_k gt[k] * r[t-k] * y[t-k]."""
    n = r.shape[0]
    g = gt.shape[0]
    acc = np.zeros(n)
    y = np.empty(n)
    for t in range(n):
        y[t] = seed if t == 0 else acc[t]
        infectious = r[t] * y[t]
        for k in range(1, min(g, n - t)):
            acc[t + k] += gt[k] * infectious
    return y


@numba.njit(cache=True, nogil=True)
def _renewal_vjp(r, y, gt, y_bar):
    """Reverse-mode gradient of `_renewal` (``y`` its output): adjoints of r and of the seed.

    The total adjoint of ``y[t]`` is its own cotangent plus ``r[t] * c[t]``, where ``c[t]``
    gathers what flows back from the later days it infects.
    """
    n = r.shape[0]
    g = gt.shape[0]
    c = np.zeros(n)
    r_bar = np.empty(n)
    for t in range(n - 1, -1, -1):
        a = y_bar[t] + r[t] * c[t]
        r_bar[t] = y[t] * c[t]
        for k in range(1, min(g, t + 1)):
            c[t - k] += gt[k] * a
    seed_bar = np.empty(1)
    seed_bar[0] = y_bar[0] + r[0] * c[0]
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

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, output_grads):
        r, seed, gt = inputs
        r_bar, seed_bar = RenewalVJPOp()(r, outputs[0], gt, output_grads[0])
        return [r_bar, seed_bar, pt.zeros_like(gt)]


class RenewalVJPOp(Op):
    """The adjoints of r_t and the seed, from the renewal's own output (not recomputed)."""

    __props__ = ()

    def make_node(self, r, y, gt, y_bar):
        ins = [pt.as_tensor_variable(x).astype("float64") for x in (r, y, gt, y_bar)]
        return Apply(self, ins, [pt.dvector(), pt.dvector()])

    def perform(self, node, inputs, output_storage):
        r, y, gt, y_bar = inputs
        r_bar, seed_bar = _renewal_vjp(r, y, gt, y_bar)
        output_storage[0][0] = r_bar
        output_storage[1][0] = seed_bar

    def infer_shape(self, node, shapes):
        return [shapes[0], (1,)]


@register_funcify_default_op_cache_key(RenewalOp)
def _numba_renewal(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def renewal(r, seed, gt):
        return _renewal(r, seed[0], gt)

    return renewal, _SOURCE_KEY


@register_funcify_default_op_cache_key(RenewalVJPOp)
def _numba_renewal_vjp(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def renewal_vjp(r, y, gt, y_bar):
        return _renewal_vjp(r, y, gt, y_bar)

    return renewal_vjp, _SOURCE_KEY


renewal = RenewalOp()


# --- The delay: infections convolved with the onset-to-confirmation distribution ---------


@numba.njit(cache=True, nogil=True)
def _delay(y, p):
    """out[t] = sum_k p[k] * y[t-k]: the full convolution, cut to ``y``'s length."""
    n = y.shape[0]
    m = p.shape[0]
    out = np.zeros(n)
    for j in range(n):
        infected = y[j]
        for k in range(min(m, n - j)):
            out[j + k] += p[k] * infected
    return out


@numba.njit(cache=True, nogil=True)
def _delay_vjp_y(p, out_bar):
    """Adjoint of ``y``: y_bar[s] = sum_k p[k] * out_bar[s+k]."""
    n = out_bar.shape[0]
    m = p.shape[0]
    y_bar = np.empty(n)
    for s in range(n):
        acc = 0.0
        for k in range(min(n - 1 - s, m - 1) + 1):
            acc += p[k] * out_bar[s + k]
        y_bar[s] = acc
    return y_bar


@numba.njit(cache=True, nogil=True)
def _delay_vjp_p(y, m, out_bar):
    """Adjoint of the ``m`` delay probabilities: p_bar[k] = sum_t out_bar[t] * y[t-k]."""
    n = y.shape[0]
    p_bar = np.zeros(m)
    for k in range(min(m, n)):
        acc = 0.0
        for t in range(k, n):
            acc += out_bar[t] * y[t - k]
        p_bar[k] = acc
    return p_bar


class DelayOp(Op):
    """test_adjusted_positive = delay(infections, p_delay): ``convolve1d(y, p, "full")[:len(y)]``
    in one numba loop, with its exact gradient (the library's full convolution computes,
    and differentiates, the days after the series' end as well)."""

    __props__ = ()

    def make_node(self, y, p):
        y, p = (pt.as_tensor_variable(x).astype("float64") for x in (y, p))
        return Apply(self, [y, p], [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = _delay(*inputs)

    def infer_shape(self, node, shapes):
        return [shapes[0]]

    def pullback(self, inputs, outputs, output_grads):
        y, p = inputs
        return [DelayVJPOp("y")(y, p, output_grads[0]), DelayVJPOp("p")(y, p, output_grads[0])]


class DelayVJPOp(Op):
    """One adjoint of ``DelayOp`` (``wrt`` "y" or "p"), so that the other is not computed
    when the gradient does not need it (the delay is data)."""

    __props__ = ("wrt",)

    def __init__(self, wrt: str):
        if wrt not in ("y", "p"):
            raise ValueError(f"wrt must be 'y' or 'p', not {wrt!r}")
        self.wrt = wrt

    def make_node(self, y, p, out_bar):
        ins = [pt.as_tensor_variable(x).astype("float64") for x in (y, p, out_bar)]
        return Apply(self, ins, [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        y, p, out_bar = inputs
        if self.wrt == "y":
            output_storage[0][0] = _delay_vjp_y(p, out_bar)
        else:
            output_storage[0][0] = _delay_vjp_p(y, p.shape[0], out_bar)

    def infer_shape(self, node, shapes):
        return [shapes[0] if self.wrt == "y" else shapes[1]]


@register_funcify_default_op_cache_key(DelayOp)
def _numba_delay(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def delay(y, p):
        return _delay(y, p)

    return delay, _SOURCE_KEY


@register_funcify_default_op_cache_key(DelayVJPOp)
def _numba_delay_vjp(op, node=None, **kwargs):
    if op.wrt == "y":

        @numba.njit(nogil=True)
        def delay_vjp(y, p, out_bar):
            return _delay_vjp_y(p, out_bar)

    else:

        @numba.njit(nogil=True)
        def delay_vjp(y, p, out_bar):
            return _delay_vjp_p(y, p.shape[0], out_bar)

    return delay_vjp, _SOURCE_KEY


delay = DelayOp()


# --- The likelihood: NegativeBinomial(mu, alpha) log-probability of each count -----------

# Above this dispersion PyMC's NegativeBinomial is its Poisson limit; so is this one.
_POISSON_ALPHA = 1e10


@numba.njit(cache=True, nogil=True)
def _negative_binomial_logp(value, mu, alpha):
    """log NB(value | mu, alpha) per element, as PyMC's ``NegativeBinomial`` computes it:
    lgamma(v+a) - lgamma(v+1) - lgamma(a) + v log(mu/(mu+a)) + a log(a/(mu+a)); -inf for
    a negative count, and everywhere when a parameter is out of its support (mu > 0,
    alpha > 0)."""
    n = value.shape[0]
    if mu.shape[0] != n:
        raise ValueError("negative_binomial_logp: value and mu differ in length")
    out = np.empty(n)
    valid = alpha > 0.0
    for i in range(n):
        valid = valid and mu[i] > 0.0
    if not valid:
        out[:] = -np.inf
        return out
    poisson = alpha > _POISSON_ALPHA
    lgamma_alpha = math.lgamma(alpha)
    for i in range(n):
        v = value[i]
        m = mu[i]
        if v < 0:
            out[i] = -np.inf
        elif poisson:
            out[i] = v * math.log(m) - m - math.lgamma(v + 1.0)
        else:
            out[i] = (
                math.lgamma(v + alpha)
                - math.lgamma(v + 1.0)
                - lgamma_alpha
                + v * math.log(m / (m + alpha))
                + alpha * math.log(alpha / (m + alpha))
            )
    return out


@numba.njit(cache=True, nogil=True)
def _negative_binomial_vjp(value, mu, alpha, out_bar):
    """Adjoints of mu (per element) and alpha (summed) of ``_negative_binomial_logp``:
    d/dmu = v/mu - (v+a)/(mu+a); d/da = psi(v+a) - psi(a) + log(a/(mu+a)) + 1 - (v+a)/(mu+a)
    (psi: SciPy's digamma, as PyTensor's own gradient)."""
    n = value.shape[0]
    if mu.shape[0] != n or out_bar.shape[0] != n:
        raise ValueError("negative_binomial_logp: value, mu and the adjoint differ in length")
    mu_bar = np.zeros(n)
    alpha_bar = np.zeros(())
    poisson = alpha > _POISSON_ALPHA
    psi_alpha = 0.0 if poisson else digamma(alpha)
    total = 0.0
    for i in range(n):
        v = value[i]
        m = mu[i]
        if poisson:
            mu_bar[i] = out_bar[i] * (v / m - 1.0)
        else:
            ratio = (v + alpha) / (m + alpha)
            mu_bar[i] = out_bar[i] * (v / m - ratio)
            total += out_bar[i] * (
                digamma(v + alpha) - psi_alpha + math.log(alpha / (m + alpha)) + 1.0 - ratio
            )
    alpha_bar[()] = total
    return mu_bar, alpha_bar


class NegativeBinomialLogpOp(Op):
    """Elementwise log NB(value | mu, alpha) (value: counts, mu: vector, alpha: scalar), one
    numba loop with its exact gradient in mu and alpha, in place of PyMC's graph (which
    evaluates lgamma(alpha) and, in the gradient, digamma(alpha) once per element)."""

    __props__ = ()

    def make_node(self, value, mu, alpha):
        value = pt.as_tensor_variable(value).astype("int64")
        mu = pt.as_tensor_variable(mu).astype("float64")
        alpha = pt.as_tensor_variable(alpha).astype("float64")
        if value.ndim != 1 or mu.ndim != 1 or alpha.ndim != 0:
            raise TypeError("expected a vector of counts, a vector mu and a scalar alpha")
        return Apply(self, [value, mu, alpha], [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        value, mu, alpha = inputs
        output_storage[0][0] = _negative_binomial_logp(value, mu, float(alpha))

    def infer_shape(self, node, shapes):
        # The counts' length: one input, so the compiled graph (and its cache key) does not
        # depend on which of mu's broadcast inputs a rewrite happens to list first.
        return [shapes[0]]

    def pullback(self, inputs, outputs, output_grads):
        value, mu, alpha = inputs
        mu_bar, alpha_bar = NegativeBinomialVJPOp()(value, mu, alpha, output_grads[0])
        return [grad_undefined(self, 0, value), mu_bar, alpha_bar]


class NegativeBinomialVJPOp(Op):
    __props__ = ()

    def make_node(self, value, mu, alpha, out_bar):
        value = pt.as_tensor_variable(value).astype("int64")
        mu, alpha, out_bar = (
            pt.as_tensor_variable(x).astype("float64") for x in (mu, alpha, out_bar)
        )
        return Apply(self, [value, mu, alpha, out_bar], [pt.dvector(), pt.dscalar()])

    def perform(self, node, inputs, output_storage):
        value, mu, alpha, out_bar = inputs
        mu_bar, alpha_bar = _negative_binomial_vjp(value, mu, float(alpha), out_bar)
        output_storage[0][0] = mu_bar
        output_storage[1][0] = alpha_bar

    def infer_shape(self, node, shapes):
        return [shapes[1], ()]


@register_funcify_default_op_cache_key(NegativeBinomialLogpOp)
def _numba_negative_binomial_logp(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def negative_binomial_logp(value, mu, alpha):
        return _negative_binomial_logp(value, mu, alpha.item())

    return negative_binomial_logp, _SOURCE_KEY


@register_funcify_default_op_cache_key(NegativeBinomialVJPOp)
def _numba_negative_binomial_vjp(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def negative_binomial_vjp(value, mu, alpha, out_bar):
        return _negative_binomial_vjp(value, mu, alpha.item(), out_bar)

    return negative_binomial_vjp, _SOURCE_KEY


negative_binomial_logp = NegativeBinomialLogpOp()


# --- The sampler's coordinates: x = mean + tril(scale) @ z ---------------------------------

# Sums may be reordered (and multiply-adds fused), so that LLVM vectorises the row sums;
# NaN and infinity keep their meaning (no "nnan"/"ninf"). Without it the row sums stay scalar
# (`_whiten` alone 4-5x slower), and under PyTensor 3 the whitening with its gradient cost
# 2.3x as much (docs/performance.md, "Library versions").
_REASSOCIATE = {"reassoc", "contract"}


@numba.njit(cache=True, nogil=True, fastmath=_REASSOCIATE)
def _whiten(mean, scale, z):
    """``mean + tril(scale) @ z``: the lower triangle only, one row at a time."""
    n = z.shape[0]
    if mean.shape[0] != n or scale.shape[0] != n or scale.shape[1] != n:
        raise ValueError("whiten: mean, scale and z differ in size")
    x = np.empty(n)
    for i in range(n):
        acc = mean[i]
        for j in range(i + 1):
            acc += scale[i, j] * z[j]
        x[i] = acc
    return x


@numba.njit(cache=True, nogil=True, fastmath=_REASSOCIATE)
def _whiten_vjp(scale, x_bar):
    """Adjoint of ``z``: ``tril(scale).T @ x_bar``, walking the rows in order."""
    n = x_bar.shape[0]
    z_bar = np.zeros(n)
    for i in range(n):
        g = x_bar[i]
        for j in range(i + 1):
            z_bar[j] += scale[i, j] * g
    return z_bar


class WhitenOp(Op):
    """x = mean + tril(scale) @ z (scale's upper triangle is not read); exact gradient in
    ``z`` and ``mean`` (``scale`` is data: its gradient is undefined)."""

    __props__ = ()

    def make_node(self, mean, scale, z):
        mean, scale, z = (pt.as_tensor_variable(v).astype("float64") for v in (mean, scale, z))
        if mean.ndim != 1 or scale.ndim != 2 or z.ndim != 1:
            raise TypeError("expected a vector mean, a matrix scale and a vector z")
        return Apply(self, [mean, scale, z], [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = _whiten(*inputs)

    def infer_shape(self, node, shapes):
        return [shapes[2]]

    def pullback(self, inputs, outputs, output_grads):
        mean, scale, z = inputs
        x_bar = output_grads[0]
        return [x_bar, grad_undefined(self, 1, scale), WhitenVJPOp()(scale, x_bar)]


class WhitenVJPOp(Op):
    __props__ = ()

    def make_node(self, scale, x_bar):
        scale, x_bar = (pt.as_tensor_variable(v).astype("float64") for v in (scale, x_bar))
        return Apply(self, [scale, x_bar], [pt.dvector()])

    def perform(self, node, inputs, output_storage):
        output_storage[0][0] = _whiten_vjp(*inputs)

    def infer_shape(self, node, shapes):
        return [shapes[1]]


@register_funcify_default_op_cache_key(WhitenOp)
def _numba_whiten(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def whiten(mean, scale, z):
        return _whiten(mean, scale, z)

    return whiten, _SOURCE_KEY


@register_funcify_default_op_cache_key(WhitenVJPOp)
def _numba_whiten_vjp(op, node=None, **kwargs):
    @numba.njit(nogil=True)
    def whiten_vjp(scale, x_bar):
        return _whiten_vjp(scale, x_bar)

    return whiten_vjp, _SOURCE_KEY


whiten = WhitenOp()
