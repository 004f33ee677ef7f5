"""The built page in real headless Chromium, served over HTTP on 127.0.0.1."""

from __future__ import annotations

import shutil
import threading

import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from rt_assets.serve_site import make_server
from tests.site.conftest import materialize_site, publish
from tests.site.documents import make_document, pack

DATE = "2021-03-07"
EXCLUDED = {"PR": "r_hat 1.31 above 1.1"}

# Pixels with any opacity on the chart canvas; an empty uPlot canvas has none.
DRAWN_PIXELS_JS = """
const canvas = document.querySelector('#chart canvas');
if (!canvas) return null;
const ctx = canvas.getContext('2d');
const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
let drawn = 0;
for (let i = 3; i < px.length; i += 4) if (px[i] > 0) drawn++;
return {width: canvas.width, height: canvas.height, drawn: drawn};
"""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One real materialized site plus a missing and corrupted copies, under one server."""
    lake = tmp_path_factory.mktemp("lake")
    doc = make_document(run_date=DATE, excluded=EXCLUDED)
    data = pack(doc)
    publish(lake, DATE, data)
    assert materialize_site(lake, DATE).success
    built = lake / "rt" / "site" / DATE
    root = tmp_path_factory.mktemp("www")
    variants = {
        "ok": None,
        "missing": None,
        "truncated": data[: len(data) // 3],
        "garbage": b"\xc1\xc1 this is not MessagePack",
        "wrong-format": pack({"format": "something-else/2", "states": {}}),
    }
    for name, replacement in variants.items():
        shutil.copytree(built, root / name)
        if name == "missing":
            (root / name / "rt.msgpack").unlink()
        elif replacement is not None:
            (root / name / "rt.msgpack").write_bytes(replacement)
    server = make_server(root, 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}", doc
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def open_page(browser, url, expect="true"):
    browser.get(url)
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.body.dataset.ready || null")
    )
    ready = browser.execute_script("return document.body.dataset.ready")
    message = browser.find_element(By.ID, "message").text
    assert ready == expect, f"page state {ready!r}, message {message!r}"


def test_page_lists_every_state_with_its_latest_rt(browser, served):
    base, doc = served
    open_page(browser, f"{base}/ok/")
    buttons = browser.find_elements(By.CSS_SELECTOR, "#state-list button.state")
    assert len(buttons) == len(doc["states"]) == 51
    assert {b.get_attribute("data-state") for b in buttons} == set(doc["states"])

    ny = doc["states"]["NY"]
    row = browser.find_element(By.CSS_SELECTOR, 'button.state[data-state="NY"]')
    assert float(row.get_attribute("data-median")) == ny["median"][-1]
    assert row.find_element(By.CLASS_NAME, "rt-value").text == f"{ny['median'][-1]:.2f}"
    interval = f"{ny['lower_80'][-1]:.2f}–{ny['upper_80'][-1]:.2f}"
    assert row.find_element(By.CLASS_NAME, "rt-interval").text == interval

    medians = [float(b.get_attribute("data-median")) for b in buttons]
    assert medians == sorted(medians, reverse=True)
    for b, median in zip(buttons, medians, strict=True):
        assert ("above" if median > 1 else "below") in b.get_attribute("class").split()
    assert {"above", "below"} <= {b.get_attribute("class").split()[1] for b in buttons}

    info = browser.find_element(By.ID, "run-info").text
    assert DATE in info and doc["model_version"] in info
    assert "reproduction number" in browser.find_element(By.ID, "explanation").text
    assert "PR (r_hat 1.31 above 1.1)" in browser.find_element(By.ID, "excluded").text
    assert not browser.find_element(By.ID, "message").is_displayed()
    severe = [e for e in browser.get_log("browser") if e["level"] == "SEVERE"]
    assert severe == []


def test_clicking_a_state_draws_its_chart(browser, served, artifacts_dir):
    base, doc = served
    open_page(browser, f"{base}/ok/")
    assert browser.find_elements(By.CSS_SELECTOR, "#chart canvas") == []
    browser.find_element(By.CSS_SELECTOR, 'button.state[data-state="NY"]').click()
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(DRAWN_PIXELS_JS))
    canvas = browser.execute_script(DRAWN_PIXELS_JS)
    assert canvas["width"] > 300 and canvas["height"] > 200
    assert canvas["drawn"] > 2000, canvas
    assert browser.find_element(By.ID, "chart-title").text.startswith("NY: Rt over time")
    assert browser.execute_script("return location.hash") == "#NY"
    pressed = browser.find_elements(By.CSS_SELECTOR, 'button.state[aria-pressed="true"]')
    assert [b.get_attribute("data-state") for b in pressed] == ["NY"]
    browser.execute_script("window.scrollTo(0, 0)")
    assert browser.save_screenshot(str(artifacts_dir / "site-ny.png"))

    # following a link to another state switches the chart
    browser.execute_script("location.hash = 'TX'")
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "chart-title").text.startswith("TX: Rt over time")
    )

    # a deep link opens with that state's chart drawn
    browser.get("about:blank")
    open_page(browser, f"{base}/ok/#CA")
    WebDriverWait(browser, 10).until(lambda d: d.execute_script(DRAWN_PIXELS_JS))
    assert browser.find_element(By.ID, "chart-title").text.startswith("CA: Rt over time")


def test_missing_msgpack_shows_a_clear_message(browser, served, artifacts_dir):
    base, _ = served
    open_page(browser, f"{base}/missing/", expect="error")
    message = browser.find_element(By.ID, "message")
    assert message.is_displayed()
    assert message.get_attribute("data-kind") == "missing"
    assert "rt.msgpack is missing" in message.text and "404" in message.text
    assert not browser.find_element(By.ID, "content").is_displayed()
    assert browser.find_element(By.ID, "run-info").text == "No Rt data to show."
    assert browser.save_screenshot(str(artifacts_dir / "site-missing.png"))


@pytest.mark.parametrize(
    ("variant", "expected"),
    [
        ("truncated", "is corrupted: it is not valid MessagePack"),
        ("garbage", "is corrupted: it is not valid MessagePack"),
        ("wrong-format", 'not a valid rtlive-msgpack/1 document: its format is "something-else/2"'),
    ],
)
def test_corrupted_msgpack_shows_a_clear_message(browser, served, artifacts_dir, variant, expected):
    base, _ = served
    open_page(browser, f"{base}/{variant}/", expect="error")
    message = browser.find_element(By.ID, "message")
    assert message.is_displayed()
    assert message.get_attribute("data-kind") == "corrupted"
    assert "rt.msgpack" in message.text and expected in message.text
    assert browser.find_elements(By.CSS_SELECTOR, "#state-list button") == []
    assert browser.save_screenshot(str(artifacts_dir / f"site-{variant}.png"))
