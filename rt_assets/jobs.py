"""Jobs of the rt code location: one asset job per phase (each phase has one partitioning).

Assets with different partitions cannot share a run, so the daily pipeline is
three jobs; ``rt_assets.pipeline.run_daily`` runs them in order for one date. Each
job's partitions are its assets' (Dagster infers them from the selection).
"""

import dagster as dg

COUNTS = dg.AssetSelection.assets(["rt", "raw_counts"], ["rt", "processed_counts"])
INFERENCE = dg.AssetSelection.assets(["rt", "inference"], ["rt", "summary"])
PUBLICATION = dg.AssetSelection.assets(
    ["rt", "national_csv"],
    ["rt", "staged_msgpack"],
    ["rt", "published_msgpack"],
    ["rt", "published_csv"],
    ["rt", "site"],
)

rt_counts_job = dg.define_asset_job(
    "rt_counts_job",
    selection=COUNTS,
    description="Phase 1 for a run date: snapshot the source and correct the counts.",
)
rt_inference_job = dg.define_asset_job(
    "rt_inference_job",
    selection=INFERENCE,
    description="Phase 2 for one date|state: sample the model, check convergence, summarise.",
)
rt_publication_job = dg.define_asset_job(
    "rt_publication_job",
    selection=PUBLICATION,
    description="Phase 3 for a run date: national CSV, staged msgpack, promotion, web page.",
)

JOBS: list = [rt_counts_job, rt_inference_job, rt_publication_job]
