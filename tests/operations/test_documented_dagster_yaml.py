"""The dagster.yaml docs/operations.md shows is the one the live tests run the daemon with."""

import re
from pathlib import Path

import yaml

from tests.fixtures.dagster_server import write_dagster_yaml

DOCS = Path(__file__).parents[2] / "docs" / "operations.md"


def test_the_documented_run_queue_is_the_tested_one(tmp_path):
    text = DOCS.read_text()
    block = re.search(r"```yaml\n# \$DAGSTER_HOME/dagster.yaml\n(.*?)```", text, re.S)
    assert block, "docs/operations.md lost its dagster.yaml example"
    documented = yaml.safe_load(block.group(1))
    runs = documented["concurrency"]["runs"]["max_concurrent_runs"]
    pool = documented["concurrency"]["pools"]["default_limit"]
    interval = documented["run_coordinator"]["config"]["dequeue_interval_seconds"]
    write_dagster_yaml(tmp_path, max_runs=runs, pool_limit=pool, dequeue_interval=interval)
    tested = yaml.safe_load((tmp_path / "dagster.yaml").read_text())
    assert tested["concurrency"] == documented["concurrency"]
    assert tested["run_coordinator"] == documented["run_coordinator"]
    # and the fixture's default is the documented interval
    write_dagster_yaml(tmp_path / "default")
    default = yaml.safe_load((tmp_path / "default" / "dagster.yaml").read_text())
    assert default["run_coordinator"] == documented["run_coordinator"]
