"""workspace.yaml loads both code locations in a real webserver.

Uses the session's ``dagster_server`` fixture (tests/fixtures/dagster_server.py):
``dagster-webserver -w workspace.yaml`` on a free 127.0.0.1 port with a
temporary DAGSTER_HOME, stopped by its process group id. Asked through
GraphQL, each location must list its own assets and nothing of the other's.
"""

import pytest
import requests

pytestmark = pytest.mark.services

QUERY = """
{ workspaceOrError { __typename ... on Workspace { locationEntries {
    name
    locationOrLoadError {
      __typename
      ... on PythonError { message }
      ... on RepositoryLocation { repositories { name assetNodes { assetKey { path } } } }
    }
} } } }
"""


def test_webserver_lists_both_locations_assets(dagster_server):
    body = requests.post(f"{dagster_server.url}/graphql", json={"query": QUERY}, timeout=60).json()
    assert "errors" not in body, body.get("errors")
    entries = {e["name"]: e for e in body["data"]["workspaceOrError"]["locationEntries"]}
    assert sorted(entries) == ["lake", "rt"]
    keys = {}
    for name, entry in entries.items():
        location = entry["locationOrLoadError"]
        assert location["__typename"] == "RepositoryLocation", location
        keys[name] = {
            "/".join(node["assetKey"]["path"])
            for repo in location["repositories"]
            for node in repo["assetNodes"]
        }
    assert {"rt/raw_counts", "rt/processed_counts", "rt/inference", "rt/summary"} <= keys["rt"]
    assert {"lake/bronze_flights", "lake/silver_flights", "lake/warehouse_delay_table"} <= keys[
        "lake"
    ]
    assert all(k.startswith("rt/") for k in keys["rt"]), keys["rt"]
    assert all(k.startswith("lake/") for k in keys["lake"]), keys["lake"]
