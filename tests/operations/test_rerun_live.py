"""The re-run command against a real dagster-webserver + dagster-daemon on 127.0.0.1.

1 date x 2 states with the fast preset, from nothing (``--from rt/raw_counts``): the
command launches the backfill through GraphQL, waits for it, and exactly the
partitions from the snapshot on for that date and those states are materialized. (Date ranges
and lists are parsed in test_rerun_parsing.py; every partition here costs the daemon a
run of its own, so the live test keeps to the smallest backfill that shows "exactly".)
"""

import subprocess
import sys

import dagster as dg
import pytest

from tests.fixtures.dagster_server import REPO_ROOT

pytestmark = [pytest.mark.services, pytest.mark.slow]

DATES = ["2020-05-01"]
STATES = ["NY", "WA"]
DATE_ASSETS = [
    "national_csv",
    "staged_msgpack",
    "published_msgpack",
    "published_csv",
]
DATE_STATE_ASSETS = ["raw_counts", "processed_counts", "inference", "summary"]


def test_rerun_backfills_exactly_the_requested_partitions(dagster_server):
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
        "--from",
        "rt/raw_counts",
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
    for date in DATES:
        assert (dagster_server.lake / "rt" / "published_csv" / f"{date}.csv").exists()
