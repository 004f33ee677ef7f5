"""nutpie's compiled model, with its two C entry points cached on disk across processes.

nutpie 0.16.11 compiles a model in three parts: PyTensor's numba functions for the
log-density with its gradient and for the trace's other variables (PyTensor caches those
on disk), and two C entry points (``cfunc``) that nutpie's sampler calls, each of which
inlines one of those functions. nutpie builds the entry points as closures, which numba
cannot cache, so every process compiled them again: about 13 of a model's 15 s
(docs/performance.md, "Cached on disk across processes").

Here the entry points are plain functions whose only free names are module globals, and
they read the model's data through nutpie's own ``user_data`` record (so nutpie's
``with_data`` still swaps a series in without compiling). They are cached in PyTensor's
numba cache folder under a key made of PyTensor's key for the function they call, their
own source (which spells out the record's layout) and numba's version: a process that
finds them there loads them instead of compiling. When PyTensor has no key for a function
(a graph it cannot cache), the entry points are compiled without a cache, as nutpie does.

One more piece stood in the way: PyTensor has no cache key for a function that calls one of
SciPy's Cython special functions, and the model's gradient calls digamma (``Psi``, from the
NegativeBinomial's dispersion). ``_funcify_psi`` gives PyTensor a cacheable digamma: the
same SciPy function, its address looked up once per process at the first call, so the
numbers are the same to the bit.

The entry points keep nutpie's calling convention and return codes (0 ok, > 0 a
recoverable error such as a non-finite density, < 0 fatal).
"""

from __future__ import annotations

import hashlib
import logging
from dataclasses import dataclass

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core.extending import get_cython_function_address
from pytensor.link.numba.cache import CACHED_SRC_FUNCTIONS, NUMBA_CACHE_PATH, _call_cached_ptr
from pytensor.link.numba.dispatch.basic import register_funcify_and_cache_key
from pytensor.link.numba.dispatch.scalar import numba_funcify_ScalarOp
from pytensor.scalar.math import Psi

log = logging.getLogger("rt_assets.model")

# Bump when the generated source or the way it reads its data changes meaning without
# changing its text (the key also covers the text itself).
ENTRY_POINT_FORMAT = "rt-entry-1"

_LOGP_SIGNATURE = types.int64(
    types.uint64,
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.voidptr,
)
_EXPAND_SIGNATURE = types.int64(
    types.uint64,
    types.uint64,
    types.CPointer(types.double),
    types.CPointer(types.double),
    types.voidptr,
)


# SciPy's digamma for doubles; the int is Cython's ``skip_dispatch`` flag.
_SCIPY_PSI = ("scipy.special.cython_special", "__pyx_fuse_1psi")
_PSI_TYPE = types.FunctionType(types.double(types.double, types.intc))
_PSI_CACHE_KEY = hashlib.sha256(f"rt_assets digamma|{_SCIPY_PSI}".encode()).hexdigest()


@numba.njit(cache=True)
def _psi_address():
    with numba.objmode(address=types.intp):
        address = get_cython_function_address(*_SCIPY_PSI)
    return address


@numba.njit(cache=True)
def digamma(x):
    function = _call_cached_ptr(
        get_ptr_func=_psi_address, func_type_ref=_PSI_TYPE, unique_func_name_lit="rt_assets_psi"
    )
    return function(x, np.int32(0))


@register_funcify_and_cache_key(Psi)
def _funcify_psi(op, node, **kwargs):
    """digamma of a double through SciPy's Cython function, with a cache key."""
    if [v.type.dtype for v in (*node.inputs, *node.outputs)] != ["float64", "float64"]:
        return numba_funcify_ScalarOp(op, node, **kwargs)
    return digamma, _PSI_CACHE_KEY


@numba.extending.intrinsic
def _pointer(typingctx, address):
    """An integer address as a ``void*`` (for ``numba.carray``)."""
    if not isinstance(address, types.Integer):
        return None

    def codegen(context, builder, signature, args):
        return builder.inttoptr(args[0], ir.PointerType(ir.IntType(8)))

    return types.voidptr(address), codegen


@dataclass(frozen=True)
class Input:
    """Where one data input (a scalar, a 1-D or a 2-D array) is found in nutpie's
    ``user_data``."""

    name: str
    dtype: str  # numpy's name, e.g. "int64"
    ndim: int  # 0 (a scalar, such as a dimension's length), 1 or 2
    address_word: int  # index of the 64-bit word holding its address
    size_word: int  # index of the word holding its length
    shape_word: int = 0  # index of the word holding its first dimension (2-D: then the second)


def record_layout(user_data: np.ndarray, dtypes: dict[str, str]) -> list[Input]:
    """The words of nutpie's ``user_data`` record that locate each input, in the order
    of ``dtypes`` (input name to dtype).

    The record holds, per shared variable, its address, its size and its shape, all
    64-bit words. Scalars, 1-D inputs (a 1-D input's length is its size) and C-ordered 2-D
    inputs (nutpie's ``with_data`` copies in C order) are supported.
    """
    dtype = user_data.dtype
    if dtype.itemsize % 8:
        raise ValueError(f"nutpie's user_data record is not made of 64-bit words: {dtype}")
    shared = dtype.fields["shared"]
    shared_dtype, shared_offset = shared[0], shared[1]
    data_fields = shared_dtype.fields["data"]
    size_fields = shared_dtype.fields["size"]
    shape_fields = shared_dtype.fields["shape"]
    layout = []
    for name, input_dtype in dtypes.items():
        shape_type = shape_fields[0].fields[name][0]
        ndim = shape_type.shape[0] if shape_type.shape else 0
        if ndim > 2:
            raise ValueError(f"data input {name!r} has {ndim} dimensions; at most 2 are supported")
        address = shared_offset + data_fields[1] + data_fields[0].fields[name][1]
        size = shared_offset + size_fields[1] + size_fields[0].fields[name][1]
        shape = shared_offset + shape_fields[1] + shape_fields[0].fields[name][1]
        layout.append(
            Input(name, np.dtype(input_dtype).name, ndim, address // 8, size // 8, shape // 8)
        )
    return layout


def _source(kind: str, n_dim: int, n_expanded: int, words: int, inputs: list[Input]) -> str:
    """The Python source of one entry point; ``inner`` is PyTensor's function."""
    shapes = [
        f"(ud[{x.shape_word}], ud[{x.shape_word + 1}])"
        if x.ndim == 2
        else (f"(ud[{x.size_word}],)" if x.ndim else "()")
        for x in inputs
    ]
    reads = "".join(
        f"        d{i} = numba.carray(_pointer(ud[{x.address_word}]), {shape}, np.{x.dtype})\n"
        for i, (x, shape) in enumerate(zip(inputs, shapes, strict=True))
    )
    args = "".join(f", d{i}" for i in range(len(inputs)))
    if kind == "logp":
        return (
            "def logp_entry(dim, x_, grad_, logp_, user_data_):\n"
            f"    if dim != {n_dim}:\n"
            "        return -1\n"
            "    try:\n"
            f"        ud = numba.carray(user_data_, ({words},), np.uint64)\n"
            f"{reads}"
            f"        x = numba.carray(x_, ({n_dim},))\n"
            f"        grad = numba.carray(grad_, ({n_dim},))\n"
            "        value_out = numba.carray(logp_, (1,))\n"
            f"        value, gradient = inner(x{args})\n"
            "        value_out[0] = value\n"
            "        grad[:] = gradient\n"
            "        if not np.all(np.isfinite(gradient)):\n"
            "            return 3\n"
            "        if not np.isfinite(value):\n"
            "            return 4\n"
            "    except Exception:\n"
            "        return 1\n"
            "    return 0\n"
        )
    return (
        "def expand_entry(dim, expanded, x_, out_, user_data_):\n"
        f"    if dim != {n_dim} or expanded != {n_expanded}:\n"
        "        return -1\n"
        "    try:\n"
        f"        ud = numba.carray(user_data_, ({words},), np.uint64)\n"
        f"{reads}"
        f"        x = numba.carray(x_, ({n_dim},))\n"
        f"        out = numba.carray(out_, ({n_expanded},))\n"
        f"        (values,) = inner(x{args})\n"
        "        out[:] = values\n"
        "    except Exception:\n"
        "        return -2\n"
        "    return 0\n"
    )


def entry_point(kind: str, pytensor_fn, n_dim: int, n_expanded: int, user_data: np.ndarray):
    """One C entry point (``kind`` "logp" or "expand") calling ``pytensor_fn``'s numba code,
    loaded from the disk cache when it is there (a warning says why when it cannot be)."""
    inner = pytensor_fn.vm.jit_fn
    inputs = record_layout(user_data, {v.name: v.type.dtype for v in pytensor_fn.get_shared()})
    source = _source(kind, n_dim, n_expanded, user_data.dtype.itemsize // 8, inputs)
    # A module name, so that numba can rebuild the environment of a cached entry point.
    namespace = {"__name__": __name__, "numba": numba, "np": np, "_pointer": _pointer}
    namespace["inner"] = inner
    exec(compile(source, f"<rt_assets_{kind}_entry>", "exec"), namespace)  # noqa: S102
    function = namespace[f"{kind}_entry"]
    signature = _LOGP_SIGNATURE if kind == "logp" else _EXPAND_SIGNATURE
    inner_key = CACHED_SRC_FUNCTIONS.get(inner.py_func)
    if inner_key is None:
        log.warning("PyTensor gave no cache key: the %s entry point compiled without a cache", kind)
        return numba.cfunc(signature)(function)
    CACHED_SRC_FUNCTIONS[function] = hashlib.sha256(
        f"{ENTRY_POINT_FORMAT}|{inner_key}|{numba.__version__}|{source}".encode()
    ).hexdigest()
    try:
        return numba.cfunc(signature, cache=True)(function)
    except Exception as exc:  # noqa: BLE001 - any unreadable entry: compile instead
        # A damaged or foreign cache entry must not stop a fit: compile without the cache.
        log.warning(
            "numba's cache of the %s entry point in %s could not be used (%s: %s); compiling "
            "it (deleting %s_entry.* there clears the entry)",
            kind,
            NUMBA_CACHE_PATH,
            type(exc).__name__,
            exc,
            f"rt_assets_{kind}",
        )
        return numba.cfunc(signature)(function)


def compile_model(model, var_names=None):
    """``nutpie.compile_pymc_model(model, backend="numba")``, entry points cached on disk.

    Gives nutpie's ``CompiledPyMCModel`` (``with_data``, ``nutpie.sample`` work as usual)
    with the same initial point (support point, jittered) and the same numbers.
    """
    from nutpie.compile_pymc import (
        CompiledPyMCModel,
        _make_functions,
        _prepare_dims_and_coords,
        _wrap_with_lock,
        make_user_data,
    )
    from pymc.initial_point import make_initial_point_fn

    initial_point = make_initial_point_fn(
        model=model,
        default_strategy="support_point",
        jitter_rvs=set(model.free_RVs),
        return_transformed=True,
    )
    (
        n_dim,
        n_expanded,
        logp_fn,
        expand_fn,
        initial_point_fn,
        shape_info,
        reparameterized_names,
    ) = _make_functions(
        model,
        mode="NUMBA",
        compute_grad=True,
        join_expanded=True,
        # Locked, as nutpie's own: its chain threads call it at once.
        pymc_initial_point_fn=_wrap_with_lock(initial_point),
        var_names=var_names,
    )
    # nutpie keys each data input by a random name; here the key is the input's own name
    # (unique in a model), so that the entry points' source, and their cache key, stay the
    # same from one process to the next.
    shared_data, shared_var_keys = {}, {}
    for var in [*logp_fn.get_shared(), *expand_fn.get_shared()]:
        if var in shared_var_keys:
            continue
        if var.name in shared_data:
            raise ValueError(f"data inputs must have unique names: {var.name}")
        value = np.array(var.get_value(), order="C", copy=True)
        value.flags.writeable = False
        shared_data[var.name], shared_var_keys[var] = value, var.name
    user_data = make_user_data(shared_var_keys, shared_data)
    logp_entry = entry_point("logp", logp_fn, n_dim, n_expanded, user_data)
    expand_entry = entry_point("expand", expand_fn, n_dim, n_expanded, user_data)
    dims, coords = _prepare_dims_and_coords(model, shape_info, reparameterized_names)
    return CompiledPyMCModel(
        _n_dim=n_dim,
        dims=dims,
        _coords=coords,
        _shapes={name: tuple(shape) for name, _, shape in zip(*shape_info, strict=True)},
        compiled_logp_func=logp_entry,
        compiled_expand_func=expand_entry,
        initial_point_func=initial_point_fn,
        shared_data=shared_data,
        shared_var_keys=shared_var_keys,
        user_data=user_data,
        n_expanded=n_expanded,
        shape_info=shape_info,
        logp_func=logp_fn,
        expand_func=expand_fn,
        reparameterized_names=reparameterized_names,
    )


def entry_points_cached(compiled) -> bool:
    """Whether both of a compiled model's entry points were loaded from the disk cache."""
    return all(
        getattr(entry, "_cache_hits", 0) > 0
        for entry in (compiled.compiled_logp_func, compiled.compiled_expand_func)
    )
