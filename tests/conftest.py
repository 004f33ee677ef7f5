"""Shared fixtures: every module in tests/fixtures/ is a pytest plugin.

Each fixture module owns one real service (PostgreSQL, an S3 server, a Dagster
webserver and daemon, a headless browser), started on 127.0.0.1 and stopped by
the fixture.
"""

import pathlib

import pytest

pytest_plugins = sorted(
    f"tests.fixtures.{p.stem}"
    for p in (pathlib.Path(__file__).parent / "fixtures").glob("*.py")
    if p.stem != "__init__"
)


@pytest.fixture(autouse=True)
def _fresh_defs_state_storage():
    """Each test starts with no "current" Dagster defs-state storage.

    Entering a DagsterInstance sets a context variable (dagster._core.storage.defs_state)
    that outlives some tests' instances; a later test that loads definitions then reads
    state through a dead instance ("Attempted to resolve undefined DagsterInstance
    weakref"), depending only on test order. Private API: Dagster has no public reset.
    """
    from dagster._core.storage.defs_state.base import set_defs_state_storage

    with set_defs_state_storage(None):
        yield
