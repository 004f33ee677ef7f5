"""Jobs of the rt code location: one asset job per phase (each phase has one partitioning).

Assets with different partitions cannot share a run, so the daily pipeline is
three jobs; ``rt_assets.pipeline.run_daily`` runs them in order for one date. Each
job's assets are its phase's, derived from the asset graph (rt_assets/phases.py);
its partitions are its assets' (Dagster infers them from the selection).
"""

import dagster as dg

from rt_assets.phases import DAILY_PHASES, DailyPhases

# Each phase's job: name and description.
_JOBS = {
    "counts": (
        "rt_counts_job",
        "Phase 1 for a run date: fetch and keep the source's snapshot of the date (run for "
        "the day's first state; every state is sliced from it).",
    ),
    "state": (
        "rt_inference_job",
        "Phase 2 for one date|state: the state's counts, the model, its convergence check, "
        "the summary.",
    ),
    "publish": (
        "rt_publication_job",
        "Phase 3 for a run date: national CSV, staged msgpack, promotion, web page.",
    ),
}


def phase_jobs(phases: DailyPhases) -> dict:
    """The job of each phase of ``phases``, by phase name."""
    return {
        phase: dg.define_asset_job(name, selection=phases.selection(phase), description=text)
        for phase, (name, text) in _JOBS.items()
    }


PHASE_JOBS = phase_jobs(DAILY_PHASES)
rt_counts_job = PHASE_JOBS["counts"]
rt_inference_job = PHASE_JOBS["state"]
rt_publication_job = PHASE_JOBS["publish"]
COUNTS = rt_counts_job.selection
INFERENCE = rt_inference_job.selection
PUBLICATION = rt_publication_job.selection

JOBS: list = [rt_counts_job, rt_inference_job, rt_publication_job]
