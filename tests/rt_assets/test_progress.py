"""The daily run's progress: time-left estimate and the lines and status line it prints."""

import io

import pytest

from rt_assets.progress import (
    LineDisplay,
    LiveDisplay,
    Progress,
    estimate_left,
    format_duration,
)


@pytest.mark.parametrize(
    ("seconds", "text"),
    [(0, "0s"), (44.6, "45s"), (60, "1m00s"), (185, "3m05s"), (3720, "1h02m"), (-3, "0s")],
)
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text


def test_no_estimate_before_a_state_has_finished():
    assert estimate_left([], [10.0], pending=5, parallel=2) is None


def test_estimate_spreads_the_states_left_over_the_workers():
    # Mean 60 s; 4 pending on 2 idle workers: two rounds.
    assert estimate_left([50.0, 70.0], [], pending=4, parallel=2) == 120.0
    # One worker busy for 20 s more, the other free: the 3 pending go 0-60, 20-80, 60-120.
    assert estimate_left([60.0], [40.0], pending=3, parallel=2) == 120.0
    # The last state running: the rest of the mean, and never negative.
    assert estimate_left([60.0], [45.0], pending=0, parallel=2) == 15.0
    assert estimate_left([60.0], [90.0], pending=0, parallel=2) == 0.0
    # One at a time: everything in a row.
    assert estimate_left([30.0], [], pending=3, parallel=1) == 90.0


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_line_display_prints_one_line_per_event():
    clock, out = Clock(), io.StringIO()
    display = LineDisplay(["VT", "NH", "RI"], parallel=2, out=out, clock=clock)
    display(Progress("phase", 1, message="counts for 2020-05-15"))
    clock.now = 5
    display(Progress("phase", 2, message="inference for 3 states, 2 at a time"))
    display(Progress("started", 2, "VT"))
    display(Progress("started", 2, "NH"))
    clock.now = 65
    display(Progress("finished", 2, "NH", seconds=58))
    display(Progress("started", 2, "RI"))
    clock.now = 80
    display(Progress("failed", 2, "VT", seconds=74, message="check inference_converged failed"))
    clock.now = 130
    display(Progress("finished", 2, "RI", seconds=50))
    display(Progress("phase", 3, message="national CSV, staging, promotion"))
    display(Progress("finished", 3, message="published"))
    assert out.getvalue().splitlines() == [
        "[    0s] phase 1/3: counts for 2020-05-15",
        "[    5s] phase 2/3: inference for 3 states, 2 at a time",
        "[    5s] VT started | 0/3 states done, 1 running (VT) | 5s elapsed"
        " | time left: estimating",
        "[    5s] NH started | 0/3 states done, 2 running (VT, NH) | 5s elapsed"
        " | time left: estimating",
        # VT has run past the mean (58 s); RI, about to start, will take it.
        "[ 1m05s] NH done in 58s | 1/3 states done, 1 running (VT) | 1m05s elapsed | ~58s left",
        "[ 1m05s] RI started | 1/3 states done, 2 running (VT, RI) | 1m05s elapsed | ~58s left",
        "[ 1m20s] VT FAILED after 1m14s: check inference_converged failed"
        " | 2/3 states done, 1 running (RI), 1 failed | 1m20s elapsed | ~51s left",
        "[ 2m10s] RI done in 50s | 3/3 states done, 1 failed | 2m10s elapsed",
        "[ 2m10s] phase 3/3: national CSV, staging, promotion",
        "[ 2m10s] phase 3/3 finished: published",
    ]


def test_live_display_keeps_a_status_line_below_the_event_lines():
    clock, out = Clock(), io.StringIO()
    # A refresh far in the future: only the events draw, so the output is deterministic.
    with LiveDisplay(["VT", "NH"], 2, out=out, clock=clock, refresh_s=3600) as display:
        display(Progress("phase", 2, message="inference for 2 states, 2 at a time"))
        clock.now = 3
        display(Progress("started", 2, "VT"))
    text = out.getvalue()
    clear = LiveDisplay.CLEAR
    assert text.startswith(clear + "[    0s] phase 2/3: inference")
    # Each event: clear the status line, print the event line, redraw the status below it.
    assert "\nphase 2/3 | 0/2 states done | 0s elapsed | time left: estimating" + clear in text
    assert text.endswith(
        "\nphase 2/3 | 0/2 states done, 1 running (VT) | 3s elapsed | time left: estimating" + clear
    )
