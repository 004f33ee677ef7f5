"""The renewal equation as one PyTensor Op: numba kernels with a hand-written gradient.

Replaces rt.live's ``scan`` for speed (docs/performance.md, "What each step bought"); same
arithmetic.
"""

from __future__ import annotations

import numba
import numpy as np
import pytensor.tensor as pt
from pytensor.graph.basic import Apply
from pytensor.graph.op import Op
from pytensor.link.numba.dispatch.basic import register_funcify_default_op_cache_key


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
