"""Bad flight files landed at <LAKE_URL>/landing/2013.csv, through the real lake assets.

Each bad file is landed in a fresh lake (bronze is immutable: a different file
for a year already in bronze is refused outright) and bronze -> silver +
quarantine -> gold is materialized: a file that must fail stops at silver with
its message and no gold exists; a file with quarantined rows counts them per
reason in the quarantine metadata, and gold holds exactly the gold of the good
rows.
"""

from __future__ import annotations

import shutil

import dagster as dg
import pandas as pd
import pytest

from lake_assets import assets
from resources.io_manager import LakeIOManager
from resources.warehouse import WarehouseResource
from tests.reliability.cases import CORPUS, FLIGHT_CASES, FLIGHT_QUARANTINE, FLIGHT_YEAR, Case

LAKE_ASSETS = dg.load_assets_from_modules([assets])
UP_TO_GOLD = [
    dg.AssetKey(["lake", n])
    for n in ("bronze_flights", "silver_flights", "quarantined_flights", "gold_dep_delay_by_date")
]
GOLD = "lake/gold_dep_delay_by_date/2013.parquet"


def materialize_lake(root, landing_file, db) -> dg.ExecuteInProcessResult:
    lake = root / "lake"
    (lake / "landing").mkdir(parents=True)
    shutil.copyfile(landing_file, lake / "landing" / f"{FLIGHT_YEAR}.csv")
    resources = {
        "io_manager": LakeIOManager(base_url=str(lake)),
        "warehouse": WarehouseResource(url=f"sqlite:///{db}"),
    }
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LAKE_URL", str(lake))
        return dg.materialize(
            LAKE_ASSETS,
            selection=UP_TO_GOLD,
            partition_key=FLIGHT_YEAR,
            resources=resources,
            raise_on_error=False,
        )


@pytest.fixture(scope="module")
def good_gold(tmp_path_factory) -> pd.DataFrame:
    root = tmp_path_factory.mktemp("good_lake")
    result = materialize_lake(root, CORPUS / "flights_good_2013.csv", root / "w.sqlite")
    assert result.success
    return pd.read_parquet(root / "lake" / GOLD)


def failure_text(result: dg.ExecuteInProcessResult) -> str:
    parts = []
    for event in result.all_events:
        if event.is_step_failure and event.step_failure_data and event.step_failure_data.error:
            err = event.step_failure_data.error
            parts += [err.message] + ([err.cause.message] if err.cause else [])
    return "\n".join(parts)


@pytest.mark.parametrize("case", FLIGHT_CASES, ids=lambda c: c.id)
def test_bad_flight_file_through_the_lake(case: Case, good_gold, tmp_path):
    result = materialize_lake(tmp_path, case.path, tmp_path / "w.sqlite")
    gold_path = tmp_path / "lake" / GOLD
    if case.outcome == "fail":
        assert not result.success
        message = failure_text(result)
        # In the lake the file at fault is the bronze copy of the landed file.
        for fragment in case.mentions:
            fragment = "lake/bronze_flights/2013" if fragment == case.file else fragment
            assert fragment in message, (fragment, message)
        bronze_meta = result.asset_materializations_for_node("lake__bronze_flights")[0].metadata
        assert str(bronze_meta["source"].value).endswith("landing/2013.csv")
        assert not gold_path.exists()
        assert not (tmp_path / "lake/lake/silver_flights/2013.parquet").exists()
        return

    assert result.success, failure_text(result)
    meta = {
        m.asset_key.to_user_string(): m.metadata
        for m in result.asset_materializations_for_node("silver_flights")
    }
    assert meta["lake/quarantined_flights"]["reasons"].value == FLIGHT_QUARANTINE[case.file]
    assert meta["lake/silver_flights"]["quarantined_rows"].value == sum(
        FLIGHT_QUARANTINE[case.file].values()
    )
    gold = pd.read_parquet(gold_path)
    if case.file == "flights_wrong_year_2013.csv":
        assert gold.empty  # nothing of 2012 enters the 2013 partition
        return
    # Gold is the good file's gold where the quarantined flights are simply absent:
    # same airports and days, flight counts lower by exactly the quarantined rows.
    assert (pd.to_datetime(gold["fl_date"].astype(str)).dt.year == int(FLIGHT_YEAR)).all()
    assert gold["mean_dep_delay"].dropna().between(-1440, 2880).all()
    expected_missing = 0 if "header" in case.file else sum(FLIGHT_QUARANTINE[case.file].values())
    assert good_gold["flights"].sum() - gold["flights"].sum() == expected_missing
