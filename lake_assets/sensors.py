"""Sensors of the lake code location.

- ``lake_landing``: watches ``<lake>/landing/`` (a local folder or an S3
  prefix, in the IO manager's lake: ``LakeIOManager.store()``) and starts
  bronze -> warehouse once per year with new or changed files (logic in landing.py).
- ``lake_freshness_checks``: evaluates freshness.py's checks.
- ``lake_check_alerts`` / ``lake_run_failure_alerts``: alerts.
"""

import dagster as dg

from lake_assets.freshness import FRESHNESS_CHECKS
from lake_assets.landing import (
    LANDING,
    LandedFile,
    dump_cursor,
    fingerprint,
    load_cursor,
    plan_landing,
)
from lake_assets.schedules import BRONZE, LAKE_CHAIN
from lake_assets.year_pieces import landed_files
from resources.alert_sensors import build_check_alert_sensor, build_run_failure_alert_sensor
from resources.io_manager import LakeIOManager


@dg.sensor(
    name="lake_landing",
    target=LAKE_CHAIN,
    minimum_interval_seconds=60,
    default_status=dg.DefaultSensorStatus.RUNNING,
    description=(
        "Starts bronze -> warehouse for a year when files for it land in `<LAKE_URL>/landing/` "
        "(`<year>-<MM>.csv` or `<year>.csv`, optionally gzip; new or changed; each version "
        "once; one run per year per tick)."
    ),
)
def lake_landing_sensor(
    context: dg.SensorEvaluationContext, io_manager: dg.ResourceParam[LakeIOManager]
):
    store = io_manager.store()
    folder = store.folder(LANDING)
    files = [LandedFile(name, fingerprint(info)) for name, info in landed_files(store).items()]
    partitions_def = context.repository_def.asset_graph.get(BRONZE).partitions_def
    known = set(partitions_def.get_partition_keys())
    plan = plan_landing(files, load_cursor(context.cursor), known)
    for name, why in plan.ignored:
        context.log.info(f"landing: ignoring {folder / name}: {why}")
    runs = []
    for run in plan.runs:
        names = [f.name for f in run.files]
        context.log.info(f"landing: {names} in {folder} -> lake year {run.year}")
        runs.append(
            dg.RunRequest(
                run_key=run.run_key,
                partition_key=run.year,
                tags={"lake/landing-file": run.label},
            )
        )
    return dg.SensorResult(
        run_requests=runs,
        cursor=dump_cursor(plan.seen),
        skip_reason=None if runs else f"no new or changed file in {folder}",
    )


lake_freshness_sensor = dg.build_sensor_for_freshness_checks(
    freshness_checks=FRESHNESS_CHECKS,
    name="lake_freshness_checks",
    minimum_interval_seconds=300,
    default_status=dg.DefaultSensorStatus.RUNNING,
)

SENSORS: list = [
    lake_landing_sensor,
    lake_freshness_sensor,
    build_check_alert_sensor("lake_check_alerts"),
    build_run_failure_alert_sensor("lake_run_failure_alerts"),
]
