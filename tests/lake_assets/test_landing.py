"""Landed file names -> pieces of a lake year (lake_assets/landing.py)."""

import pytest

from lake_assets.landing import LandingConflict, Piece, newest_piece, piece_of, year_pieces


@pytest.mark.parametrize(
    ("name", "piece"),
    [
        ("2014-03.csv", Piece("2014", 3)),
        ("2014_3.csv.gz", Piece("2014", 3)),
        ("On_Time_2014_12.CSV", Piece("2014", 12)),
        ("2013.csv", Piece("2013")),
        ("On_Time_2013.csv.gz", Piece("2013")),
    ],
)
def test_names_of_months_and_whole_years(name, piece):
    assert piece_of(name) == piece
    assert Piece.from_key(piece.key) == piece


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("2014-13.csv", "month 13 is not 1-12"),
        ("2014-00.csv", "month 0 is not 1-12"),
        ("flights_2015.parquet", "not a CSV file"),
        ("readme.txt", "not a CSV file"),
        ("x_2014_2015.csv", "several years ['2014', '2015']"),
        ("20140.csv", "no year in the file name"),
    ],
)
def test_names_that_are_not_pieces_say_why(name, why):
    reason = piece_of(name)
    assert isinstance(reason, str) and reason.startswith(why)
    assert reason.endswith(
        "expected a name like 2014-03.csv (a month) or 2013.csv (a whole year), or .csv.gz"
    )


def test_year_pieces_pick_the_year_and_refuse_mixes_and_doubles():
    names = ["2014-01.csv", "2014-02.csv.gz", "2013.csv", ".2014-03.csv.tmp", "notes.txt"]
    assert year_pieces(names, "2014") == {
        Piece("2014", 1): "2014-01.csv",
        Piece("2014", 2): "2014-02.csv.gz",
    }
    assert year_pieces(names, "2013") == {Piece("2013"): "2013.csv"}
    assert year_pieces(names, "2015") == {}
    with pytest.raises(LandingConflict, match=r"several files for the same piece of 2014"):
        year_pieces(["2014-01.csv", "2014_1.csv.gz"], "2014")
    with pytest.raises(LandingConflict, match=r"whole-year file 2014.csv and monthly files"):
        year_pieces(["2014.csv", "2014-05.csv"], "2014")


def test_newest_piece_is_the_latest_month_of_a_known_year():
    names = ["2013.csv", "2014-11.csv", "2014-02.csv", "2030-01.csv", "notes.txt"]
    assert newest_piece(names, {"2013", "2014"}) == Piece("2014", 11)
    assert newest_piece(names) == Piece("2030", 1)
    assert newest_piece(["notes.txt"]) is None
