"""The IO manager's ``base_url`` alone places every lake object (issue 16).

Bronze, silver and quarantine are streamed past the IO manager, gold and the anomalies
go through it, the charts are written beside them: all through ``LakeIOManager.store()``,
so with no ``LAKE_URL`` nothing may land in the working directory's ``./.lake``.
"""

import dagster as dg
import pytest

from lake_assets import assets
from lake_assets.nycflights import nycflights_year_csv
from resources.io_manager import LakeIOManager
from resources.warehouse import WarehouseResource
from tests.fixtures.lake_objects import LAKE_YEAR_OBJECTS

pytestmark = pytest.mark.slow


def test_only_the_configured_base_url_holds_the_lake(tmp_path, monkeypatch):
    monkeypatch.delenv("LAKE_URL", raising=False)
    monkeypatch.delenv("DAGSTER_DEPLOYMENT", raising=False)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    base = tmp_path / "configured"
    # A tenth of the bundled year, landed in the configured lake: bronze must look for
    # landing files there too.
    header, *rows = nycflights_year_csv().splitlines(keepends=True)
    (base / "landing").mkdir(parents=True)
    (base / "landing" / "2013.csv").write_bytes(header + b"".join(rows[: len(rows) // 10]))
    resources = {
        "io_manager": LakeIOManager(base_url=str(base)),
        "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}"),
    }

    result = dg.materialize(
        dg.load_assets_from_modules([assets]), partition_key="2013", resources=resources
    )

    assert result.success
    for name, ext in LAKE_YEAR_OBJECTS:
        assert (base / "lake" / name / f"2013.{ext}").is_file(), name
    bronze = result.get_asset_materialization_events()[0].materialization.metadata
    assert bronze["source"].value == str(base / "landing" / "2013.csv")
    assert list(cwd.iterdir()) == [], "something was written under the working directory"
