"""One fit in its own process, so wall time and peak memory belong to it alone.

``python -m benchmarks._child VARIANT REGION PRESET SEED OUT_DIR [RUN_DATE]`` writes
``OUT_DIR/<variant>-<region>.nc`` (r_t posterior and sampler stats) and prints one JSON
line: timings (build+compile, sampling, total), peak RSS, and convergence of r_t.
"""

import json
import logging
import os
import resource
import sys
import time
from pathlib import Path


def run(variant: str, region: str, preset_name: str, seed: int, out_dir: Path, run_date: str):
    started = time.perf_counter()
    import pymc as pm
    import xarray as xr

    from benchmarks import _data, _rtlive
    from resources.settings import sampler_cores
    from rt_assets import model as m
    from rt_assets.logs import quiet_model_compilation

    quiet_model_compilation()

    preset = m.get_preset(preset_name)
    observed = _data.observed(region, run_date)
    builder_name, sampler = _rtlive.VARIANTS[variant]
    loaded = time.perf_counter()
    if variant == "product":
        idata = m.fit(observed, preset, seed=seed, region=region, cores=sampler_cores() or None)
        sampling_s = float(idata.posterior.attrs["sampling_seconds"])
    else:
        model = _rtlive.BUILDERS[builder_name](observed)
        if sampler == "pymc":
            with model:
                t0 = time.perf_counter()
                idata = pm.sample(
                    draws=preset.draws,
                    tune=preset.tune,
                    chains=preset.chains,
                    # rt.live asked for cores=4; PyMC's own default here would be 1 (it
                    # halves the CPU count for hyper-threads), so give it every CPU.
                    cores=min(preset.chains, os.cpu_count() or 1),
                    target_accept=preset.target_accept,
                    random_seed=seed,
                    progressbar=False,
                    compute_convergence_checks=False,
                    var_names=["r_t", "seed", "alpha"],
                )
                # PyMC compiles inside pm.sample; its sampling time is what it reports.
                sampling_s = float(idata.sample_stats.attrs.get("sampling_time", 0.0)) or (
                    time.perf_counter() - t0
                )
        else:
            import nutpie

            compiled = nutpie.compile_pymc_model(model, backend="numba")
            t0 = time.perf_counter()
            idata = nutpie.sample(
                compiled,
                draws=preset.draws,
                tune=preset.tune,
                chains=preset.chains,
                cores=preset.cores or preset.chains,
                seed=seed,
                target_accept=preset.target_accept,
                save_warmup=False,
                progress_bar=False,
            )
            sampling_s = time.perf_counter() - t0
    done = time.perf_counter()
    diag = m.convergence(idata)
    slim = xr.DataTree.from_dict(
        {
            "posterior": idata.posterior.to_dataset()[["r_t"]],
            "sample_stats": idata.sample_stats.to_dataset()[["diverging"]],
        }
    )
    out_dir.mkdir(parents=True, exist_ok=True)
    slim.to_netcdf(out_dir / f"{variant}-{region}.nc")
    return {
        "variant": variant,
        "region": region,
        "preset": preset.name,
        "days": int(idata.posterior.sizes["date"]),
        "wall_s": done - loaded,
        "sampling_s": sampling_s,
        "compile_s": (done - loaded) - sampling_s,
        "process_s": time.perf_counter() - started,
        # PyMC runs chains in worker processes: count the largest child too.
        "peak_rss_mib": (
            resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
            + resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        )
        / 1024,
        # 1-minute load average when the fit ended: other work sharing the machine.
        "load_avg": os.getloadavg()[0],
        **diag,
    }


if __name__ == "__main__":
    logging.basicConfig(level=logging.INFO)
    variant, region, preset_name, seed, out_dir = sys.argv[1:6]
    run_date = sys.argv[6] if len(sys.argv) > 6 else "2021-03-07"
    result = run(variant, region, preset_name, int(seed), Path(out_dir), run_date)
    print("RESULT " + json.dumps(result), flush=True)
