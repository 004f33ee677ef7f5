"""The rt.live daily pipeline as assets (group ``rt``, key prefix ``rt``).

Bodies are thin: read inputs, call the pure modules (sources, corrections,
model, summary, publication), attach metadata, return. Storage is the lake IO
manager; docs/rt-pipeline.md ("Assets and where they are stored") has the paths.
"""

import contextlib
import gc
import hashlib
import json
from collections.abc import Callable
from typing import Any

import dagster as dg
import pandas as pd
import xarray as xr
from pydantic import Field

from resources.io_manager import (
    CODECS,
    LAKE_FORMAT_KEY,
    LakeIOManager,
    lake_format,
    link,
)
from resources.k8s import HEAVY, LIGHT, step_tags
from resources.malloc import fix_mmap_threshold
from resources.retries import NETWORK, POD_LOSS, retry_policy
from resources.settings import sampler_cores, sampler_preset_name
from rt_assets import corrections, keys, msgpack_format, publication, sources, summary
from rt_assets.logs import quiet_model_compilation
from rt_assets.model import (
    MODEL_VERSION,
    PRESETS,
    SamplerPreset,
    convergence,
    fit,
    gate,
    get_preset,
    peak_rss_mib,
    rt_seed,
)
from rt_assets.partitions import (
    by_date,
    date_and_state,
    date_partitions,
    date_state_partitions,
    state_backfill_policy,
)

GROUP = "rt"
OWNERS = ["team:rt"]

# This module is where a process that fits the model loads it (code server, step worker).
quiet_model_compilation()
fix_mmap_threshold()


class RtStagingPolicy(dg.ConfigurableResource):
    """How far a state's latest Rt may move from yesterday's publication without a warning."""

    max_rt_change: float = publication.DEFAULT_MAX_CHANGE


class RtSampler(dg.ConfigurableResource):
    """The sampler settings of rt/inference: a named preset and the threads one fit may use.

    Defaults: `RT_SAMPLER_PRESET` (default fast) and `RT_SAMPLER_CORES` (default 0, one
    thread per chain), read when the resource is built; a run's config may override them.
    """

    preset: str = Field(
        default_factory=sampler_preset_name,
        description=f"sampler preset: {', '.join(sorted(PRESETS))}",
    )
    cores: int = Field(
        default_factory=sampler_cores,
        description="threads for one fit's chains; 0 is one per chain (the result is the same)",
    )

    def sampler_preset(self) -> SamplerPreset:
        try:
            return get_preset(self.preset)
        except ValueError as exc:
            raise dg.Failure(
                description=f"rt_sampler.preset (RT_SAMPLER_PRESET): {exc}", allow_retries=False
            ) from None


def _lake(context: dg.AssetExecutionContext | dg.AssetCheckExecutionContext) -> LakeIOManager:
    manager = context.resources.io_manager
    if not isinstance(manager, LakeIOManager):
        raise dg.Failure(f"rt assets need the lake IO manager, got {type(manager).__name__}")
    return manager


SUMMARY_PREVIEW = ["date", "mean", "lower_80", "upper_80", "positive", "tests"]


def convergence_metadata(diag: dict) -> dict[str, float | int]:
    """``model.convergence``'s numbers as metadata, rounded to what a person reads: numbers,
    so the UI plots them across materializations."""
    return {
        "max_rhat": round(float(diag["max_rhat"]), 3),
        "min_ess_bulk": round(float(diag["min_ess_bulk"])),
        "min_ess_tail": round(float(diag["min_ess_tail"])),
        "divergences": int(diag["divergences"]),
        "chains": int(diag["chains"]),
        "draws": int(diag["draws"]),
    }


def _md_table(df: pd.DataFrame, rows: int = 10) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False))


def each_partition(
    context: dg.AssetExecutionContext,
    one: Callable[..., tuple[Any, dict]],
    **inputs: Any,
) -> Any:
    """``one(partition_key, **inputs)`` for each partition of the step, with its metadata.

    A step has one ``date|state`` partition, or, in a backfill, a batch of up to
    ``BACKFILL_PARTITIONS_PER_RUN`` (dates of one state, or states of one date:
    ``state_backfill_policy``). Then each input is a dict
    by partition key, each result's metadata goes to its own partition's materialization,
    and the step returns a dict by partition key (the lake IO manager stores each at its
    own path). ``one`` returns (value, metadata). The date|state assets' inputs and
    outputs are typed ``Any`` for this: one value or a dict of them (Dagster types do not
    take unions).
    """
    partition_keys = [str(k) for k in context.partition_keys]
    if len(partition_keys) == 1:
        value, metadata = one(partition_keys[0], **inputs)
        context.add_output_metadata(metadata)
        return value
    lake, fmt = _lake(context), context.assets_def.metadata_by_key[context.asset_key]
    values = {}
    for i, key in enumerate(partition_keys, 1):
        context.log.info(f"partition {i}/{len(partition_keys)} of this run: {key}")
        value, metadata = one(key, **{name: batch[key] for name, batch in inputs.items()})
        context.add_asset_metadata(metadata, partition_key=key)
        # Stored now, so the step holds one partition's value at a time.
        values[key] = lake.store_partition(context.asset_key, key, fmt[LAKE_FORMAT_KEY], value)
        del value
        # A fit leaves reference cycles holding tens of MiB that Python's collector (which
        # counts objects, not bytes) reaches late: collected after each partition, as
        # run_daily does after each state (docs/performance.md, "Several partitions per run").
        gc.collect()
    return values


@contextlib.contextmanager
def source_failures():
    """A source the run cannot use fails the step without retries, with its own message
    (a Failure shows the message itself in the UI, not a wrapped traceback)."""
    try:
        yield
    except sources.SourceError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from None


def day_snapshot(context: dg.AssetExecutionContext, run_date: str):
    """The run date's snapshot of the whole source, its origin, parsed table and coverage:
    the stored one (``<LAKE_URL>/rt/raw_counts/<date>.csv.gz``, kept once written), else
    fetched, checked and stored. Every state of the date is sliced from this one snapshot.
    A source that cannot serve the date is not stored: a later run fetches it again."""
    store = _lake(context).store()
    path = store.path(keys.RAW_COUNTS, run_date, "raw_csv_gz")
    stored = store.exists(path)
    if stored:
        data, origin = store.read_bytes(path), f"kept existing snapshot {path}"
    else:
        origin = sources.source_location()
        context.log.info(f"fetching COVID source {origin} for the snapshot of {run_date}")
        data = sources.gzip_bytes(sources.fetch_source(origin))
    with source_failures():
        table = sources.read_source(data, name=origin)
        cov = sources.check_run_date(table, run_date, name=origin)
    if not stored:
        store.write_bytes(path, data)
    return data, origin, table, cov


@dg.asset(
    key=keys.RAW_COUNTS,
    group_name=GROUP,
    partitions_def=date_state_partitions,
    backfill_policy=state_backfill_policy,
    owners=OWNERS,
    kinds={"csv"},
    code_version="2",
    op_tags=step_tags(LIGHT),
    required_resource_keys={"io_manager"},
    metadata={**lake_format("raw_csv_gz")},
    # Fetching the source and writing to the lake fail for passing reasons; bad
    # data raises a Failure that is not retried.
    retry_policy=retry_policy(NETWORK),
    description=(
        "One state's rows of the immutable snapshot of the COVID Tracking Project state "
        "history for the run date, as the source wrote them (gzip CSV), at "
        "`<LAKE_URL>/rt/raw_counts/<date>/<state>.csv.gz`. The whole day's snapshot is "
        "fetched once per date and kept at `<LAKE_URL>/rt/raw_counts/<date>.csv.gz`, never "
        "replaced; every state of the date is sliced from it. Source: COVID_SOURCE (path or "
        "URL), default the bundled final archive."
    ),
)
def raw_counts(context: dg.AssetExecutionContext) -> Any:
    return each_partition(context, lambda key: _raw_counts(context, key))


def _raw_counts(context: dg.AssetExecutionContext, partition_key: str) -> tuple[bytes, dict]:
    run_date, state = date_and_state(partition_key)
    data, origin, table, cov = day_snapshot(context, run_date)
    with source_failures():
        rows = sources.state_slice(data, state, name=origin)
    unknown = corrections.unknown_regions(sources.as_of(table, run_date))
    if unknown:
        context.log.warning(f"left out rows of unknown region codes (code: rows): {unknown}")
    context.log.info(f"{origin}: {len(table)} rows, {table.attrs['format']} format; {state}")
    return rows, (
        {
            "source": origin,
            "format": table.attrs["format"],
            "rows": int((table["region"] == state).sum()),
            "snapshot_rows": len(table),
            "regions": int(table["region"].nunique()),
            "covers": cov.describe(),
            "unknown_regions": dg.MetadataValue.json(unknown),
            "snapshot_sha256": dg.MetadataValue.text(hashlib.sha256(data).hexdigest()),
        }
    )


@dg.asset(
    key=keys.PROCESSED_COUNTS,
    ins={"raw_counts": dg.AssetIn(key=keys.RAW_COUNTS)},
    group_name=GROUP,
    partitions_def=date_state_partitions,
    backfill_policy=state_backfill_policy,
    owners=OWNERS,
    kinds={"pandas", "parquet"},
    code_version=f"2+corrections-{corrections.corrections_version()}",
    op_tags=step_tags(LIGHT),
    required_resource_keys={"io_manager"},
    metadata={**lake_format("parquet")},
    description=(
        "One state's daily positives and tests (totalTestResults) up to run date - 1, after "
        "rt.live's corrections (rt_assets/data/corrections.csv): negative changes clipped, "
        "data dumps removed, bad days and days with positives >= tests excluded. "
        "Stored at `<LAKE_URL>/rt/processed_counts/<date>/<state>.parquet`."
    ),
)
def processed_counts(context: dg.AssetExecutionContext, raw_counts: Any) -> Any:
    return each_partition(context, _processed_counts, raw_counts=raw_counts)


def _processed_counts(partition_key: str, raw_counts: bytes) -> tuple[pd.DataFrame, dict]:
    run_date, state = date_and_state(partition_key)
    name = f"{keys.RAW_COUNTS.to_user_string()} {partition_key}"
    with source_failures():
        table = sources.read_source(raw_counts, name=name)
    processed = corrections.process_counts(table, run_date)
    if processed.empty:
        raise dg.Failure(
            description=(
                f"{name}: no counts left for {state} after the corrections (dropped by "
                "corrections.csv, or fewer than two days before the run date)"
            ),
            allow_retries=False,
        )
    excluded = corrections.exclusion_summary(processed)
    return processed, (
        {
            "rows": len(processed),
            "last_date": str(processed["date"].max().date()),
            "excluded_days": int(processed["excluded"].sum()),
            "corrections_version": corrections.corrections_version(),
            "excluded_by_reason": _md_table(
                excluded.groupby("exclusion_reason", as_index=False)["days"].sum(), 40
            ),
            "preview": _md_table(processed.tail(5)),
        }
    )


@dg.asset(
    key=keys.INFERENCE,
    group_name=GROUP,
    partitions_def=date_state_partitions,
    backfill_policy=state_backfill_policy,
    ins={"processed_counts": dg.AssetIn(key=keys.PROCESSED_COUNTS)},
    owners=OWNERS,
    kinds={"pymc", "netcdf"},
    code_version=MODEL_VERSION,
    op_tags=step_tags(HEAVY),
    pool="rt_inference",
    required_resource_keys={"io_manager", "rt_sampler"},
    metadata={**lake_format("netcdf")},
    # An evicted or OOM-killed pod is retried; data the model cannot fit is not.
    retry_policy=retry_policy(POD_LOSS),
    description=(
        "Posterior of the rt.live generative model for one state and run date (ArviZ "
        "InferenceData with model version and preset in its attributes), sampled with the "
        "preset of the rt_sampler resource (default RT_SAMPLER_PRESET, else fast). Stored at "
        "`<LAKE_URL>/rt/inference/<date>/<state>.nc`."
    ),
)
def inference(context: dg.AssetExecutionContext, processed_counts: Any) -> Any:
    rt_sampler: RtSampler = context.resources.rt_sampler
    return each_partition(
        context,
        lambda key, processed_counts: _inference(context, rt_sampler, key, processed_counts),
        processed_counts=processed_counts,
    )


def _inference(
    context: dg.AssetExecutionContext,
    rt_sampler: RtSampler,
    partition_key: str,
    processed_counts: pd.DataFrame,
) -> tuple[xr.DataTree, dict]:
    run_date, state = date_and_state(partition_key)
    preset, seed = rt_sampler.sampler_preset(), rt_seed(run_date, state)
    context.log.info(f"{state} {run_date}: sampling with preset {preset.name}, seed {seed}")
    observed = corrections.observed_for_model(processed_counts, state)
    try:
        idata = fit(observed, preset, seed, state, cores=rt_sampler.cores or None)
    except ValueError as exc:
        raise dg.Failure(description=str(exc), allow_retries=False) from exc
    attrs = idata.posterior.attrs
    return idata, (
        {
            "model_version": MODEL_VERSION,
            "preset": preset.name,
            "seed": seed,
            "days": int(idata.posterior.sizes["date"]),
            # r_hat, ESS and divergences of r_t on the materialization itself (the
            # inference_converged check judges them against the preset's gate).
            **convergence_metadata(json.loads(attrs["convergence"])),
            "compile_seconds": round(float(attrs.get("compile_seconds", float("nan"))), 1),
            "sampling_seconds": round(float(attrs.get("sampling_seconds", float("nan"))), 1),
            # Reused in this process, loaded from the disk cache, or compiled.
            "compiled_model": attrs["compiled_model"],
            # "found": sampled in the coordinates of the series' Laplace approximation;
            # otherwise why the model's own coordinates were (docs/performance.md).
            "laplace": attrs["laplace"],
            "laplace_seconds": round(float(attrs["laplace_seconds"]), 2),
            # The step process's peak so far: the step's own peak where each step has its
            # own process (Kubernetes, LOCAL_STEP_START=spawn); locally in process, the
            # run's peak up to this step. Sizes the pod requests.
            "peak_rss_mib": round(peak_rss_mib(), 1),
        }
    )


def fit_gate(idata: xr.DataTree) -> tuple[dict, str, list[str]]:
    """The convergence of a stored fit, its preset's name and why it fails that preset's
    gate (empty: it passes). A fit from an unknown or older preset is held to rt.live's
    gate. The convergence check reports it; the summary publishes only a fit that passes.

    The convergence is the one the fit stored with its draws (``convergence`` of the same
    posterior, computed once when it was sampled: ~0.7 s of a `full` fit's year); a
    posterior stored without it is measured here."""
    stored = idata.posterior.attrs.get("convergence")
    diag = json.loads(stored) if stored else convergence(idata)
    preset_name = str(idata.posterior.attrs.get("preset", ""))
    return diag, preset_name, gate(diag, PRESETS.get(preset_name, PRESETS["rtlive"]))


@dg.asset(
    key=keys.SUMMARY,
    group_name=GROUP,
    partitions_def=date_state_partitions,
    backfill_policy=state_backfill_policy,
    # The posterior is read per partition in the step (load_stored), not loaded as an
    # input: a backfill's batch would load all of its ~60 MB posteriors at once.
    deps=[keys.INFERENCE],
    ins={"processed_counts": dg.AssetIn(key=keys.PROCESSED_COUNTS)},
    owners=OWNERS,
    kinds={"pandas", "parquet"},
    code_version="1",
    op_tags=step_tags(LIGHT),
    required_resource_keys={"io_manager"},
    metadata={**lake_format("parquet")},
    description=(
        "rt.csv rows for one state and run date: Rt mean, median and 80% HDI per observed day "
        "with the counts. Stored at `<LAKE_URL>/rt/summary/<date>/<state>.parquet`, its Rt "
        "chart beside it (`<state>.png`, linked from the metadata as rt_curve). A fit that "
        "fails its convergence gate gets a summary with no rows (metadata converged=false "
        "and why), which the national CSV leaves out."
    ),
)
def summary_table(context: dg.AssetExecutionContext, processed_counts: Any) -> Any:
    def one(key: str, processed_counts: pd.DataFrame) -> tuple[pd.DataFrame, dict]:
        inference = load_stored(_lake(context), keys.INFERENCE, key, "netcdf")
        return _summary_table(context, key, inference, processed_counts)

    return each_partition(context, one, processed_counts=processed_counts)


def _summary_table(
    context: dg.AssetExecutionContext,
    partition_key: str,
    inference: xr.DataTree,
    processed_counts: pd.DataFrame,
) -> tuple[pd.DataFrame, dict]:
    run_date, state = date_and_state(partition_key)
    rows = summary.summarize(inference, processed_counts, state)
    # The chart is a file beside the table: ~30 KB of base64 in every materialization event
    # would make the event log (and each UI page that loads it) carry the pictures.
    store = _lake(context).store()
    chart = store.path(context.asset_key, partition_key, "png")
    _, preset_name, reasons = fit_gate(inference)
    if reasons:
        # Not converged: stored with no rows, so the publication leaves the state out
        # (docs/rt-pipeline.md, "Checks and promotion"); rt/inference_converged says why.
        why = f"not converged ({preset_name or 'unknown'} preset's gate): " + "; ".join(reasons)
        context.log.warning(f"{state} {run_date}: {why}; summary stored empty, not published")
        store.remove(chart)  # an earlier converged fit's chart would show what is not published
        return rows.iloc[0:0], {"rows": 0, "converged": False, "not_published": why}
    last = summary.latest(rows)
    store.write_bytes(chart, summary.rt_plot_png(rows, f"Rt {state}, run {run_date}"))
    return rows, (
        {
            "rows": len(rows),
            "converged": True,
            "latest_date": last["date"],
            # Numbers, so the UI plots them across materializations.
            "latest_rt": round(float(last["mean"]), 3),
            "latest_rt_lower_80": round(float(last["lower_80"]), 3),
            "latest_rt_upper_80": round(float(last["upper_80"]), 3),
            "rt_curve": link(chart),
            # The last week's Rt and counts; the stored table has every column.
            "preview": _md_table(rows[SUMMARY_PREVIEW].tail(7).round(3)),
        }
    )


NOT_RUN = "not run for this date"
NO_SUMMARY = "posterior stored but no summary: the summary step failed or has not run"
NOT_CONVERGED = "not converged: failed its convergence check (rt/inference_converged)"


def _missing_states(context: dg.AssetExecutionContext, run_date: str, present: set[str]) -> dict:
    """Why each state without published rows for ``run_date`` is missing."""
    store = _lake(context).store()
    reasons = {}
    for state in date_state_partitions.get_partitions_def_for_dimension(
        "state"
    ).get_partition_keys():
        if state in present:
            continue
        partition = f"{run_date}|{state}"
        summary_path = store.path(keys.SUMMARY, partition, "parquet")
        if store.exists(summary_path):
            # An empty summary is a fit that failed the gate (summary_table).
            stored = CODECS["parquet"].loads(store.read_bytes(summary_path))
            reasons[state] = (
                NOT_CONVERGED if stored.empty else "summary stored after this date's CSV"
            )
        elif store.exists(store.path(keys.INFERENCE, partition, "netcdf")):
            reasons[state] = NO_SUMMARY
        else:
            reasons[state] = NOT_RUN
    return reasons


UNKNOWN = "unknown"


def _inference_metadata(context: dg.AssetExecutionContext, run_date: str, states: list[str]):
    """Model versions and presets recorded by the rt/inference runs behind ``states``.

    Only what was recorded: a state whose materialization lacks a value adds "unknown",
    never the current code's version or the current preset (the posterior may be older).
    """
    versions, presets = set(), set()
    for state in states:
        records = context.instance.fetch_materializations(
            dg.AssetRecordsFilter(
                asset_key=keys.INFERENCE,
                asset_partitions=[f"{run_date}|{state}"],
            ),
            limit=1,
        ).records
        meta = (
            records[0].asset_materialization.metadata
            if records and records[0].asset_materialization
            else {}
        )
        versions.add(str(meta["model_version"].value) if "model_version" in meta else UNKNOWN)
        presets.add(str(meta["preset"].value) if "preset" in meta else UNKNOWN)
    return ",".join(sorted(versions)) or UNKNOWN, ",".join(sorted(presets)) or UNKNOWN


@dg.asset(
    key=keys.NATIONAL_CSV,
    group_name=GROUP,
    partitions_def=date_partitions,
    ins={
        "summaries": dg.AssetIn(
            key=keys.SUMMARY,
            partition_mapping=by_date,
            metadata={"allow_missing_partitions": True},
        )
    },
    owners=OWNERS,
    kinds={"pandas", "csv"},
    code_version="1",
    op_tags=step_tags(LIGHT),
    required_resource_keys={"io_manager"},
    metadata={**lake_format("csv")},
    description=(
        "All states' rt.csv rows for the run date in one CSV (rt.live's header). States whose "
        "inference failed its checks, or that were not run, are left out and named in the "
        "metadata. Stored at `<LAKE_URL>/rt/national_csv/<date>.csv`."
    ),
)
def national_csv(
    context: dg.AssetExecutionContext, summaries: dict[str, pd.DataFrame]
) -> pd.DataFrame:
    # An empty summary is a fit that failed the convergence gate: left out, named below.
    by_state = {k.split("|")[1]: v for k, v in summaries.items() if v is not None and not v.empty}
    missing = _missing_states(context, context.partition_key, set(by_state))
    if not by_state:
        failed = sorted(s for s, r in missing.items() if r != NOT_RUN)
        raise dg.Failure(
            f"no state has a summary for {context.partition_key} (failed checks: "
            f"{', '.join(failed) or 'none'}); nothing to publish",
            metadata={"missing_states": dg.MetadataValue.json(missing)},
        )
    table = publication.national_table(by_state)
    context.log.info(f"{len(by_state)} states in the national CSV, {len(missing)} missing")
    context.add_output_metadata(
        {
            "rows": len(table),
            "states": dg.MetadataValue.text(", ".join(sorted(by_state))),
            "state_count": len(by_state),
            "failed_states": dg.MetadataValue.text(
                ", ".join(s for s, r in missing.items() if r != NOT_RUN)
            ),
            "missing_states": dg.MetadataValue.json(missing),
            "preview": _md_table(table.groupby("region").tail(1)),
        }
    )
    return table


@dg.asset(
    key=keys.STAGED_MSGPACK,
    group_name=GROUP,
    partitions_def=date_partitions,
    ins={"national_csv": dg.AssetIn(key=keys.NATIONAL_CSV)},
    owners=OWNERS,
    kinds={"msgpack"},
    code_version="1",
    op_tags=step_tags(LIGHT),
    required_resource_keys={"io_manager"},
    metadata={**lake_format("msgpack")},
    description=(
        "Staged MessagePack document for the web front end (format rtlive-msgpack/1: per "
        "state dates and Rt mean/median/80% HDI, run date, model version, preset, excluded "
        "states). Checked against yesterday's publication before promotion. Stored at "
        "`<LAKE_URL>/rt/staged_msgpack/<date>.msgpack`."
    ),
)
def staged_msgpack(context: dg.AssetExecutionContext, national_csv: pd.DataFrame) -> dict:
    run_date = context.partition_key
    states = sorted(national_csv["region"].unique()) if len(national_csv) else []
    version, preset = _inference_metadata(context, run_date, states)
    excluded = _missing_states(context, run_date, set(states))
    doc = msgpack_format.build_document(national_csv, run_date, version, preset, excluded)
    context.add_output_metadata(
        {
            "states": len(doc["states"]),
            "excluded": len(doc["excluded"]),
            "model_version": version,
            "preset": preset,
        }
    )
    return doc


def load_stored(lake: LakeIOManager, key: dg.AssetKey, partition: str, fmt: str):
    """A stored partition, read directly (checks and look-backs outside the input graph)."""
    store = lake.store()
    path = store.path(key, partition, fmt)
    if not store.exists(path):
        name = key.to_user_string()
        raise dg.Failure(
            f"{name} partition {partition} is not stored at {path}: materialize {name} for "
            f"{partition} first",
            allow_retries=False,
        )
    return CODECS[fmt].loads(store.read_bytes(path))


def previous_publication(lake: LakeIOManager, run_date: str) -> dict | None:
    """Yesterday's published msgpack document, or None when there is none."""
    day_before = (pd.Timestamp(run_date) - pd.Timedelta(days=1)).strftime("%Y-%m-%d")
    store = lake.store()
    path = store.path(keys.PUBLISHED_MSGPACK, day_before, "msgpack")
    return CODECS["msgpack"].loads(store.read_bytes(path)) if store.exists(path) else None


class PromotionConfig(dg.Config):
    """Set approve_warnings after reviewing the staging check's warnings."""

    approve_warnings: bool = False


# rt/national_csv is upstream through rt/staged_msgpack; declaring it again (deps=) made a
# Materialize-dialog backfill through this non-subsettable multi-asset fail on some
# webserver hash seeds in Dagster 1.13 ("Targeted subset must match between every key in
# a non-subsettable multi-asset").
@dg.multi_asset(
    name="rt__published",
    group_name=GROUP,
    partitions_def=date_partitions,
    ins={"staged_msgpack": dg.AssetIn(key=keys.STAGED_MSGPACK)},
    outs={
        "published_msgpack": dg.AssetOut(
            key=keys.PUBLISHED_MSGPACK,
            owners=OWNERS,
            kinds={"msgpack"},
            code_version="1",
            metadata={**lake_format("msgpack")},
            description=(
                "Production MessagePack document for the run date (a copy of the staged one, "
                "promoted when staging has no warnings or they were approved). Stored at "
                "`<LAKE_URL>/rt/published_msgpack/<date>.msgpack`."
            ),
        ),
        "published_csv": dg.AssetOut(
            key=keys.PUBLISHED_CSV,
            owners=OWNERS,
            kinds={"csv"},
            code_version="1",
            metadata={**lake_format("csv")},
            description=(
                "Production national rt.csv for the run date (byte copy of rt/national_csv, "
                "promoted together with the msgpack). Stored at "
                "`<LAKE_URL>/rt/published_csv/<date>.csv`."
            ),
        ),
    },
    op_tags=step_tags(LIGHT),
    required_resource_keys={"io_manager", "rt_staging_policy"},
)
def published(context: dg.AssetExecutionContext, config: PromotionConfig, staged_msgpack: dict):
    run_date = context.partition_key
    lake, policy = _lake(context), context.resources.rt_staging_policy
    warnings = publication.compare_with_previous(
        staged_msgpack, previous_publication(lake, run_date), policy.max_rt_change
    )
    try:
        verdict = publication.approve_promotion(warnings, config.approve_warnings, run_date)
    except publication.PromotionRefused as exc:
        raise dg.Failure(description=str(exc)) from None
    context.log.info(verdict)
    store = lake.store()
    national = store.read_bytes(store.path(keys.NATIONAL_CSV, run_date, "csv"))
    meta = {"verdict": verdict, "warnings": len(warnings)}
    yield dg.Output(
        staged_msgpack,
        "published_msgpack",
        metadata={**meta, "states": len(staged_msgpack["states"])},
    )
    yield dg.Output(national, "published_csv", metadata={**meta, "bytes_copied": len(national)})
