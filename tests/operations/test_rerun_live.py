"""The re-run command against a real dagster-webserver + dagster-daemon on 127.0.0.1.

1 date x 2 states with the fast preset: the command launches the backfill
through GraphQL, waits for it, and exactly the partitions downstream of
rt/processed_counts for that date and those states are materialized. (Date ranges
and lists are parsed in test_rerun_parsing.py; every partition here costs the daemon a
run of its own, so the live test keeps to the smallest backfill that shows "exactly".)
"""

import subprocess
import sys

import dagster as dg
import pytest

from rt_assets.resources import rt_resources
from tests.fixtures.dagster_server import REPO_ROOT

pytestmark = [pytest.mark.services, pytest.mark.slow]

DATES = ["2020-05-01"]
STATES = ["NY", "WA"]
DATE_ASSETS = [
    "processed_counts",
    "national_csv",
    "staged_msgpack",
    "published_msgpack",
    "published_csv",
]
DATE_STATE_ASSETS = ["inference", "summary"]


def _materialize_raw_counts(server, monkeypatch):
    """The re-run starts at processed counts: its input snapshot must exist."""
    from rt_assets.definitions import defs

    monkeypatch.setenv("LAKE_URL", str(server.lake))
    raw = defs.get_assets_def(dg.AssetKey(["rt", "raw_counts"]))
    with server.instance() as instance:
        for date in DATES:
            result = dg.materialize(
                [raw], partition_key=date, instance=instance, resources=rt_resources()
            )
            assert result.success


def test_rerun_backfills_exactly_the_requested_partitions(dagster_server, monkeypatch):
    _materialize_raw_counts(dagster_server, monkeypatch)
    command = [
        sys.executable,
        "-m",
        "rt_assets.rerun",
        "--dates",
        ",".join(DATES),
        "--states",
        ",".join(STATES),
        "--url",
        dagster_server.url,
        "--wait",
        "--timeout",
        "1500",
    ]
    proc = subprocess.run(
        command,
        cwd=REPO_ROOT,
        env=dagster_server.env,
        capture_output=True,
        text=True,
        timeout=1560,
    )
    assert proc.returncode == 0, (
        f"rerun failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}\n"
        f"{dagster_server.log_tail()}"
    )
    assert f"{dagster_server.url}/runs/b/" in proc.stdout

    with dagster_server.instance() as instance:
        for name in DATE_ASSETS:
            got = instance.get_materialized_partitions(dg.AssetKey(["rt", name]))
            assert got == set(DATES), f"rt/{name}: {sorted(got)}"
        expected = {f"{d}|{s}" for d in DATES for s in STATES}
        for name in DATE_STATE_ASSETS:
            got = instance.get_materialized_partitions(dg.AssetKey(["rt", name]))
            assert got == expected, f"rt/{name}: {sorted(got)}"
        # Upstream of the re-run: only the snapshots this test made, not re-made.
        raw = instance.fetch_materializations(dg.AssetKey(["rt", "raw_counts"]), limit=10)
        assert len(raw.records) == len(DATES)
    for date in DATES:
        assert (dagster_server.lake / "rt" / "published_csv" / f"{date}.csv").exists()
