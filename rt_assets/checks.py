"""Asset checks of the rt code location."""

import dagster as dg

from rt_assets import assets, keys, publication
from rt_assets.model import PRESETS, convergence, gate
from rt_assets.partitions import date_partitions, date_state_partitions

# Each check declares its asset's partitions, so every evaluation is recorded against its
# date|state (or date) and the UI lists it under that partition, not under "Partition -".


def _partition(context: dg.AssetCheckExecutionContext) -> str:
    return str(context.partition_key)


@dg.asset_check(
    asset=assets.inference,
    partitions_def=date_state_partitions,
    blocking=True,
    required_resource_keys={"io_manager"},
    description=(
        "Convergence of r_t under the gate of the fit's sampler preset: rt.live's (no "
        "divergent transitions, every r_hat at most 1.1), or for the `full` preset the "
        "stricter one (r_hat below 1.01, bulk and tail ESS above 400, no divergences). "
        "Blocking: a state that fails gets no summary and is left out of the publication."
    ),
)
def inference_converged(context: dg.AssetCheckExecutionContext) -> dg.AssetCheckResult:
    # Read by path: a check's input would not be loaded for the run's partition.
    partition = _partition(context)
    inference = assets.load_stored(
        context.resources.io_manager, keys.INFERENCE, partition, "netcdf"
    )
    diag = convergence(inference)
    preset_name = str(inference.posterior.attrs.get("preset", ""))
    # A fit from an unknown or older preset is held to rt.live's gate.
    reasons = gate(diag, PRESETS.get(preset_name, PRESETS["rtlive"]))
    passed = not reasons
    return dg.AssetCheckResult(
        passed=passed,
        severity=dg.AssetCheckSeverity.ERROR,
        description=(
            f"{partition}: converged"
            if passed
            else f"{partition}: not converged ({preset_name or 'unknown'} preset's gate): "
            + "; ".join(reasons)
        ),
        metadata={**assets.convergence_metadata(diag), "preset": preset_name},
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
