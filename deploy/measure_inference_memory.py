"""Peak memory of one rt/inference step: sizes the high-memory node pool.

Runs, in a fresh child process per state, what the heavy step does: build the
observed series from the bundled COVID Tracking Project snapshot, fit the model
with the given preset (default ``full``), and serialise the posterior to netCDF
bytes as the lake IO manager does. The child's peak RSS comes from
``resource.getrusage(RUSAGE_CHILDREN).ru_maxrss`` after it exits, so imports,
numba compilation, sampling threads and the serialised copy are all counted.

    uv run python deploy/measure_inference_memory.py --preset full CA NY TX

Prints one line per state and a JSON summary; docs/production.md ("Sizing the
high-memory pool") explains how the Kubernetes request and limit follow from it. Dated
results: benchmarks/results/<date>-inference-memory.md.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

CHILD = r"""
import sys
from rt_assets import corrections, model, sources
from rt_assets.logs import quiet_model_compilation
from resources.io_manager import CODECS

state, preset, run_date = sys.argv[1], sys.argv[2], sys.argv[3]
# Exactly the step's inputs: the bundled snapshot, rt.live's corrections.
with open(sources.bundled_archive_path(), "rb") as fh:
    table = sources.read_source(fh.read(), name="bundled archive")
processed = corrections.process_counts(table, run_date)
observed = corrections.observed_for_model(processed, state)
seed = model.rt_seed(run_date, state)
quiet_model_compilation()
idata = model.fit(observed, preset=model.get_preset(preset), seed=seed, region=state)
blob = CODECS["netcdf"].dumps(idata)
print(f"days={len(observed)} netcdf_bytes={len(blob)}")
"""


RUN_DATE = "2021-03-07"  # the last date of the archive: the longest series


def measure(state: str, preset: str) -> dict:
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.perf_counter()
    proc = subprocess.run(  # noqa: S603 - fixed interpreter and code
        [sys.executable, "-c", CHILD, state, preset, RUN_DATE],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"{state}: child failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    # RUSAGE_CHILDREN's ru_maxrss is the largest of all waited-for children, in KiB on Linux.
    peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    if peak_kib <= before:
        raise RuntimeError(f"{state}: peak not above an earlier child's; measure one per run")
    last = proc.stdout.strip().splitlines()[-1]
    return {
        "state": state,
        "preset": preset,
        "peak_rss_mib": round(peak_kib / 1024, 1),
        "seconds": round(time.perf_counter() - started, 1),
        "detail": last,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("states", nargs="+")
    parser.add_argument("--preset", default="full")
    args = parser.parse_args()
    results = []
    for state in args.states:
        # One subprocess of this script per state: RUSAGE_CHILDREN keeps the maximum
        # over all children, so a second child here could not report a smaller peak.
        proc = subprocess.run(  # noqa: S603
            [sys.executable, __file__, "--one", state, args.preset],
            capture_output=True,
            text=True,
            check=False,
        )
        if proc.returncode != 0:
            sys.exit(f"{state}: measurement failed\n{proc.stderr[-3000:]}")
        result = json.loads(proc.stdout.strip().splitlines()[-1])
        peak, seconds = result["peak_rss_mib"], result["seconds"]
        print(f"{state}: peak RSS {peak} MiB in {seconds} s", flush=True)
        results.append(result)
    print(json.dumps(results))


if __name__ == "__main__":
    if len(sys.argv) == 4 and sys.argv[1] == "--one":
        print(json.dumps(measure(sys.argv[2], sys.argv[3])))
    else:
        main()
