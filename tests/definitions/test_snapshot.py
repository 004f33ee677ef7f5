"""Both code locations define exactly what `snapshot.json` records: asset keys, deps,
partitions, tags, op tags, code versions, checks, jobs, schedules, sensors, resources.

A restructuring must leave this unchanged. An intended change of the definitions
regenerates the file (`uv run python -m tests.definitions.snapshot`) in the same commit.
The picture is taken in a fresh interpreter with no deployment settings in its
environment (the defaults, whatever other tests set or imported) and with
DeprecationWarning as an error: both locations load on Dagster's current APIs (the
suite does not silence deprecations globally).
"""

import json
import os
import subprocess
import sys

from tests.definitions.snapshot import SNAPSHOT

REPO = SNAPSHOT.parents[2]


def test_definitions_match_the_snapshot(tmp_path):
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "DAGSTER_HOME": str(tmp_path)}
    out = subprocess.run(
        [
            sys.executable,
            "-W",
            "error::DeprecationWarning",
            "-m",
            "tests.definitions.snapshot",
            "--print",
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
    ).stdout
    now, recorded = json.loads(out), json.loads(SNAPSHOT.read_text())
    for location in ("rt", "lake"):
        for part in ("assets", "jobs", "schedules", "sensors", "resources"):
            assert now[location][part] == recorded[location][part], (location, part)
    assert now == recorded
