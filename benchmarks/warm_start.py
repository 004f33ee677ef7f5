"""Warm start (issue 14): start each chain from the previous date's posterior, tune less.

    uv run python -m benchmarks warm_start [--states VT,CA,NY,TX] [--run-date 2021-03-07]

Per state, the previous date (``--run-date`` minus one day) is fitted cold with the `full`
preset; its posterior is the warm start. Then the run date is fitted:

- ``cold, tune 300``: the product (`full` preset), the baseline;
- ``warm, tune T`` for each ``--tunes``: every chain starts at a random draw of the previous
  date's posterior (``log_r_t`` on the shared dates; the new day and the model's padded days
  continue it as a random walk of the prior's step size; ``seed`` and ``alpha`` of the same
  draw), then tunes ``T`` steps and draws 1000;
- ``cold, tune T`` for the shortest ``T``: the control, a shorter tuning alone.

Measured on the `full` preset before its Laplace coordinates: the model's own coordinates
(the identity whitening, ``z = x - laplace_mean``) with the low-rank mass matrix. nutpie
(0.16.8 to 0.16.11) takes a starting point (the compiled model's ``initial_point_func``) and no
starting mass matrix, so the warm start carries the position only; the mass matrix is
adapted from scratch. Prints per variant: sampling wall time, leapfrog steps (= gradient
evaluations) in tuning and in the draws, their total against the baseline's, the `full`
gate, and the same-answer check against the baseline (``same_answer.agreement``).
"""

import argparse
import dataclasses
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd

from benchmarks import _data
from benchmarks.same_answer import MEDIAN_SHARE, MEDIAN_TOLERANCE, agreement
from rt_assets import model as m
from rt_assets import summary
from rt_assets.logs import quiet_model_compilation
from rt_assets.model import sampling
from rt_assets.model.assumptions import RANDOM_WALK_SIGMA
from rt_assets.model.data import prepare
from rt_assets.model.generative import model_inputs, padded_length

quiet_model_compilation()  # this benchmark compiles the model in this process

RUN_BY_DEFAULT = False  # about 4 minutes per state
OUT = Path(__file__).parent / "out" / "warm_start"
STATES = "VT,CA,NY,TX"


def warm_points(previous, compiled, dates: pd.DatetimeIndex):
    """A starting-point function for ``compiled`` (nutpie's ``initial_point_func``): a random
    draw of ``previous`` (a tidy posterior of the same state) per chain; None when the
    previous series does not start on the same date (then the fit starts cold)."""
    post = previous.posterior
    known = pd.DatetimeIndex(post["date"].values)
    if len(known) > len(dates) or not (dates[: len(known)] == known).all():
        return None
    stack = {name: post[name].stack(s=("chain", "draw")) for name in ("log_r_t", "seed", "alpha")}
    log_r_t = stack["log_r_t"].transpose("s", "date").values
    values = {
        "seed_log__": np.log(stack["seed"].values),
        "alpha_log__": np.log(stack["alpha"].values),
    }
    length = compiled.shapes["log_r_t"][0]
    # The template's free variables, in order; the sampler's coordinates are
    # z = x - laplace_mean with the identity whitening this benchmark samples in.
    names = [name for name, _ in m.free_sizes(m.template(length))]
    origin = np.asarray(sampling._origin(compiled), dtype=float)

    def start(seed=None) -> np.ndarray:
        rng = np.random.default_rng(seed)
        i = rng.integers(log_r_t.shape[0])
        # The days after the previous date (and the padding) continue the walk from the prior:
        # with no data on them, equal values would leave their gradient exactly 0.
        tail = log_r_t[i, -1] + rng.normal(0.0, RANDOM_WALK_SIGMA, length - len(known)).cumsum()
        parts = {"log_r_t": np.concatenate([log_r_t[i], tail])}
        parts.update({name: np.atleast_1d(v[i]) for name, v in values.items()})
        return np.concatenate([parts[name] for name in names]).astype(float) - origin

    return start


def sample(observed: pd.DataFrame, seed: int, tune: int, previous=None) -> tuple:
    import nutpie

    data = prepare(observed)
    compiled = sampling.compiled_model(padded_length(len(data.dates))).with_data(
        **model_inputs(data)
    )
    warm = (
        previous is not None and (start := warm_points(previous, compiled, data.dates)) is not None
    )
    if warm:
        compiled = dataclasses.replace(compiled, initial_point_func=start)
    full = m.get_preset("full")
    started = time.perf_counter()
    raw = nutpie.sample(
        compiled, **{**m.nutpie_settings(full), "tune": tune, "draws": 1000}, cores=full.chains,
        seed=seed,
        save_warmup=True, progress_bar=False,
    )  # fmt: skip
    wall = time.perf_counter() - started
    idata = sampling._tidy(raw, data)
    steps = {
        "tune_steps": int(raw.warmup_sample_stats["n_steps"].sum()),
        "draw_steps": int(raw.sample_stats["n_steps"].sum()),
    }
    return idata, {"sampling_s": round(wall, 1), "warm": warm, **steps}


def run_state(state: str, run_date: str, tunes: list[int]) -> list[dict]:
    previous_date = str((pd.Timestamp(run_date) - pd.Timedelta(days=1)).date())
    previous, info = sample(
        _data.observed(state, previous_date), m.rt_seed(previous_date, state), 300
    )
    print(
        f"{state}: previous date {previous_date} fitted cold in {info['sampling_s']} s", flush=True
    )
    observed, seed = _data.observed(state, run_date), m.rt_seed(run_date, state)
    counts = _data.processed(run_date)
    variants = [("cold", 300)] + [("warm", t) for t in tunes] + [("cold", min(tunes))]
    rows, reference = [], None
    for start, tune in variants:
        idata, info = sample(observed, seed, tune, previous if start == "warm" else None)
        frame = summary.summarize(idata, counts, state)
        reference = frame if reference is None else reference
        same = agreement(reference, frame)
        diag = m.convergence(idata)
        rows.append(
            {
                "state": state, "variant": _label(start, tune, info["warm"]), **info,
                "total_steps": info["tune_steps"] + info["draw_steps"],
                "gate": m.gate(diag, "full"), **diag,
                "median_within": same["median_within"], "max_median_diff": same["max_median_diff"],
                "hdi_disjoint": len(same["hdi_disjoint_dates"]),
            }
        )  # fmt: skip
        print(_row(rows[-1], rows[0]), flush=True)
    return rows


def _label(start: str, tune: int, warm: bool) -> str:
    fallback = " (no previous posterior: cold)" if start == "warm" and not warm else ""
    return f"{start}, tune {tune}{fallback}"


HEADER = (
    "| state | start, tuning | sampling s | leapfrog steps: tuning / draws | total vs cold 300 "
    "| max r_hat | min ESS bulk / tail | gate | median within 0.02 | HDIs apart |\n"
    "|---|---|---:|---:|---:|---:|---:|---|---:|---:|"
)


def _row(r: dict, base: dict) -> str:
    same = r["median_within"] >= MEDIAN_SHARE and not r["hdi_disjoint"]
    return (
        f"| {r['state']} | {r['variant']} "
        f"| {r['sampling_s']:.1f} | {r['tune_steps']:,} / {r['draw_steps']:,} "
        f"| {r['total_steps'] / base['total_steps']:.2f}x | {r['max_rhat']:.4f} "
        f"| {r['min_ess_bulk']:.0f} / {r['min_ess_tail']:.0f} | {'; '.join(r['gate']) or 'pass'} "
        f"| {r['median_within']:.1%} (max {r['max_median_diff']:.3f}) "
        f"| {r['hdi_disjoint']}{'' if same else ' MISSED'} |"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks warm_start", description=__doc__)
    parser.add_argument("--states", default=STATES, help="comma-separated")
    parser.add_argument("--run-date", default=_data.RUN_DATE)
    parser.add_argument("--tunes", default="300,150,100", help="warm-start tuning lengths")
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    tunes = [int(t) for t in args.tunes.split(",")]
    print(
        f"same answer: median within {MEDIAN_TOLERANCE} on >= {MEDIAN_SHARE:.0%} of dates, "
        "no HDIs apart"
    )
    print(HEADER, flush=True)
    rows = []
    for state in args.states.split(","):
        rows += run_state(state.strip().upper(), args.run_date, tunes)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=1, default=str))
    print()
    print(HEADER)
    base = {}
    for r in rows:
        base.setdefault(r["state"], r)
        print(_row(r, base[r["state"]]))
    return 0


if __name__ == "__main__":
    import sys

    raise SystemExit(main(sys.argv[1:]))
