"""Published msgpack documents made up for tests, in the agreed rtlive-msgpack/1 format."""

from __future__ import annotations

import datetime as dt
import math

import msgpack

from rt_assets.sources import STATES

STATE_CODES = sorted(STATES)


def rt_series(index: int, days: int) -> dict[str, list[float]]:
    """A smooth, state-specific Rt curve with an interval that narrows over time."""
    mean, median, lower, upper = [], [], [], []
    for t in range(days):
        centre = (
            1.0
            + 0.35 * math.exp(-t / 25) * math.cos(t / 9 + index)
            + 0.12 * math.sin(t / 17 + 0.7 * index)
        )
        half = 0.08 + 0.25 * math.exp(-t / 30)
        median.append(round(centre, 4))
        mean.append(round(centre + 0.005, 4))
        lower.append(round(centre - half, 4))
        upper.append(round(centre + half * 1.1, 4))
    return {"mean": mean, "median": median, "lower_80": lower, "upper_80": upper}


def count_series(index: int, days: int) -> dict[str, list]:
    """Daily positive tests, tests and infections shaped like a first wave.

    ``positive``/``tests`` are whole numbers with a nil day (a day the model did not
    see), as the pipeline publishes them; ``infections`` run a few days ahead.
    """
    scale = 40 * (1 + index % 7)
    positive, tests, infections = [], [], []
    for t in range(days):
        wave = math.exp(-(((t - 45 - index % 9) / 22) ** 2))
        positive.append(round(scale * (0.2 + wave)))
        tests.append(round(scale * (4 + 6 * t / days) * 4))
        ahead = math.exp(-(((t - 40 - index % 9) / 22) ** 2))
        infections.append(round(scale * (0.2 + ahead) * 1.05, 1))
    positive[days // 2] = None
    tests[days // 2] = None
    return {"positive": positive, "tests": tests, "infections": infections}


def make_document(
    run_date: str = "2021-03-07",
    states: tuple[str, ...] | list[str] = tuple(STATE_CODES),
    days: int = 120,
    excluded: dict[str, str] | None = None,
    model_version: str = "rtlive-generative-test",
    counts: bool = True,
) -> dict:
    end = dt.date.fromisoformat(run_date) - dt.timedelta(days=1)
    dates = [(end - dt.timedelta(days=days - 1 - i)).isoformat() for i in range(days)]
    return {
        "format": "rtlive-msgpack/1",
        "run_date": run_date,
        "model_version": model_version,
        "preset": "fast",
        "states": {
            state: {
                "dates": list(dates),
                **rt_series(i, days),
                **(count_series(i, days) if counts else {}),
            }
            for i, state in enumerate(sorted(states))
        },
        "excluded": dict(excluded or {}),
    }


def pack(doc: dict) -> bytes:
    return msgpack.packb(doc, use_bin_type=True)
