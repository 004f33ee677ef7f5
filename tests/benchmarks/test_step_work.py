"""The step_work benchmark runs end to end on a short series (the fast preset): it checks
the product's diagnostics against ArviZ's and prints one table row per state."""

import pytest

from benchmarks import step_work

pytestmark = pytest.mark.slow  # fits a model


def test_step_work_prints_a_row_per_state(capsys):
    assert step_work.main(["--states", "VT", "--run-date", "2020-04-15", "--repeat", "1",
                           "--preset", "fast"]) == 0  # fmt: skip
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| state | dates |") and len(lines) == 3
    cells = [c.strip() for c in lines[2].strip("|").split("|")]
    assert cells[0] == "VT" and int(cells[1]) > 30
    # "old → new (ratio)" in each timed column; the bytes column "zlib → plain".
    assert all("→" in c for c in cells[2:])
