"""The ``rtlive-msgpack/1`` document: the one place that builds, packs, parses and checks it.

The pipeline writes it (rt/staged_msgpack, promoted to rt/published_msgpack), the web
page reads it (rt/site copies it as ``rt.msgpack``). Its layout is documented in
docs/rt-pipeline.md ("The msgpack document") and docs/site.md:

    {"format": "rtlive-msgpack/1", "run_date": "YYYY-MM-DD", "model_version": str,
     "preset": str, "excluded": {state: why},
     "states": {state: {"dates": [...], "mean": [...], "median": [...],
                        "lower_80": [...], "upper_80": [...],
                        "positive"?: [...], "tests"?: [...], "infections"?: [...]}}}

Pure: no Dagster import.
"""

from __future__ import annotations

import math
from typing import Any

import msgpack
import pandas as pd

DOCUMENT_FORMAT = "rtlive-msgpack/1"
REQUIRED_FIELDS = ("format", "run_date", "model_version", "preset", "states", "excluded")
RT_SERIES = ("mean", "median", "lower_80", "upper_80")
# Optional per-state series (added within rtlive-msgpack/1: readers that do not know them
# ignore them): the corrected daily positives and tests the model saw, and its expected
# infections (posterior mean, on the positives' scale). A day without a value is nil.
COUNT_SERIES = ("positive", "tests", "infections")


class DocumentError(ValueError):
    """Bytes or a map that are not an ``rtlive-msgpack/1`` document; the message names
    the source and the first fault."""


def build_document(
    national: pd.DataFrame,
    run_date: str,
    model_version: str,
    preset: str,
    excluded: dict[str, str] | None = None,
) -> dict:
    """The web front end's document: per state, dates and Rt arrays (4 decimals).

    Where ``national`` has them, each state also carries the ``COUNT_SERIES`` (one
    decimal, nil for a day without a value), which the page's per-state view charts.
    """
    counts = [c for c in COUNT_SERIES if c in national.columns]
    states: dict[str, dict] = {}
    for region, rows in national.groupby("region", sort=True):
        rows = rows.sort_values("date")
        entry: dict[str, list] = {"dates": [str(d)[:10] for d in rows["date"]]}
        for column in RT_SERIES:
            entry[column] = [round(float(v), 4) for v in rows[column]]
        for column in counts:
            entry[column] = [_count(v) for v in rows[column]]
        states[str(region)] = entry
    return {
        "format": DOCUMENT_FORMAT,
        "run_date": run_date,
        "model_version": model_version,
        "preset": preset,
        "states": states,
        "excluded": dict(sorted((excluded or {}).items())),
    }


def _count(value: object) -> float | int | None:
    """A count for the document: whole numbers as integers (smaller in MessagePack)."""
    number = float(value)  # type: ignore[arg-type]
    if not math.isfinite(number):
        return None
    number = round(number, 1)
    return int(number) if number.is_integer() else number


def pack(doc: dict) -> bytes:
    return msgpack.packb(doc, use_bin_type=True)


def parse_document(data: bytes, source: str) -> dict[str, Any]:
    """Decodes and checks a stored document; ``DocumentError`` names ``source`` and the fault."""
    try:
        doc = msgpack.unpackb(data, raw=False, strict_map_key=False)
    except (ValueError, TypeError, msgpack.UnpackException) as exc:
        raise DocumentError(f"{source}: not a valid MessagePack document ({exc})") from exc
    validate_document(doc, source)
    return doc


def validate_document(doc: object, source: str = "msgpack document") -> None:
    """Raise ``DocumentError`` unless ``doc`` follows ``rtlive-msgpack/1``."""
    if not isinstance(doc, dict):
        raise DocumentError(f"{source}: expected a map, got {type(doc).__name__}")
    if doc.get("format") != DOCUMENT_FORMAT:
        raise DocumentError(
            f"{source}: format is {doc.get('format')!r}, expected {DOCUMENT_FORMAT!r}"
        )
    for field in ("run_date", "model_version", "preset"):
        if not isinstance(doc.get(field), str):
            raise DocumentError(f"{source}: field {field!r} missing or not a string")
    if not isinstance(doc.get("excluded"), dict):
        raise DocumentError(f"{source}: field 'excluded' missing or not a map")
    states = doc.get("states")
    if not isinstance(states, dict):
        raise DocumentError(f"{source}: field 'states' missing or not a map")
    for state, series in states.items():
        _validate_state(state, series, source)


def _validate_state(state: str, series: object, source: str) -> None:
    dates = series.get("dates") if isinstance(series, dict) else None
    if not isinstance(dates, list) or not dates:
        raise DocumentError(f"{source}: state {state!r} has no dates")
    for name in (*RT_SERIES, *(c for c in COUNT_SERIES if c in series)):
        values = series.get(name)
        if not isinstance(values, list) or len(values) != len(dates):
            raise DocumentError(
                f"{source}: state {state!r} field {name!r} must be a list of "
                f"{len(dates)} values, one per date"
            )
        # Rt is always a finite number; a count may be nil (a day without a value).
        bad = [
            i
            for i, v in enumerate(values)
            if not (v is None and name in COUNT_SERIES) and not _finite_number(v)
        ]
        if bad:
            raise DocumentError(
                f"{source}: state {state!r} field {name!r} has non-finite or non-numeric "
                f"values at positions {bad[:5]}"
            )


def _finite_number(value: object) -> bool:
    return not isinstance(value, bool) and isinstance(value, int | float) and math.isfinite(value)
