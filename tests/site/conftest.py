"""Builds real sites: a published document at the upstream path, then rt/site materialized."""

from __future__ import annotations

from pathlib import Path

import dagster as dg
import pytest

from resources.io_manager import LakeIOManager
from rt_assets.site_assets import PUBLISHED_MSGPACK, rt_site


def publish(lake: Path, date: str, data: bytes) -> Path:
    store = LakeIOManager(base_url=str(lake)).store()
    path = store.path(PUBLISHED_MSGPACK, date, "msgpack")
    store.write_bytes(path, data)
    return Path(path.path)


def materialize_site(
    lake: Path, date: str, raise_on_error: bool = True
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        [rt_site],
        partition_key=date,
        resources={"io_manager": LakeIOManager(base_url=str(lake))},
        raise_on_error=raise_on_error,
    )


@pytest.fixture
def site_builder():
    """``build(lake, date, data) -> (result, site folder)``."""

    def build(lake: Path, date: str, data: bytes):
        publish(lake, date, data)
        return materialize_site(lake, date), lake / "rt" / "site" / date

    return build
