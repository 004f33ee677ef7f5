"""UI smoke test: the running webserver's global asset graph shows both code locations.

Real headless Chromium (Debian's, through chromedriver) against the real
webserver of the ``dagster_server`` fixture; the screenshot goes to
``test-artifacts/asset-graph.png``.
"""

import time

import requests

LOCATIONS_QUERY = """{ assetNodes { assetKey { path } repository { location { name } } } }"""


def _assets_by_location(url):
    body = requests.post(f"{url}/graphql", json={"query": LOCATIONS_QUERY}, timeout=30).json()
    by_location = {}
    for node in body["data"]["assetNodes"]:
        location = node["repository"]["location"]["name"]
        by_location.setdefault(location, set()).add("/".join(node["assetKey"]["path"]))
    return by_location


def test_asset_graph_shows_both_code_locations(dagster_server, browser, artifacts_dir):
    by_location = _assets_by_location(dagster_server.url)
    assert by_location.get("rt"), f"no rt assets served: {by_location}"
    assert by_location.get("lake"), f"no lake assets served: {by_location}"

    browser.get(f"{dagster_server.url}/asset-groups")
    # Node labels show the last path component of each key.
    expected = {loc: {k.split("/")[-1] for k in keys} for loc, keys in by_location.items()}
    deadline = time.monotonic() + 90
    missing = expected
    while time.monotonic() < deadline:
        text = browser.find_element("tag name", "body").text
        missing = {loc: {n for n in names if n not in text} for loc, names in expected.items()}
        if not any(missing.values()):
            break
        time.sleep(1)
    artifacts_dir.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(artifacts_dir / "asset-graph.png"))
    assert not any(missing.values()), f"asset graph lacks {missing}"
