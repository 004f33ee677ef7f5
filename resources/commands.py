"""What the demos and commands of both code locations share: where their runs are
recorded (a local DAGSTER_HOME, where `make ui` looks) and a quiet Dagster console."""

from __future__ import annotations

from pathlib import Path

from resources.settings import dagster_home, export_dagster_home

DAGSTER_YAML = """\
# Written by the rt / lake commands: local run storage for them and the UI.
telemetry:
  enabled: false
"""

# Dagster's console logger prints every event of a run (DEBUG by default). The commands
# print their own progress and results; the events stay in each run's logs (the UI).
QUIET_CONSOLE = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}


def ensure_dagster_home() -> Path:
    """``$DAGSTER_HOME``, default ``./.dagster``, with a dagster.yaml; exported for workers."""
    home = dagster_home()
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML)
    export_dagster_home(home)
    return home
