"""The lake IO manager: natural formats, paths, atomic writes, round trips."""

import os

import arviz as az
import dagster as dg
import numpy as np
import pandas as pd
import pytest
import xarray as xr

from resources.io_manager import LakeIOManager, lake_format
from resources.lake_store import LakeStore

dates = dg.DailyPartitionsDefinition(start_date="2021-01-01", end_date="2021-01-05")
states = dg.StaticPartitionsDefinition(["CA", "NY"])
date_state = dg.MultiPartitionsDefinition({"date": dates, "state": states})


@dg.asset(key_prefix="t", partitions_def=dates, metadata=lake_format("parquet"))
def table(context: dg.AssetExecutionContext) -> pd.DataFrame:
    return pd.DataFrame({"day": [context.partition_key], "x": [1.5]})


@dg.asset(key_prefix="t", partitions_def=date_state, metadata=lake_format("netcdf"))
def posterior(context: dg.AssetExecutionContext) -> xr.DataTree:
    rng = np.random.default_rng(0)
    idata = az.from_dict({"posterior": {"r_t": rng.normal(size=(2, 5, 3))}})
    idata.posterior.attrs["partition"] = str(context.partition_key)
    return idata


@dg.asset(key_prefix="t", partitions_def=date_state, metadata=lake_format("msgpack"))
def doc(posterior: xr.DataTree) -> dict:
    return {
        "shape": list(posterior.posterior["r_t"].shape),
        "part": posterior.posterior.attrs["partition"],
    }


@dg.asset(key_prefix="t", partitions_def=dates, metadata=lake_format("csv"))
def national(table: pd.DataFrame) -> pd.DataFrame:
    return table.assign(y=table["x"] * 2)


def test_paths_follow_asset_key_and_partition(tmp_path):
    store = LakeIOManager(base_url=str(tmp_path)).store()
    assert str(store.path("rt/inference", "2021-01-15|NY", "netcdf")) == str(
        tmp_path / "rt" / "inference" / "2021-01-15" / "NY.nc"
    )
    s3 = LakeStore("s3://bucket/pre")
    assert str(s3.path(dg.AssetKey(["lake", "silver_flights"]), "2013", "parquet")) == (
        "s3://bucket/pre/lake/silver_flights/2013.parquet"
    )
    assert str(s3.path("rt/site", "2021-03-07")) == "s3://bucket/pre/rt/site/2021-03-07"
    assert not s3.is_local and LakeStore(tmp_path).is_local


def test_round_trip_in_natural_formats(tmp_path):
    resources = {"io_manager": LakeIOManager(base_url=str(tmp_path))}
    assert dg.materialize([table], partition_key="2021-01-02", resources=resources).success
    assert dg.materialize(
        [posterior, doc], partition_key="2021-01-02|NY", resources=resources
    ).success
    assert dg.materialize(
        [table, national], partition_key="2021-01-02", resources=resources, selection=[national]
    ).success
    assert (tmp_path / "t/table/2021-01-02.parquet").is_file()
    assert (tmp_path / "t/posterior/2021-01-02/NY.nc").is_file()
    assert (tmp_path / "t/doc/2021-01-02/NY.msgpack").is_file()
    csv = (tmp_path / "t/national/2021-01-02.csv").read_text()
    assert csv == "day,x,y\n2021-01-02,1.5,3.0\n"
    idata = xr.load_datatree(tmp_path / "t/posterior/2021-01-02/NY.nc")
    assert idata.posterior["r_t"].shape == (2, 5, 3)
    # no temporary files left behind
    assert not [p for p in tmp_path.rglob("*") if p.name.endswith(".tmp")]


def test_asset_without_format_fails_clearly(tmp_path):
    @dg.asset
    def nameless() -> int:
        return 1

    with pytest.raises(dg.Failure, match="declares no lake format"):
        dg.materialize([nameless], resources={"io_manager": LakeIOManager(base_url=str(tmp_path))})


def test_failed_write_leaves_previous_file_intact(tmp_path, monkeypatch):
    from upath import UPath

    target = UPath(tmp_path / "a" / "b.csv")
    LakeStore.write_bytes(target, b"good\n")

    def boom(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", boom)
    with pytest.raises(OSError, match="disk full"):
        LakeStore.write_bytes(target, b"half-written")
    assert (tmp_path / "a" / "b.csv").read_bytes() == b"good\n"
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["b.csv"]


def test_gzip_is_told_by_its_magic_bytes(tmp_path):
    import gzip

    from upath import UPath

    from resources.lake_store import is_gzip

    packed, plain = UPath(tmp_path / "a.csv.gz"), UPath(tmp_path / "a.csv")
    LakeStore.write_bytes(packed, gzip.compress(b"a,b\n"))
    LakeStore.write_bytes(plain, b"a,b\n")
    assert LakeStore.is_gzip(packed) and not LakeStore.is_gzip(plain)
    assert is_gzip(gzip.compress(b"")) and not is_gzip(b"")
