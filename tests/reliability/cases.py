"""The bad-input corpus: each file in ``corpus/`` and the outcome decided for it.

Outcomes (docs/guarantees.md explains the choice for each row):
- ``fail``: the named step fails; its message names the file, the column and
  the rows at fault (every fragment in ``mentions`` must appear);
- ``quarantine``: the bad rows or days are set aside with a reason, and the
  counts show in the materialization metadata;
- ``ignored``: the rows are outside what the run may use, by design.
In every case nothing is published from the bad data and yesterday's
production files stay byte-identical.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

CORPUS = Path(__file__).parent / "corpus"

GOOD_DAY = "2020-04-30"  # published from covid_good.csv before each bad day
BAD_DAY = "2020-05-01"  # the run that reads the bad file
FLIGHT_YEAR = "2013"


@dataclass(frozen=True)
class Case:
    file: str
    outcome: str  # "fail" | "quarantine" | "ignored"
    step: str  # the step that decides
    mentions: tuple[str, ...] = ()  # fragments the failure message or reason must contain
    why: str = ""

    @property
    def path(self) -> Path:
        return CORPUS / self.file

    @property
    def id(self) -> str:
        return self.file.removesuffix(".csv")


COVID_CASES = [
    Case(
        "covid_missing_columns.csv",
        "fail",
        "rt/raw_counts",
        ("covid_missing_columns.csv", "totalTestResults"),
        "no test counts, no positivity: nothing can be estimated",
    ),
    Case(
        "covid_non_numeric.csv",
        "fail",
        "rt/raw_counts",
        ("covid_non_numeric.csv", "'positive'", "line", "81O"),
        "a count that is not a number is a broken file, not a missing day",
    ),
    Case(
        "covid_cumulative_drop.csv",
        "quarantine",
        "rt/processed_counts",
        ("cumulative", "positive"),
        "real archives hold such revisions (24 in the final one): rt.live clips the negative "
        "change; the drop day and the rebound day are excluded with a reason",
    ),
    Case(
        "covid_duplicate_rows.csv",
        "fail",
        "rt/raw_counts",
        ("covid_duplicate_rows.csv", "duplicate", "(state, date)", "lines"),
        "two different counts for one day: which one is right cannot be decided",
    ),
    Case(
        "covid_unknown_state.csv",
        "quarantine",
        "rt/raw_counts",
        ("XV",),
        "a new code must not block the 51 regions: left out of the counts, named with its rows",
    ),
    Case(
        "covid_empty.csv",
        "fail",
        "rt/raw_counts",
        ("covid_empty.csv",),
        "an empty download",
    ),
    Case(
        "covid_truncated.csv",
        "fail",
        "rt/raw_counts",
        ("covid_truncated.csv", "line", "fields"),
        "an interrupted download: the last line has fewer fields than the header",
    ),
    Case(
        "covid_non_utf8.csv",
        "fail",
        "rt/raw_counts",
        ("covid_non_utf8.csv", "UTF-8", "line"),
        "bytes that are not text: the file is corrupt or in another encoding",
    ),
    Case(
        "covid_future_dates.csv",
        "ignored",
        "rt/processed_counts",
        (),
        "a run for day D uses data up to D-1 only (backfills read the whole archive)",
    ),
    Case(
        "covid_zero_tests.csv",
        "quarantine",
        "rt/processed_counts",
        ("positives >= tests",),
        "every day excluded (no positivity signal); the state's inference fails and the state "
        "is left out; with no state left nothing is published",
    ),
    Case(
        "covid_no_positives.csv",
        "fail",
        "rt/inference",
        ("VT", "positive"),
        "no positives yet: no epidemic to estimate for that state; it is left out",
    ),
]

FLIGHT_CASES = [
    Case(
        "flights_missing_dep_delay_2013.csv",
        "fail",
        "lake/silver_flights",
        ("flights_missing_dep_delay_2013.csv", "DEP_DELAY"),
        "the delay is the product",
    ),
    Case(
        "flights_missing_fl_date_2013.csv",
        "fail",
        "lake/silver_flights",
        ("flights_missing_fl_date_2013.csv", "FL_DATE"),
        "rows without a date cannot be placed",
    ),
    Case(
        "flights_unparseable_dates_2013.csv",
        "quarantine",
        "lake/silver_flights",
        ("unparseable FL_DATE",),
        "single bad rows in a 7-million-row year must not stop the year",
    ),
    Case(
        "flights_absurd_delays_2013.csv",
        "quarantine",
        "lake/silver_flights",
        ("impossible DEP_DELAY",),
        "values outside -1 day .. +2 days cannot be real",
    ),
    Case(
        "flights_empty_2013.csv",
        "fail",
        "lake/silver_flights",
        ("flights_empty_2013.csv", "FL_DATE"),
        "an empty upload",
    ),
    Case(
        "flights_repeated_header_2013.csv",
        "quarantine",
        "lake/silver_flights",
        ("unparseable FL_DATE",),
        "concatenated files: the extra header line is set aside, the rows are kept",
    ),
    Case(
        "flights_wrong_year_2013.csv",
        "quarantine",
        "lake/silver_flights",
        ("FL_DATE outside year",),
        "every row set aside: nothing of 2012 enters the 2013 partition",
    ),
]

# Expected quarantine counts (rows) of the flight cases, per reason.
FLIGHT_QUARANTINE = {
    "flights_unparseable_dates_2013.csv": {"unparseable FL_DATE": 2},
    "flights_absurd_delays_2013.csv": {"impossible DEP_DELAY": 2},
    "flights_repeated_header_2013.csv": {"unparseable FL_DATE": 1},
    "flights_wrong_year_2013.csv": {"FL_DATE outside year": 400},
}
