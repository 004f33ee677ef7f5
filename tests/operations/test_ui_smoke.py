"""UI smoke test: the running webserver's global asset graph shows both code locations.

Real headless Chromium (Debian's, through chromedriver) against the real
webserver of the ``dagster_server`` fixture; the screenshot goes to
``test-artifacts/asset-graph-<location>.png``.
"""

import time

import pytest
import requests

pytestmark = [pytest.mark.services, pytest.mark.browser]

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

    artifacts_dir.mkdir(parents=True, exist_ok=True)
    # Wide enough that the graph is drawn at a zoom where node labels are not elided.
    browser.set_window_size(1920, 1080)
    # Each location's asset group page draws its graph with every asset expanded
    # (the global lineage page folds groups into boxes).
    for location, keys in sorted(by_location.items()):
        group = location  # group `rt` in location `rt`, group `lake` in location `lake`
        browser.get(
            f"{dagster_server.url}/locations/__repository__@{location}/asset-groups/{group}"
        )
        expected = {k.split("/")[-1] for k in keys}  # node labels show the last key part
        missing = expected
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            # first visit: a "Join the Dagster community" dialog covers the graph
            for button in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
                button.click()
            text = browser.find_element("tag name", "body").text
            missing = {name for name in expected if name not in text}
            if not missing:
                break
            time.sleep(1)
        # the dialog can appear after the graph: dismiss it before the screenshot
        settle = time.monotonic() + 5
        while time.monotonic() < settle:
            for button in browser.find_elements("xpath", "//button[normalize-space()='Skip']"):
                button.click()
            time.sleep(0.5)
        browser.save_screenshot(str(artifacts_dir / f"asset-graph-{location}.png"))
        assert not missing, f"the {location} asset graph lacks {sorted(missing)}"
