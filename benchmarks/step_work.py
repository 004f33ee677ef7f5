"""The per-state work around the sampler: convergence diagnostics and storing the posterior.

    uv run python -m benchmarks step_work [--states VT,CA,NY] [--run-date 2021-03-07]
                                          [--repeat 3] [--preset full]

Fits each state once with the `full` preset (run date 2021-03-07, ~370 days, 4 x 1000
draws), then times, on that posterior, what every state's inference step and its check
pay besides sampling, each against its baseline in the same run:

- the convergence diagnostics of r_t (rank-normalized split r_hat, bulk and tail ESS):
  ArviZ's ``rhat``/``ess``, one date at a time (the baseline), against the product's
  ``rt_assets.model.convergence`` (every date at once), checked to agree;
- storing the posterior as the lake's netCDF codec does: zlib-compressed (ArviZ's default,
  the baseline) against uncompressed (the product's), write and read, and the bytes.

Prints the best of ``--repeat`` times of each and the ratios.
"""

import argparse
import time

import arviz as az
import numpy as np
import xarray as xr

from benchmarks import _data
from resources.io_manager import CODECS, _netcdf_dumps
from rt_assets import model as m
from rt_assets.logs import quiet_model_compilation
from rt_assets.model.diagnostics import TAIL_QUANTILES

quiet_model_compilation()

RUN_BY_DEFAULT = False  # about 1 minute per state


def _best(fn, repeat: int) -> tuple[float, object]:
    best, out = float("inf"), None
    for _ in range(repeat):
        started = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - started)
    return best, out


def _arviz_convergence(idata: xr.DataTree) -> dict:
    sub = idata.posterior.to_dataset()[["r_t"]]
    return {
        "max_rhat": float(az.rhat(sub)["r_t"].max()),
        "min_ess_bulk": float(az.ess(sub, method="bulk")["r_t"].min()),
        "min_ess_tail": float(az.ess(sub, method="tail", prob=TAIL_QUANTILES)["r_t"].min()),
    }


def _netcdf(idata: xr.DataTree, compress: bool, repeat: int) -> tuple[float, float, int]:
    """The lake codec's write (with or without zlib) and read of ``idata``: seconds, bytes."""
    write, data = _best(lambda: _netcdf_dumps(idata, compress=compress), repeat)
    read, _ = _best(lambda: CODECS["netcdf"].loads(data), repeat)
    return write, read, len(data)


def run_state(region: str, run_date: str, repeat: int, preset: str = "full") -> str:
    idata = m.fit(_data.observed(region, run_date), preset, seed=m.rt_seed(run_date, region))
    old_s, old = _best(lambda: _arviz_convergence(idata), repeat)
    new_s, new = _best(lambda: m.convergence(idata), repeat)
    for key, value in old.items():
        if not np.isclose(new[key], value, rtol=1e-9):
            raise AssertionError(f"{region}: {key} {new[key]} (product) != {value} (ArviZ)")
    # The product's codec writes uncompressed; the baseline is the same codec with zlib.
    zw, zr, zbytes = _netcdf(idata, True, repeat)
    uw, ur, ubytes = _netcdf(idata, False, repeat)
    return (
        f"| {region} | {idata.posterior.sizes['date']} | {old_s:.2f} → {new_s:.2f} "
        f"({new_s / old_s:.2f}x) | {zw:.2f} → {uw:.2f} ({uw / zw:.2f}x) | "
        f"{zr:.2f} → {ur:.2f} ({ur / zr:.2f}x) | {zbytes / 1e6:.1f} → {ubytes / 1e6:.1f} |"
    )


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks step_work")
    parser.add_argument("--states", default="VT,CA,NY")
    parser.add_argument("--run-date", default="2021-03-07")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--preset", default="full", help="the fit's sampler preset")
    args = parser.parse_args(argv)
    print(
        "| state | dates | diagnostics s, ArviZ → product | write s, zlib → plain | "
        "read s, zlib → plain | MB, zlib → plain |\n|---|---|---|---|---|---|",
        flush=True,
    )
    for region in args.states.split(","):
        print(run_state(region, args.run_date, args.repeat, args.preset), flush=True)
    return 0
