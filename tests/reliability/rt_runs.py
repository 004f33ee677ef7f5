"""Running the rt pipeline's phases in tests, and the secrets the runs are made with.

The session fixture ``published_good_day`` (tests/fixtures/rt_good_day.py) is
built with these helpers; the reliability and security tests share it.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import dagster as dg
import pytest

from rt_assets import keys, pipeline
from rt_assets.partitions import date_state_key

# Unique values a leak would carry verbatim into logs, events or metadata.
SECRET_SENTINELS = {
    "AWS_SECRET_ACCESS_KEY": "sentinel-aws-secret-5f3a9c1e7b",
    "AWS_SESSION_TOKEN": "sentinel-aws-session-8d2b6e4f0a",
    "SLACK_TOKEN": "xoxb-sentinel-slack-3c7e1a9f5d",
    "ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook/sentinel-webhook-4b8f2d6a1c",
    "PGPASSWORD": "sentinel-pg-password-7a1c5e9b3d",
    "DAGSTER_PG_PASSWORD": "sentinel-dagster-pg-2e6a0c4f8b",
}
SECRET_ENV = {
    **SECRET_SENTINELS,
    "AWS_ACCESS_KEY_ID": "AKIASENTINELKEYID000",
    "WAREHOUSE_URL": (
        "postgresql+psycopg://lake:" + SECRET_SENTINELS["PGPASSWORD"] + "@127.0.0.1:9/warehouse"
    ),
}

PUBLISHED = ("rt/published_csv/{d}.csv", "rt/published_msgpack/{d}.msgpack")
OUTPUTS = (
    *PUBLISHED,
    "rt/national_csv/{d}.csv",
    "rt/staged_msgpack/{d}.msgpack",
)


class Collect(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.records.append(self.format(record))
        except Exception:
            self.records.append(str(record.msg))


@dataclass
class RtRun:
    lake: Path
    instance: dg.DagsterInstance
    results: dict[str, dg.ExecuteInProcessResult] = field(default_factory=dict)
    log_lines: list[str] = field(default_factory=list)

    def files(self, day: str) -> dict[str, bytes]:
        out = {}
        for pattern in OUTPUTS:
            path = self.lake / pattern.format(d=day)
            if path.exists():
                out[pattern.format(d=day)] = path.read_bytes()
        return out


def lake_tree(lake: Path) -> dict[str, bytes]:
    """Every file under the lake (relative path -> bytes)."""
    return {
        str(p.relative_to(lake)): p.read_bytes()
        for p in sorted(lake.rglob("*"))
        if p.is_file() and p.suffix != ".sqlite"
    }


def published_under(lake: Path) -> list[str]:
    root = lake / "rt"
    return sorted(
        str(p.relative_to(lake))
        for sub in ("published_csv", "published_msgpack")
        for p in (root / sub).glob("*")
    )


# The counts of one state: the slice of the day's snapshot and the corrected counts.
COUNTS = [keys.RAW_COUNTS, keys.PROCESSED_COUNTS]


def run_counts(
    day: str, instance: dg.DagsterInstance, state: str = "VT"
) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        pipeline.ALL_ASSETS,
        selection=COUNTS,
        partition_key=date_state_key(day, state),
        instance=instance,
        resources=pipeline.default_resources(),
        raise_on_error=False,
    )


def run_state(day: str, state: str, instance: dg.DagsterInstance) -> dg.ExecuteInProcessResult:
    return dg.materialize(
        pipeline.ALL_ASSETS,
        selection=pipeline.PHASE_STATE,
        partition_key=date_state_key(day, state),
        instance=instance,
        resources=pipeline.default_resources(),
        raise_on_error=False,
    )


def run_day(
    day: str, presets: dict[str, str], instance: dg.DagsterInstance, mp: pytest.MonkeyPatch
) -> dict[str, dg.ExecuteInProcessResult]:
    """The three phases for ``day``, each state with its own sampler preset."""
    results = {"counts": run_counts(day, instance, next(iter(presets)))}
    if not results["counts"].success:
        return results
    for state, preset in presets.items():
        mp.setenv("RT_SAMPLER_PRESET", preset)
        results[state] = run_state(day, state, instance)
    results["publish"] = pipeline.run_publication(day, instance)
    return results


def rt_env(mp: pytest.MonkeyPatch, lake: Path, source: Path) -> None:
    mp.setenv("LAKE_URL", str(lake))
    mp.setenv("COVID_SOURCE", str(source))
    mp.setenv("RT_SAMPLER_CORES", "1")
    mp.setenv("DAGSTER_DEPLOYMENT", "local")


def copy_lake(run: RtRun, dest: Path) -> Path:
    shutil.copytree(run.lake, dest)
    return dest
