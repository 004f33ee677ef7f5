"""Issue 14's control for the renewal Op: a windowed `scan` (numba), cost per logp+gradient.

The custom Op (``rt_assets.model.kernels``) earns its keep only if the library
formulation a maintainer would write first is clearly slower. That formulation is a
``pytensor.scan`` over the days whose step convolves the last 19 days (the generation
window), compiled with the numba backend. It is written two ways: ``window_buf`` carries
the last 19 days of infections as a vector (the default control), ``window_taps`` uses
scan's own lags (19 taps on Rt and on the output; left out unless asked for with
``--only``: slow to compile). rt.live's formulation (a ``scan`` over the whole history,
``benchmarks/_rtlive.py``) runs alongside as the old baseline. Each scan is compiled with
numba and with PyTensor's default C backend.

Per state, each formulation is the product's model (unpadded) with only the renewal
swapped; ``op_library`` keeps the Op but computes the delay and the likelihood with the
library (``convolve1d``, PyMC's ``NegativeBinomial``), as the product did before they became
kernels, so its ratio is what those two kernels buy. All
are compiled as nutpie sees them (one function of the flattened free variables returning
the log density and its gradient), checked to give the same log density and gradient at
the same point (``np.allclose``), then timed in one process, round-robin: rounds of many
calls, the median per-call cost over the rounds, and its ratio to the Op's. Compile time is
the function's construction plus its first call (numba compiles lazily), with the disk
caches (PyTensor's compiledir, numba's cache) as the process finds them.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
import pymc as pm
import pytensor
import pytensor.tensor as pt
from pymc.pytensorf import join_nonshared_inputs

from benchmarks import _data, _rtlive
from rt_assets import model as m

OUT = Path(__file__).parent / "out"
STATES = ("VT", "CA")  # as benchmarks/inference.py: a small and a large state
# The generation time puts zero weight on day 0, so each day draws on the 19 before it.
WINDOW = m.GENERATION_TIME_DAYS - 1
# The Op wins "clearly" if the windowed scan (window_buf, numba) costs at least this many
# times as much per call on every state.
CLEAR_WIN = 2.0
MODES = {"numba": "NUMBA", "c": "FAST_RUN"}  # FAST_RUN: PyTensor's default, C thunks


def _tapped_step(*args):
    """One day: ``sum_k gt[k] * r[t-k] * y[t-k]`` over the window; scan passes r's 19
    lagged values, then y's, then the generation time reversed (``gt[19], ..., gt[1]``)."""
    r_past = pt.stack(args[:WINDOW])
    y_past = pt.stack(args[WINDOW : 2 * WINDOW])
    return pt.sum(args[-1] * r_past * y_past)


def tapped_renewal(r, seed, gt: np.ndarray):
    """The renewal with library pieces: ``scan`` with 19 taps on r and on its own output.

    Both start from 18 zero days, then ``y[0] = seed``, so day t sees ``r[t-k]``,
    ``y[t-k]`` for k = 19..1, zeros before day 0 (as the Op's ``min(t, 19)``).
    """
    if len(gt) - 1 != WINDOW:
        raise ValueError(f"generation time has {len(gt)} days, the window expects {WINDOW + 1}")
    taps = list(range(-WINDOW, 0))
    before = pt.zeros(WINDOW - 1)
    later = pytensor.scan(
        fn=_tapped_step,
        sequences=[{"input": pt.concatenate([before, r]), "taps": taps}],
        outputs_info=[{"initial": pt.concatenate([before, seed]), "taps": taps}],
        non_sequences=[pt.constant(gt[:0:-1])],
        n_steps=r.shape[0] - 1,
        return_updates=False,
    )
    return pt.concatenate([seed, later])


def _buffered_step(r_window, y_window, gt_back):
    """One day from the last 19 days' infections (carried) and Rt (a row of the windows)."""
    y_t = pt.sum(gt_back * r_window * y_window)
    return pt.concatenate([y_window[1:], y_t[None]])


def buffered_renewal(r, seed, gt: np.ndarray, n: int):
    """The same scan written with vectors: it carries the last 19 days of infections and
    reads Rt's 19-day windows as rows of one gathered (n-1) x 19 matrix."""
    before = pt.zeros(WINDOW - 1)
    rows = np.arange(n - 1)[:, None] + np.arange(WINDOW)[None, :]
    windows = pytensor.scan(
        fn=_buffered_step,
        sequences=[pt.concatenate([before, r])[rows]],
        outputs_info=[pt.concatenate([before, seed])],
        non_sequences=[pt.constant(gt[:0:-1])],
        return_updates=False,
    )
    return pt.concatenate([seed, windows[:, -1]])


def _build_with(renewal_of, library: bool = False) -> callable:
    def build(observed: pd.DataFrame) -> pm.Model:
        data = m.prepare(observed)
        with pm.Model(coords=m.model_coords(data)) as model:
            r_t = m.centred_log_rt_walk()
            seed = pm.Exponential("seed", lam=m.SEED_LAM)
            infections = pm.Deterministic(
                "infections", renewal_of(r_t, seed[None], len(data.dates)), dims="date"
            )
            m.observation_model(data, infections, m.load_p_delay(), library=library)
        return model

    build.__doc__ = "The product's model (``rt_assets.model.build``), renewal swapped."
    return build


build_tapped_scan = _build_with(lambda r, s, n: tapped_renewal(r, s, m.generation_time()))
build_buffered_scan = _build_with(lambda r, s, n: buffered_renewal(r, s, m.generation_time(), n))


# The product's model, unpadded (the scans' length), and the same with the library's delay
# (convolve1d) and PyMC's NegativeBinomial: the product's model before the delay and the
# likelihood became kernels too.
def _op_renewal(r, seed, n):
    return m.renewal(r, seed, pt.constant(m.generation_time()))


build_op = _build_with(_op_renewal)
build_op_library = _build_with(_op_renewal, library=True)


# name -> (model builder, PyTensor backends to compile it with)
FORMULATIONS = {
    "op": (build_op, ("numba",)),  # the product; nutpie compiles it with numba
    "op_library": (build_op_library, ("numba",)),
    "window_buf": (build_buffered_scan, ("numba", "c")),
    "window_taps": (build_tapped_scan, ("numba", "c")),
    "rtlive_scan": (_rtlive.build_scan_centred, ("numba", "c")),
}
# What runs without --only: window_taps is left out, its numba compile alone took
# 352 s on VT (benchmarks/results/2026-12-02-renewal-control.md).
DEFAULT = (
    "op/numba",
    "op_library/numba",
    "window_buf/numba",
    "window_buf/c",
    "rtlive_scan/numba",
    "rtlive_scan/c",
)


@dataclass(eq=False)
class Compiled:
    name: str
    backend: str
    fn: object
    x: np.ndarray
    compile_s: float


def evaluation_point(model: pm.Model, seed: int = 14) -> np.ndarray:
    """The initial point moved a little (seeded), in the order of ``model.value_vars``;
    the same vector for every formulation, since they share their free variables."""
    point = model.initial_point()
    flat = np.concatenate([np.ravel(point[v.name]) for v in model.value_vars])
    return flat + np.random.default_rng(seed).normal(0.0, 0.05, size=flat.size)


def compile_logp_dlogp(model: pm.Model, mode: str):
    """One function of the flattened free variables: (log density, gradient), as nutpie."""
    outputs, joined = join_nonshared_inputs(
        model.initial_point(), [model.logp(), model.dlogp()], model.value_vars
    )
    return pytensor.function([joined], outputs, mode=mode, trust_input=True)


def compile_all(observed: pd.DataFrame, only: set[str]) -> list[Compiled]:
    out = []
    for name, (builder, backends) in FORMULATIONS.items():
        model = builder(observed)
        x = evaluation_point(model)
        for backend in backends:
            if f"{name}/{backend}" not in only:
                continue
            started = time.perf_counter()
            fn = compile_logp_dlogp(model, MODES[backend])
            built = time.perf_counter()
            fn(x)
            compile_s = time.perf_counter() - started
            print(
                f"    {name}/{backend}: compiled in {compile_s:.1f} s "
                f"(first call {time.perf_counter() - built:.1f} s)",
                flush=True,
            )
            out.append(Compiled(name, backend, fn, x, compile_s))
    return out


def agreement(compiled: list[Compiled], reference: Compiled) -> dict[str, bool]:
    """Whether each formulation's log density and gradient equal the reference's."""
    logp_ref, grad_ref = reference.fn(reference.x)
    same = {}
    for c in compiled:
        if not np.array_equal(c.x, reference.x):
            raise AssertionError(f"{c.name}: free variables differ from the Op model's")
        logp, grad = c.fn(c.x)
        same[f"{c.name}/{c.backend}"] = bool(
            np.allclose(logp, logp_ref, rtol=1e-9) and np.allclose(grad, grad_ref, rtol=1e-7)
        )
    return same


def time_per_call(compiled: list[Compiled], rounds: int, round_s: float) -> dict[str, float]:
    """Median seconds per call over ``rounds`` rounds, the formulations taking turns within
    each round so that load from elsewhere falls on all of them alike."""
    calls = {}
    for c in compiled:  # calibrate: calls per round so that a round lasts about round_s
        started = time.perf_counter()
        c.fn(c.x)
        c.fn(c.x)
        calls[c] = max(3, int(round_s / max((time.perf_counter() - started) / 2, 1e-7)))
    samples = {c: [] for c in compiled}
    for _ in range(rounds):
        for c in compiled:
            fn, x, n = c.fn, c.x, calls[c]
            started = time.perf_counter()
            for _ in range(n):
                fn(x)
            samples[c].append((time.perf_counter() - started) / n)
    return {f"{c.name}/{c.backend}": float(np.median(samples[c])) for c in compiled}


def run_state(region: str, rounds: int, round_s: float, only: set[str]) -> list[dict]:
    observed = _data.observed(region)
    print(f"  {region}: compiling ...", flush=True)
    compiled = compile_all(observed, only)
    reference = next(c for c in compiled if c.name == "op")
    same = agreement(compiled, reference)
    per_call = time_per_call(compiled, rounds, round_s)
    load = os.getloadavg()[0]
    op_s = per_call["op/numba"]
    days = len(m.prepare(observed).dates)
    return [
        {
            "region": region,
            "days": days,
            "formulation": c.name,
            "backend": c.backend,
            "per_call_us": per_call[f"{c.name}/{c.backend}"] * 1e6,
            "ratio_to_op": per_call[f"{c.name}/{c.backend}"] / op_s,
            "compile_s": c.compile_s,
            "same_as_op": same[f"{c.name}/{c.backend}"],
            "load_avg": load,
        }
        for c in compiled
    ]


def table(rows: list[dict]) -> str:
    head = (
        f"{'state':<5} {'days':>4} {'formulation':<12} {'backend':<7} {'µs/call':>9} "
        f"{'x Op':>7} {'compile s':>9} {'same':>5} {'load':>5}"
    )
    out = [head, "-" * len(head)]
    for r in rows:
        out.append(
            f"{r['region']:<5} {r['days']:>4} {r['formulation']:<12} {r['backend']:<7} "
            f"{r['per_call_us']:>9.1f} {r['ratio_to_op']:>7.1f} {r['compile_s']:>9.1f} "
            f"{str(r['same_as_op']):>5} {r['load_avg']:>5.1f}"
        )
    return "\n".join(out)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks renewal_control", description=__doc__
    )
    parser.add_argument("--states", default=",".join(STATES))
    parser.add_argument("--rounds", type=int, default=7, help="timing rounds (median taken)")
    parser.add_argument("--round-seconds", type=float, default=0.5, help="length of a round")
    parser.add_argument(
        "--only",
        default=",".join(DEFAULT),
        help="NAME/BACKEND,... to run (op/numba always); names: " + ", ".join(FORMULATIONS),
    )
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)

    only = set(args.only.split(",")) | {"op/numba"}
    rows = []
    for region in args.states.split(","):
        rows += run_state(region, args.rounds, args.round_seconds, only)
        print(table(rows), flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "renewal_control.json").write_text(json.dumps(rows, indent=1))
    print(f"\n{table(rows)}")
    window = [r for r in rows if (r["formulation"], r["backend"]) == ("window_buf", "numba")]
    if window:
        wins = all(r["ratio_to_op"] >= CLEAR_WIN for r in window)
        print(
            f"the Op wins clearly (windowed scan, numba, >= {CLEAR_WIN:g}x its cost on every "
            f"state): {'yes' if wins else 'NO'}"
        )
    return 0 if all(r["same_as_op"] for r in rows) else 1
