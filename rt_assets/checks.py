"""Asset checks of the rt code location."""

import dagster as dg

from rt_assets import assets, keys, publication
from rt_assets.partitions import date_partitions, date_state_partitions

# Each check declares its asset's partitions, so every evaluation is recorded against its
# date|state (or date) and the UI lists it under that partition, not under "Partition -".


def _partition(context: dg.AssetCheckExecutionContext) -> str:
    return str(context.partition_key)


def _latest_materialization(context: dg.AssetCheckExecutionContext, partition: str):
    """The materialization of rt/inference the check evaluates (as Dagster records it for
    an AssetCheckResult), so the UI shows the evaluation against it."""
    from resources.dagster_private import AssetCheckEvaluationTargetMaterializationData

    records = context.instance.fetch_materializations(
        dg.AssetRecordsFilter(asset_key=keys.INFERENCE, asset_partitions=[partition]), limit=1
    ).records
    if not records:
        return None
    return AssetCheckEvaluationTargetMaterializationData(
        run_id=records[0].run_id, storage_id=records[0].storage_id, timestamp=records[0].timestamp
    )


@dg.asset_check(
    asset=assets.inference,
    partitions_def=date_state_partitions,
    required_resource_keys={"io_manager"},
    description=(
        "Convergence of r_t under the gate of the fit's sampler preset: rt.live's (no "
        "divergent transitions, every r_hat at most 1.1), or for the `full` preset the "
        "stricter one (r_hat below 1.01, bulk and tail ESS above 400, no divergences). "
        "A fit that fails gets an empty summary and is left out of the publication; the "
        "failure is an ERROR that alerts. Not blocking: a backfill's run of several dates "
        'goes on with the others (docs/rt-pipeline.md, "Checks and promotion").'
    ),
)
def inference_converged(context: dg.AssetCheckExecutionContext):
    # One evaluation per partition of the run: one date|state, or a backfill's batch of
    # dates of one state. Each is recorded against its own partition.
    for key in context.partition_keys:
        yield _converged(context, str(key))
    yield dg.Output(None)  # the check op's own output, which Dagster requires


def _converged(context: dg.AssetCheckExecutionContext, partition: str) -> dg.AssetCheckEvaluation:
    # Read by path: a check's input would not be loaded for the run's partitions.
    inference = assets.load_stored(
        context.resources.io_manager, keys.INFERENCE, partition, "netcdf"
    )
    diag, preset_name, reasons = assets.fit_gate(inference)
    passed = not reasons
    return dg.AssetCheckEvaluation(
        asset_key=keys.INFERENCE,
        check_name="inference_converged",
        partition=partition,
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{partition}: converged"
            if passed
            else f"{partition}: not converged ({preset_name or 'unknown'} preset's gate): "
            + "; ".join(reasons)
        ),
        metadata={**assets.convergence_metadata(diag), "preset": preset_name},
        target_materialization_data=_latest_materialization(context, partition),
    )


@dg.asset_check(
    asset=assets.staged_msgpack,
    partitions_def=date_partitions,
    required_resource_keys={"io_manager", "rt_staging_policy"},
    description=(
        "Compares each state's latest Rt with the previous day's publication: warns when it "
        "moved more than rt_staging_policy.max_rt_change (default 0.2) or crossed 1.0 with "
        "high confidence (yesterday's mean on one side, today's 80% interval on the other). "
        "Promotion refuses to run while warnings stand unless approved."
    ),
)
def staged_vs_previous(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    run_date = _partition(context)
    staged_msgpack = assets.load_stored(
        context.resources.io_manager, keys.STAGED_MSGPACK, run_date, "msgpack"
    )
    previous = assets.previous_publication(context.resources.io_manager, run_date)
    threshold = context.resources.rt_staging_policy.max_rt_change
    warnings = publication.compare_with_previous(staged_msgpack, previous, threshold)
    table = publication.warnings_table(warnings)
    return dg.AssetCheckResult(
        passed=not warnings,
        severity=dg.AssetCheckSeverity.WARN,
        description=(
            f"{run_date}: no previous publication to compare with"
            if previous is None
            else f"{run_date}: {len(warnings)} warning(s) against the previous publication "
            f"({previous['run_date']})"
        ),
        metadata={
            "warnings": len(warnings),
            "threshold": threshold,
            "previous_run_date": previous["run_date"] if previous else "",
            "details": dg.MetadataValue.md(table.to_markdown(index=False) if warnings else "none"),
        },
    )
