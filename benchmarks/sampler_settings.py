"""What each nutpie setting buys: one state's model compiled once, sampled with each setting.

    uv run python -m benchmarks sampler_settings [--states VT,CA] [--run-date 2021-03-07]

The model is the product's, compiled as ``fit`` has it; only the sampler settings change, from
rt.live's (diagonal mass matrix, tune 700, target_accept 0.95) to the `full` preset as it
was until 2026-12-03 (low-rank mass matrix, tune 300, target_accept 0.9, 1000 draws, tree
depth at most 8, the model's own coordinates), then to the coordinates that whiten a
Laplace approximation (diagonal mass matrix, 1000 draws, then 1500: the `full` preset now).
Prints per setting:
sampling wall time, CPU time, mean leapfrog steps per draw, leapfrog steps in tuning and
in all (the CPU cost that does not depend on the machine's load), min bulk/tail ESS of
r_t, max r_hat, divergences, ESS/s of sampling and its ratio to the first row's.

``--adaptation`` instead starts from the `full` preset and changes one of nutpie's
adaptation settings at a time (mass matrix window lengths, step size adaptation,
regularisation, target_accept, the tree depth; ``--only`` picks some by name): measured
2026-12-03, the tree depth cap kept (docs/performance.md, "Sampler adaptation settings",
"Tree depth capped at 8").
"""

import argparse
import json
import resource
import time
from pathlib import Path

from benchmarks import _data
from rt_assets import model as m
from rt_assets.logs import quiet_model_compilation
from rt_assets.model import sampling
from rt_assets.model.data import prepare
from rt_assets.model.generative import model_inputs, padded_length
from rt_assets.model.presets import get_preset, nutpie_settings

quiet_model_compilation()  # this benchmark compiles the model in this process

RUN_BY_DEFAULT = False  # ~3 minutes per state; ~5 with --adaptation
OUT = Path(__file__).parent / "out"

# The `full` preset as nutpie takes it; the benchmark sets chains, cores and seed itself.
# LAPLACE: sample in the coordinates that whiten the state's Laplace approximation
# (``sampling.whiten``); without it, the model's own coordinates.
LAPLACE = "laplace"
_FULL = get_preset("full")
FULL = {k: v for k, v in nutpie_settings(_FULL, whitened=True).items() if k != "chains"}
FULL[LAPLACE] = True
# The `full` preset until 2026-12-03: the model's own coordinates, low-rank, 1000 draws.
FULL_OWN = {k: v for k, v in nutpie_settings(_FULL).items() if k != "chains"} | {"draws": 1000}
SETTINGS = {
    "rt.live's (diag, tune 700, draws 500, ta 0.95)": dict(tune=700, draws=500, target_accept=0.95),
    "+ low-rank mass matrix": dict(tune=700, draws=500, target_accept=0.95, adaptation="low_rank"),
    "+ target_accept 0.9": dict(tune=700, draws=500, target_accept=0.9, adaptation="low_rank"),
    "+ tune 300, draws 1000": dict(tune=300, draws=1000, target_accept=0.9, adaptation="low_rank"),
    "+ maxdepth 8 (= full until 2026-12-03)": FULL_OWN,
    "+ Laplace coordinates, diagonal mass matrix": FULL | {"draws": 1000},
    "+ draws 1500 (= full)": FULL,
}

# One adaptation setting changed at a time, from the `full` preset until 2026-12-03 (the
# model's own coordinates); "laplace full" is the preset now.
ADAPTATION = {
    "full": FULL_OWN,
    "laplace full": FULL,
    "mass_matrix_switch_freq 40": {**FULL_OWN, "mass_matrix_switch_freq": 40},
    "mass_matrix_switch_freq 160": {**FULL_OWN, "mass_matrix_switch_freq": 160},
    "early_window_switch_freq 5": {**FULL_OWN, "early_window_switch_freq": 5},
    "early_window_switch_freq 20": {**FULL_OWN, "early_window_switch_freq": 20},
    "step_size_adapt_method adam": {**FULL_OWN, "step_size_adapt_method": "adam"},
    "mass_matrix_gamma 1e-3": {**FULL_OWN, "mass_matrix_gamma": 1e-3},
    "target_accept 0.85": {**FULL_OWN, "target_accept": 0.85},
    "target_accept 0.8": {**FULL_OWN, "target_accept": 0.8},
    # The cap on the tree depth (docs/performance.md, "Tree depth capped at 8"): `full`
    # before 2026-12-03 was nutpie's default, depth 10.
    "maxdepth 10": {**FULL_OWN, "maxdepth": 10},
    "maxdepth 7": {**FULL_OWN, "maxdepth": 7},
    "maxdepth 7 + draws 1200": {**FULL_OWN, "maxdepth": 7, "draws": 1200},
    "maxdepth 6": {**FULL_OWN, "maxdepth": 6},
    "maxdepth 6 + target_accept 0.85": {**FULL_OWN, "maxdepth": 6, "target_accept": 0.85},
    "maxdepth 7 + target_accept 0.85 + draws 700": {
        **FULL_OWN,
        "maxdepth": 7,
        "target_accept": 0.85,
        "draws": 700,
    },
}


def _cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def run_state(region: str, run_date: str, seed: int, settings_by_name: dict) -> list[dict]:
    import nutpie

    # The model as the product samples it: compiled once for its padded length, the state's
    # data as inputs (rt_assets.model.sampling.fit).
    data = prepare(_data.observed(region, run_date))
    started = time.perf_counter()
    model = sampling.compiled_model(padded_length(len(data.dates)))
    own = model.with_data(**model_inputs(data))
    print(f"{region}: compiled in {time.perf_counter() - started:.1f} s", flush=True)
    started = time.perf_counter()
    whitening = sampling.whiten(model, model_inputs(data))
    laplace_s = time.perf_counter() - started
    print(f"{region}: Laplace approximation found: {whitening.found} ({laplace_s:.2f} s)")
    whitened = model.with_data(
        **model_inputs(data), **m.whitening_inputs(whitening.mean, whitening.scale)
    )
    rows = []
    for name, settings in settings_by_name.items():
        settings = dict(settings)
        compiled = whitened if settings.pop(LAPLACE, False) else own
        wall, cpu = time.perf_counter(), _cpu()
        idata = nutpie.sample(
            # Warm-up draws kept to count tuning's leapfrog steps (storing them is in the wall).
            compiled, chains=4, cores=4, seed=seed, save_warmup=True, progress_bar=False,
            **settings,
        )  # fmt: skip
        wall, cpu = time.perf_counter() - wall, _cpu() - cpu
        # The gate's view: the state's own days, without the padding after the last date.
        diag = m.convergence(sampling._tidy(idata, data))
        tune_steps = int(idata.warmup_sample_stats["n_steps"].sum())
        rows.append(
            {
                "region": region,
                "setting": name,
                "sampling_s": wall,
                "cpu_s": cpu,
                "steps_per_draw": float(idata.sample_stats["n_steps"].mean()),
                "tune_steps": tune_steps,
                "steps": tune_steps + int(idata.sample_stats["n_steps"].sum()),
                "ess_per_s": diag["min_ess_bulk"] / wall,
                **diag,
            }
        )
        print(_row(rows[-1], rows[0]), flush=True)
    return rows


def _row(r: dict, first: dict) -> str:
    return (
        f"| {r['region']} | {r['setting']} | {r['sampling_s']:.1f} | {r['cpu_s']:.1f} | "
        f"{r['steps_per_draw']:.0f} | {r['tune_steps']} | {r['steps']} | "
        f"{r['min_ess_bulk']:.0f} / {r['min_ess_tail']:.0f} | "
        f"{r['max_rhat']:.3f} | {r['divergences']} | {r['ess_per_s']:.0f} | "
        f"{r['ess_per_s'] / first['ess_per_s']:.1f} |"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks sampler_settings")
    parser.add_argument("--states", default="VT,CA")
    parser.add_argument("--run-date", default="2021-03-07")
    parser.add_argument("--seed", type=int, default=20210307)
    parser.add_argument(
        "--adaptation", action="store_true", help="the `full` preset and one change at a time"
    )
    parser.add_argument(
        "--only", default="", help="comma-separated setting names to run (default: all)"
    )
    args = parser.parse_args(argv)
    settings = ADAPTATION if args.adaptation else SETTINGS
    if args.only:
        wanted = [name.strip() for name in args.only.split(",")]
        unknown = sorted(set(wanted) - set(settings))
        if unknown:
            parser.error(f"unknown settings {unknown}; known: {sorted(settings)}")
        settings = {name: settings[name] for name in wanted}
    print(
        "| state | setting | sampling s | CPU s | steps/draw | tuning steps | steps | "
        "ESS bulk / tail | max r_hat | div | ESS/s | ratio |\n"
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
        flush=True,
    )
    rows = []
    for region in args.states.split(","):
        rows += run_state(region, args.run_date, args.seed, settings)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "sampler_settings.json").write_text(json.dumps(rows, indent=1))
    return 0
