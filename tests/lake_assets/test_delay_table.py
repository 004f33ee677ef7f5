import datetime as dt

import pandas as pd
import pytest
import sqlalchemy as sa

from lake_assets import delay_table


def frame(n: int = 6, flights: int = 100) -> pd.DataFrame:
    dates = pd.date_range("2013-01-01", periods=n, freq="D").date
    return pd.DataFrame(
        {
            "fl_date": list(dates),
            "origin": ["JFK"] * n,
            "mean_dep_delay": [float(i) for i in range(n)],
            "median_dep_delay": [float("nan")] + [1.0] * (n - 1),
            "flights": [flights] * n,
            "cancelled": [2] * n,
            "iforest_flag": [False] * n,
            "iforest_score": [0.4] * n,
            "arima_flag": [False] * n,
            "arima_score": [1.0] * n,
            "robust_flag": [i == 3 for i in range(n)],
            "robust_score": [float(i) for i in range(n)],
        }
    )


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def engine(request, tmp_path):
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'warehouse.sqlite'}"
    else:
        url = request.getfixturevalue("postgres_url")
    engine = sa.create_engine(url)
    with engine.begin() as conn:
        delay_table.delay_table.drop(conn, checkfirst=True)
    yield engine
    engine.dispose()


T0 = dt.datetime(2024, 1, 1, tzinfo=dt.UTC)
T1 = dt.datetime(2024, 1, 2, tzinfo=dt.UTC)


def test_upsert_inserts_then_is_idempotent(engine):
    assert delay_table.upsert_delay_rows(engine, frame(), now=T0) == 6
    first = delay_table.read_table(engine)
    assert len(first) == 6
    assert first["median_dep_delay"].isna().sum() == 1  # NaN stored as NULL
    assert first["fl_date"].map(type).eq(dt.date).all()
    delay_table.upsert_delay_rows(engine, frame(), now=T1)
    second = delay_table.read_table(engine)
    # Same rows, and unchanged rows keep their last_update.
    pd.testing.assert_frame_equal(first, second)


def test_upsert_updates_changed_rows_only(engine):
    delay_table.upsert_delay_rows(engine, frame(), now=T0)
    changed = frame()
    changed.loc[2, "mean_dep_delay"] = 99.0
    extra = frame(8).iloc[6:]
    delay_table.upsert_delay_rows(engine, pd.concat([changed, extra]), now=T1)
    table = delay_table.read_table(engine).set_index("fl_date")
    assert len(table) == 8
    assert table.loc[dt.date(2013, 1, 3), "mean_dep_delay"] == 99.0
    updated = pd.to_datetime(table["last_update"], utc=True)
    assert (updated == T1).sum() == 3  # the changed row and two new ones
    assert (updated == T0).sum() == 5


def test_failure_mid_transaction_leaves_table_unchanged(engine):
    delay_table.upsert_delay_rows(engine, frame(), now=T0)
    before = delay_table.read_table(engine)
    bad = frame(8)
    bad["mean_dep_delay"] = 50.0
    bad.loc[7, "flights"] = -1  # breaks the CHECK constraint in the last batch
    with pytest.raises(sa.exc.IntegrityError):
        delay_table.upsert_delay_rows(engine, bad, now=T1, batch_size=2)
    pd.testing.assert_frame_equal(before, delay_table.read_table(engine))


def test_missing_columns_are_named():
    with pytest.raises(ValueError, match="robust_score"):
        delay_table.rows_from_frame(frame().drop(columns=["robust_score"]), T0)


def test_statement_binds_values_as_parameters():
    from sqlalchemy.dialects import postgresql

    stmt = delay_table.upsert_statement("postgresql").values(frame().iloc[:1].to_dict("records"))
    sql = str(stmt.compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (origin, fl_date) DO UPDATE" in sql
    assert "JFK" not in sql and "%(" in sql
