"""Bad flight files through the real reader and cleaner of the lake's silver step.

A missing required column or an empty file fails with the file and columns
named; bad rows are quarantined with a reason and counted, never dropped in
silence and never carried into silver (so nothing reaches gold or the
warehouse from them).
"""

from __future__ import annotations

import pyarrow.compute as pc
import pytest

from lake_assets import cleaning
from tests.reliability.cases import CORPUS, FLIGHT_CASES, FLIGHT_QUARANTINE, FLIGHT_YEAR, Case

YEAR = int(FLIGHT_YEAR)
SILVER_ROWS = {
    "flights_unparseable_dates_2013.csv": 398,
    "flights_absurd_delays_2013.csv": 398,
    "flights_repeated_header_2013.csv": 400,
    "flights_wrong_year_2013.csv": 0,
}


def clean_file(path) -> cleaning.CleanResult:
    table, malformed = cleaning.read_raw(path.read_bytes(), source=path.name)
    return cleaning.clean(table, YEAR, malformed)


@pytest.fixture(scope="module")
def good() -> cleaning.CleanResult:
    return clean_file(CORPUS / "flights_good_2013.csv")


def test_good_file_is_clean(good):
    assert good.counts["silver_rows"] == 400
    assert good.counts["quarantined_rows"] == 0


@pytest.mark.parametrize("case", FLIGHT_CASES, ids=lambda c: c.id)
def test_flight_case(case: Case, good):
    if case.outcome == "fail":
        with pytest.raises(cleaning.RawFileError) as info:
            clean_file(case.path)
        for fragment in case.mentions:
            assert fragment in str(info.value), (fragment, str(info.value))
        return
    result = clean_file(case.path)
    expected = FLIGHT_QUARANTINE[case.file]
    assert result.quarantine_reasons == expected
    assert result.counts["quarantined_rows"] == sum(expected.values())
    # Every row is accounted for: silver + quarantine + duplicates = rows read.
    assert (
        result.counts["silver_rows"]
        + result.counts["quarantined_rows"]
        + result.counts["duplicates_dropped"]
        == result.counts["rows_read"]
    )
    # Nothing bad in silver: every date in the year, every delay within bounds.
    silver = result.silver
    if silver.num_rows:
        assert pc.all(pc.equal(pc.year(silver["fl_date"]), YEAR)).as_py()
        low, high = cleaning.DELAY_BOUNDS
        delays = pc.drop_null(silver["dep_delay"])
        assert pc.min(delays).as_py() >= low and pc.max(delays).as_py() <= high
    # The good rows of the file all reach silver (the repeated header is not a row).
    assert result.counts["silver_rows"] == SILVER_ROWS[case.file]
