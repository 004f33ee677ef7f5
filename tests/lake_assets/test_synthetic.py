"""The seeded synthetic generator: one file per year, and a decade as monthly files."""

import datetime as dt
import hashlib

import numpy as np
import pandas as pd
import pytest

from lake_assets import synthetic
from lake_assets.schema import CANONICAL_COLUMNS

HEADER = ",".join(CANONICAL_COLUMNS) + ","
ROWS = 20_000  # per year: under 2,000 rows a month, fast
ORIGINS = 100  # the fewest the plan allows is 72 (seasonal airports are drawn past the 60th)


def digests(folder) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def decade(tmp_path_factory):
    folder = tmp_path_factory.mktemp("decade")
    written = synthetic.generate_decade(2013, 2, ROWS, folder, n_origins=ORIGINS, seed=5)
    return folder, written


def test_decade_writes_one_file_per_month_named_like_bts(decade):
    folder, written = decade
    names = sorted(p.name for p in folder.glob("*.csv"))
    assert names == [f"{y}-{m:02d}.csv" for y in (2013, 2014) for m in range(1, 13)]
    assert [w.year for w in written] == [2013, 2014]
    assert all(p.parent == folder for w in written for p in w.files)
    # The truth is not beside the flights: its name carries a year too.
    assert sorted(p.name for p in (folder / "truth").iterdir()) == [
        "2013.anomalies.csv",
        "2014.anomalies.csv",
    ]


def test_every_month_file_has_the_header_and_the_trailing_empty_field(decade):
    folder, _ = decade
    for path in folder.glob("*.csv"):
        lines = path.read_text().splitlines()
        assert lines[0] == HEADER, path.name
        assert len(lines) > 1, path.name
        assert all(line.endswith(",") for line in lines[1:50]), path.name
        assert {line.count(",") for line in lines} == {len(CANONICAL_COLUMNS)}, path.name


def test_rows_per_month_sum_to_the_year(decade):
    folder, written = decade
    for year in written:
        data_lines = [len(p.read_text().splitlines()) - 1 for p in year.files]
        assert tuple(data_lines) == year.rows_per_month
        assert year.rows == sum(data_lines)
        # Flights per airport-day are Poisson draws around the requested total.
        assert abs(year.rows - ROWS) <= 0.03 * ROWS


def test_months_partition_the_year(decade):
    folder, _ = decade
    seen = set()
    for path in sorted(folder.glob("*.csv")):
        year, month = (int(x) for x in path.stem.split("-"))
        dates = pd.to_datetime(pd.read_csv(path, usecols=["FL_DATE"])["FL_DATE"])
        assert (dates.dt.year == year).all() and (dates.dt.month == month).all(), path.name
        seen |= set(dates.dt.date)
    # Every day of both years has flights, in exactly the month file it belongs to.
    first, last = dt.date(2013, 1, 1), dt.date(2014, 12, 31)
    assert seen == {first + dt.timedelta(days=i) for i in range((last - first).days + 1)}


def test_truth_names_airport_days_that_are_in_the_files(decade):
    folder, written = decade
    for year in written:
        truth = pd.read_csv(year.anomalies_path, dtype=str)
        assert len(truth) == year.anomalies > 0
        assert truth["fl_date"].str.startswith(str(year.year)).all()
        flights = pd.concat(pd.read_csv(p, usecols=["FL_DATE", "ORIGIN"]) for p in year.files)
        assert set(truth["origin"]) <= set(flights["ORIGIN"])


def test_a_seed_reproduces_the_decade_and_one_year_alone(decade, tmp_path):
    folder, _ = decade
    again = tmp_path / "again"
    synthetic.generate_decade(2013, 2, ROWS, again, n_origins=ORIGINS, seed=5)
    assert digests(again) == digests(folder)

    # A year is seeded from (seed, year): regenerated alone it is the same year.
    alone = tmp_path / "alone"
    synthetic.generate_months(2014, ROWS, alone, n_origins=ORIGINS, seed=5)
    expected = {k: v for k, v in digests(folder).items() if "2014" in k}
    assert digests(alone) == expected

    other = tmp_path / "other"
    synthetic.generate_months(2014, ROWS, other, n_origins=ORIGINS, seed=6)
    assert digests(other)["2014-03.csv"] != expected["2014-03.csv"]


def test_years_differ_but_share_their_airports(decade):
    _, (y2013, y2014) = decade
    a = pd.read_csv(y2013.files[2], usecols=["ORIGIN", "DEP_DELAY"])
    b = pd.read_csv(y2014.files[2], usecols=["ORIGIN", "DEP_DELAY"])
    codes = synthetic.airport_codes(ORIGINS, np.random.default_rng(5))
    assert set(a["ORIGIN"]) | set(b["ORIGIN"]) <= set(codes)
    assert not a["DEP_DELAY"].head(100).equals(b["DEP_DELAY"].head(100))


def test_skip_complete_leaves_finished_years_alone(decade, tmp_path):
    folder = tmp_path / "resume"
    synthetic.generate_months(2013, ROWS, folder, n_origins=ORIGINS, seed=5)
    before = digests(folder)
    written = synthetic.generate_decade(
        2013, 2, ROWS, folder, n_origins=ORIGINS, seed=5, skip_complete=True
    )
    assert written[0] is None and written[1].year == 2014
    assert {k: v for k, v in digests(folder).items() if k in before} == before


def test_daily_plan_is_the_decade_years_plan(decade):
    _, (y2013, _) = decade
    plan = synthetic.daily_plan(2013, ROWS, n_origins=ORIGINS, seed=5)
    flights = pd.concat(pd.read_csv(p, usecols=["FL_DATE", "ORIGIN"]) for p in y2013.files)
    # The files add a few duplicated and broken rows to the planned flights.
    assert plan["flights"].sum() <= len(flights) <= plan["flights"].sum() * 1.01
    assert set(plan["origin"]) == set(flights["ORIGIN"])


def test_single_year_cli_still_writes_one_file(tmp_path):
    out = tmp_path / "2015.csv"
    argv = ["--year", "2015", "--rows", "3000", "--origins", "80"]
    assert synthetic.main([*argv, "--out", str(out)]) == 0
    assert out.read_text().splitlines()[0] == HEADER
    assert out.with_name("2015.csv.anomalies.csv").exists()


def test_decade_cli(tmp_path):
    argv = ["--decade", "2017", "--years", "2", "--rows", "2000", "--origins", "80"]
    assert synthetic.main([*argv, "--out", str(tmp_path)]) == 0
    assert len(list(tmp_path.glob("201[78]-[01][0-9].csv"))) == 24
