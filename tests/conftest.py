"""Shared fixtures: every module in tests/fixtures/ is a pytest plugin.

Each fixture module owns one real service (PostgreSQL, an S3 server, a Dagster
webserver and daemon, a headless browser), started on 127.0.0.1 and stopped by
the fixture.
"""

import pathlib

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (pathlib.Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)
