"""Configured secrets never reach logs, the event log, asset metadata or the lake.

The session's good-day run (tests/reliability/conftest.py) is made with unique
sentinel values in AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, SLACK_TOKEN, the
alert webhook URL, PGPASSWORD, DAGSTER_PG_PASSWORD and a WAREHOUSE_URL with a
password. Every log line printed or logged, every stored event (with all
materialization and check metadata), every file of the Dagster instance
(event log, run storage, compute logs) and every object of the lake is searched
for them.
"""

from __future__ import annotations

import os
from pathlib import Path

from dagster._serdes import serialize_value

from tests.reliability.rt_runs import SECRET_SENTINELS


def leaks(text: str | bytes) -> list[str]:
    data = text.encode() if isinstance(text, str) else text
    return [name for name, value in SECRET_SENTINELS.items() if value.encode() in data]


def test_run_really_happened_with_secrets_configured(published_good_day):
    run = published_good_day
    assert run.results["publish"].success
    assert any("rt__inference" in line for line in run.log_lines), "logs were not captured"


def test_secrets_do_not_outlive_the_run(published_good_day):
    assert published_good_day.results["counts"].success
    for name, value in SECRET_SENTINELS.items():
        assert os.environ.get(name) != value, f"{name} leaked into the rest of the session"


def test_no_secret_in_logs(published_good_day):
    found = {name for line in published_good_day.log_lines for name in leaks(line)}
    assert not found, f"secret values printed or logged: {sorted(found)}"


def test_no_secret_in_event_log_or_metadata(published_good_day):
    run = published_good_day
    events = 0
    for result in run.results.values():
        for entry in run.instance.all_logs(result.run_id):
            events += 1
            assert not leaks(serialize_value(entry)), f"secret in event {entry.message!r}"
    assert events > 50
    materializations = [
        e for r in run.results.values() for e in r.all_events if e.is_step_materialization
    ]
    assert materializations
    for event in materializations:
        assert not leaks(serialize_value(event.event_specific_data))


def test_no_secret_in_instance_files_or_lake(published_good_day):
    run = published_good_day
    roots = [Path(run.instance.root_directory), run.lake]
    scanned = 0
    for root in roots:
        for path in root.rglob("*"):
            if path.is_file():
                scanned += 1
                assert not leaks(path.read_bytes()), f"secret stored in {path}"
    assert scanned > 10
