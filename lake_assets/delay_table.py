"""The warehouse table ``agg_dep_delay_by_date`` and its idempotent upsert.

Pure module (SQLAlchemy, no Dagster). One transaction, ``INSERT ... ON
CONFLICT (origin, fl_date) DO UPDATE`` built with SQLAlchemy's dialect
constructs for PostgreSQL and SQLite, values always bound as parameters.
A row whose values did not change is left alone (its ``last_update`` too), so
running the upsert twice leaves exactly the same rows.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator

import pandas as pd
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

TABLE_NAME = "agg_dep_delay_by_date"
DETECTOR_COLUMNS = (
    "iforest_flag",
    "iforest_score",
    "arima_flag",
    "arima_score",
    "robust_flag",
    "robust_score",
)
VALUE_COLUMNS = (
    "mean_dep_delay",
    "median_dep_delay",
    "flights",
    "cancelled",
    *DETECTOR_COLUMNS,
)
BATCH_SIZE = 5_000

metadata = sa.MetaData()
delay_table = sa.Table(
    TABLE_NAME,
    metadata,
    sa.Column("origin", sa.String(8), primary_key=True),
    sa.Column("fl_date", sa.Date, primary_key=True),
    sa.Column("mean_dep_delay", sa.Float),
    sa.Column("median_dep_delay", sa.Float),
    sa.Column("flights", sa.Integer, nullable=False),
    sa.Column("cancelled", sa.Integer, nullable=False),
    sa.Column("iforest_flag", sa.Boolean, nullable=False),
    sa.Column("iforest_score", sa.Float),
    sa.Column("arima_flag", sa.Boolean, nullable=False),
    sa.Column("arima_score", sa.Float),
    sa.Column("robust_flag", sa.Boolean, nullable=False),
    sa.Column("robust_score", sa.Float),
    sa.Column("last_update", sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("flights >= 0 AND cancelled >= 0", name="ck_counts_non_negative"),
)


def ensure_table(engine: sa.Engine) -> None:
    metadata.create_all(engine, tables=[delay_table])


def _clean(value: object) -> object:
    if value is None or value is pd.NA or value is pd.NaT:
        return None
    if isinstance(value, float) and math.isnan(value):
        return None
    if hasattr(value, "item"):  # numpy scalar -> Python
        return value.item()
    return value


def rows_from_frame(frame: pd.DataFrame, now: dt.datetime) -> list[dict]:
    """Warehouse rows (plain Python values, NaN as NULL) from gold + anomaly columns."""
    needed = ["origin", "fl_date", *VALUE_COLUMNS]
    missing = [c for c in needed if c not in frame.columns]
    if missing:
        raise ValueError(f"cannot upsert into {TABLE_NAME}: frame lacks columns {missing}")
    dates = pd.to_datetime(frame["fl_date"].astype("string")).dt.date
    records = frame[needed].assign(fl_date=dates).to_dict("records")
    return [{**{k: _clean(v) for k, v in r.items()}, "last_update": now} for r in records]


def _batches(rows: list[dict], size: int) -> Iterator[list[dict]]:
    for start in range(0, len(rows), size):
        yield rows[start : start + size]


def upsert_statement(dialect_name: str):
    if dialect_name == "postgresql":
        insert = postgresql.insert(delay_table)
    elif dialect_name == "sqlite":
        insert = sqlite.insert(delay_table)
    else:
        raise ValueError(
            f"warehouse dialect {dialect_name!r} not supported: use postgresql+psycopg or sqlite"
        )
    excluded = insert.excluded
    changed = sa.or_(*(delay_table.c[c].is_distinct_from(excluded[c]) for c in VALUE_COLUMNS))
    return insert.on_conflict_do_update(
        index_elements=[delay_table.c.origin, delay_table.c.fl_date],
        set_={c: excluded[c] for c in (*VALUE_COLUMNS, "last_update")},
        where=changed,
    )


def upsert_delay_rows(
    engine: sa.Engine,
    frame: pd.DataFrame,
    now: dt.datetime | None = None,
    batch_size: int = BATCH_SIZE,
) -> int:
    """Upsert the rows of ``frame`` in one transaction; returns the number of rows sent.

    Either every row is written or, on any error, none is (the transaction is
    rolled back and the table is left as it was).
    """
    now = now or dt.datetime.now(dt.UTC)
    rows = rows_from_frame(frame, now)
    ensure_table(engine)
    statement = upsert_statement(engine.dialect.name)
    with engine.begin() as conn:
        for batch in _batches(rows, batch_size):
            conn.execute(statement, batch)
    return len(rows)


def count_rows(engine: sa.Engine, origin_dates: tuple[dt.date, dt.date] | None = None) -> int:
    query = sa.select(sa.func.count()).select_from(delay_table)
    if origin_dates is not None:
        query = query.where(delay_table.c.fl_date.between(*origin_dates))
    with engine.connect() as conn:
        return int(conn.execute(query).scalar_one())


def read_table(engine: sa.Engine) -> pd.DataFrame:
    with engine.connect() as conn:
        return pd.read_sql(
            sa.select(delay_table).order_by(delay_table.c.origin, delay_table.c.fl_date), conn
        )
