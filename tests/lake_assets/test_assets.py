import dagster as dg
import pandas as pd
import sqlalchemy as sa

from lake_assets import assets
from lake_assets.nycflights import NYCFLIGHTS_ROWS
from lake_assets.warehouse import count_rows
from resources.io_manager import LakeIOManager
from resources.warehouse import WarehouseResource


def test_materialize_the_lake_on_nycflights(tmp_path, monkeypatch):
    monkeypatch.setenv("LAKE_URL", str(tmp_path / "lake"))
    db = tmp_path / "warehouse.sqlite"
    resources = {
        "io_manager": LakeIOManager(base_url=str(tmp_path / "lake")),
        "warehouse": WarehouseResource(url=f"sqlite:///{db}"),
    }
    lake_assets = dg.load_assets_from_modules([assets])
    result = dg.materialize(lake_assets, partition_key="2013", resources=resources)
    assert result.success
    for name, ext in [
        ("bronze_flights", "csv"),
        ("silver_flights", "parquet"),
        ("quarantined_flights", "parquet"),
        ("gold_dep_delay_by_date", "parquet"),
        ("delay_anomalies", "parquet"),
    ]:
        assert (tmp_path / "lake" / "lake" / name / f"2013.{ext}").is_file(), name
    silver = pd.read_parquet(tmp_path / "lake" / "lake" / "silver_flights" / "2013.parquet")
    assert len(silver) == NYCFLIGHTS_ROWS
    anomalies = pd.read_parquet(tmp_path / "lake" / "lake" / "delay_anomalies" / "2013.parquet")
    assert len(anomalies) == 1095 and anomalies["robust_flag"].sum() > 0

    engine = sa.create_engine(f"sqlite:///{db}")
    assert count_rows(engine) == 1095
    engine.dispose()

    events = {
        e.event_specific_data.materialization.asset_key.to_user_string(): (
            e.event_specific_data.materialization.metadata
        )
        for e in result.get_asset_materialization_events()
    }
    assert events["lake/silver_flights"]["cancelled"].value == 8255
    assert events["lake/quarantined_flights"]["dagster/row_count"].value == 0
    assert events["lake/warehouse_delay_table"]["rows_for_year"].value == 1095
    assert "data:image/png;base64" in events["lake/delay_anomalies"]["charts"].value

    # Bronze is immutable: a different landing file for a stored year is refused.
    landing = tmp_path / "lake" / "landing"
    landing.mkdir()
    (landing / "2013.csv").write_bytes(b"FL_DATE\n")
    again = dg.materialize(
        [a for a in lake_assets if "bronze_flights" in str(a.keys)],
        partition_key="2013",
        resources=resources,
        raise_on_error=False,
    )
    assert not again.success
