"""The built page in real headless Chromium, served over HTTP on 127.0.0.1."""

from __future__ import annotations

import json
import re
from decimal import ROUND_HALF_UP, Decimal

import msgpack
import pytest
from selenium.webdriver.common.action_chains import ActionChains
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.ui import Select, WebDriverWait

from rt_assets.assets import NOT_CONVERGED
from rt_assets.sources import STATES
from tests.site.conftest import materialize_site, publish
from tests.site.documents import make_document, pack
from tests.site.pages import (
    PHONE,
    REAL_51_STATES,
    TIMING_JS,
    console_problems,
    copy_built,
    open_page,
    serving,
    tile_order,
    wait_drawn,
    window,
)

pytestmark = pytest.mark.browser

DATE = "2021-03-07"
EXCLUDED = {"PR": "r_hat 1.31 above 1.1"}
# A demo run of three states: the other 48 were not run, one more failed its check.
DEMO_STATES = ["CA", "NY", "TX"]
FAILED = {"WY": NOT_CONVERGED}
NOT_RUN = {s: "not run for this date" for s in STATES if s not in DEMO_STATES and s not in FAILED}
RT_CANVAS = '#state-view .chart[data-chart="rt"] canvas'
COUNTS_CANVAS = '#state-view .chart[data-chart="counts"] canvas'
TESTS_CANVAS = '#state-view .chart[data-chart="tests"] canvas'


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """One real materialized site, and copies with other documents, under one server."""
    lake = tmp_path_factory.mktemp("lake")
    doc = make_document(run_date=DATE, excluded=EXCLUDED)
    data = pack(doc)
    publish(lake, DATE, data)
    assert materialize_site(lake, DATE).success
    built = lake / "rt" / "site" / DATE
    root = tmp_path_factory.mktemp("www")
    demo = make_document(run_date=DATE, states=DEMO_STATES, excluded={**NOT_RUN, **FAILED})
    variants = {
        "ok": data,
        "real": REAL_51_STATES.read_bytes(),
        "demo": pack(demo),
        "no-counts": pack(make_document(run_date=DATE, states=["NY", "VT"], counts=False)),
        "missing": None,
        "truncated": data[: len(data) // 3],
        "garbage": b"\xc1\xc1 this is not MessagePack",
        "wrong-format": pack({"format": "something-else/2", "states": {}}),
    }
    for name, replacement in variants.items():
        copy_built(built, root / name, replacement)
    with serving(root) as base:
        yield base, doc


@pytest.fixture(scope="module")
def real_doc():
    return msgpack.unpackb(REAL_51_STATES.read_bytes(), raw=False)


def wait_hash(browser, expected: str) -> None:
    WebDriverWait(browser, 10).until(lambda d: d.execute_script("return location.hash") == expected)


def count_text(value) -> str:
    """As the page writes a count: whole, halves rounded up (Intl.NumberFormat), or a dash."""
    if value is None:
        return "–"
    return f"{Decimal(str(value)).quantize(Decimal(1), ROUND_HALF_UP):,}"


def latest_median(doc, state):
    return doc["states"][state]["median"][-1]


def test_page_lists_every_state_with_its_latest_rt(browser, served):
    base, doc = served
    open_page(browser, f"{base}/ok/")
    rows = browser.find_elements(By.CSS_SELECTOR, "#state-list a.state")
    assert len(rows) == len(doc["states"]) == 51
    assert {b.get_attribute("data-state") for b in rows} == set(doc["states"])

    ny = doc["states"]["NY"]
    row = browser.find_element(By.CSS_SELECTOR, 'a.state[data-state="NY"]')
    assert float(row.get_attribute("data-median")) == ny["median"][-1]
    assert row.find_element(By.CLASS_NAME, "rt-value").text == f"{ny['median'][-1]:.2f}"
    interval = f"{ny['lower_80'][-1]:.2f}–{ny['upper_80'][-1]:.2f}"
    assert row.find_element(By.CLASS_NAME, "rt-interval").text == interval

    medians = [float(b.get_attribute("data-median")) for b in rows]
    assert medians == sorted(medians, reverse=True)
    for b, median in zip(rows, medians, strict=True):
        assert ("above" if median > 1 else "below") in b.get_attribute("class").split()
    assert {"above", "below"} <= {b.get_attribute("class").split()[1] for b in rows}

    info = browser.find_element(By.ID, "run-info").text
    assert DATE in info and doc["model_version"] in info
    assert "reproduction number" in browser.find_element(By.ID, "explanation").text
    failed = browser.find_element(By.CSS_SELECTOR, '#excluded-list li[data-states="PR"]')
    assert failed.text == "r_hat 1.31 above 1.1: PR"
    assert not browser.find_element(By.ID, "message").is_displayed()

    # the map colours every state that has an estimate, and links it to its page
    shapes = browser.find_elements(By.CSS_SELECTOR, "#map a path.has-data")
    assert len(shapes) == 51
    assert len({s.get_attribute("fill") for s in shapes}) > 10
    ny_link = browser.find_element(By.CSS_SELECTOR, '#map path[data-state="NY"]')
    assert ny_link.find_element(By.XPATH, "..").get_dom_attribute("href") == "#/state/NY"
    assert console_problems(browser) == []


def test_real_51_state_run_draws_51_small_multiples(browser, served, real_doc, artifacts_dir):
    base, _ = served
    assert len(real_doc["states"]) == 51, "the real fixture is a full run"
    open_page(browser, f"{base}/real/")
    tiles = browser.find_elements(By.CSS_SELECTOR, "#multiples .tile")
    assert len(tiles) == 51
    # each tile draws its interval and median on both sides of the line at 1
    for tile in tiles[:3]:
        assert len(tile.find_elements(By.CSS_SELECTOR, "svg polygon")) == 2
        assert len(tile.find_elements(By.CSS_SELECTOR, "svg polyline")) == 2
    shown = {t.get_attribute("data-state"): float(t.get_attribute("data-median")) for t in tiles}
    assert shown == {s: latest_median(real_doc, s) for s in real_doc["states"]}
    assert browser.find_element(By.ID, "shown-count").text == "51 states"
    assert browser.find_element(By.ID, "excluded").is_displayed() is False

    timing = browser.execute_script(TIMING_JS)
    assert timing["drawn_ms"] is not None and timing["drawn_ms"] > 0, timing
    (artifacts_dir / "site-timing.json").write_text(json.dumps(timing, indent=2))
    assert console_problems(browser) == []


def test_sorting_changes_the_order(browser, served, real_doc):
    base, _ = served
    open_page(browser, f"{base}/real/")
    by_rt = tile_order(browser)
    medians = [latest_median(real_doc, s) for s in by_rt]
    assert medians == sorted(medians, reverse=True)

    sort = Select(browser.find_element(By.ID, "sort"))
    sort.select_by_value("name")
    by_name = tile_order(browser)
    names = [browser.find_element(By.CSS_SELECTOR, f'.tile[data-state="{s}"]') for s in by_name]
    assert [n.get_attribute("data-name") for n in names][:4] == [
        "Alabama",
        "Alaska",
        "Arizona",
        "Arkansas",
    ]
    assert [n.get_attribute("data-name") for n in names] == sorted(
        n.get_attribute("data-name") for n in names
    )
    assert by_name != by_rt and sorted(by_name) == sorted(by_rt)

    sort.select_by_value("region")
    by_region = tile_order(browser)
    headings = [h.text for h in browser.find_elements(By.CSS_SELECTOR, "#multiples h3.group")]
    assert headings == ["Northeast", "Midwest", "South", "West"]
    regions = browser.execute_script(
        "return [...document.querySelectorAll('#multiples .tile')].map(t => t.dataset.region)"
    )
    assert regions == sorted(regions, key=headings.index)
    assert by_region[:9] == ["CT", "ME", "MA", "NH", "NJ", "NY", "PA", "RI", "VT"]
    assert console_problems(browser) == []


def test_filter_keeps_matching_states(browser, served):
    base, _ = served
    open_page(browser, f"{base}/real/")
    box = browser.find_element(By.ID, "filter")
    box.send_keys("new")
    assert sorted(tile_order(browser)) == ["NH", "NJ", "NM", "NY"]
    assert browser.find_element(By.ID, "shown-count").text == "4 of 51 states match “new”"
    box.clear()
    box.send_keys("ny")  # a postal code
    assert tile_order(browser) == ["NY"]
    box.send_keys(Keys.ESCAPE)
    assert len(tile_order(browser)) == 51
    box.send_keys("zz")
    assert tile_order(browser) == []
    assert browser.find_element(By.ID, "shown-count").text == "No state matches “zz”"
    assert console_problems(browser) == []


def test_keyboard_reaches_a_tile_and_opens_its_state(browser, served):
    base, _ = served
    open_page(browser, f"{base}/real/")
    browser.find_element(By.ID, "filter").send_keys("vermont")
    ActionChains(browser).send_keys(Keys.TAB).perform()
    focused = browser.switch_to.active_element
    assert focused.get_attribute("data-state") == "VT"
    outline = browser.execute_script(
        "const s = getComputedStyle(document.activeElement);"
        "return [s.outlineStyle, parseFloat(s.outlineWidth)]"
    )
    assert outline[0] != "none" and outline[1] >= 2, f"no visible focus: {outline}"
    ActionChains(browser).send_keys(Keys.ENTER).perform()
    wait_hash(browser, "#/state/VT")
    wait_drawn(browser, RT_CANVAS)
    # Escape goes back, and focus returns to the tile it came from
    ActionChains(browser).send_keys(Keys.ESCAPE).perform()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "overview").is_displayed())
    assert browser.switch_to.active_element.get_attribute("data-state") == "VT"
    assert console_problems(browser) == []


def test_state_route_draws_its_charts_with_hover_readouts(browser, served, real_doc, artifacts_dir):
    base, _ = served
    ny = real_doc["states"]["NY"]
    open_page(browser, f"{base}/real/#/state/NY")
    assert browser.find_element(By.ID, "state-title").text == "New York (NY)"
    assert not browser.find_element(By.ID, "overview").is_displayed()
    for selector in (RT_CANVAS, COUNTS_CANVAS, TESTS_CANVAS):
        canvas = wait_drawn(browser, selector)
        assert canvas["width"] > 300 and canvas["height"] > 150, (selector, canvas)
        assert canvas["drawn"] > 2000, (selector, canvas)

    readout = browser.find_element(By.CSS_SELECTOR, '.readout[data-chart="rt"]')
    assert readout.get_attribute("data-date") == ny["dates"][-1]
    assert "(latest)" in readout.text and f"Rt {ny['median'][-1]:.2f}" in readout.text

    # hovering a day shows that day's values, in every chart at once
    over = browser.find_element(By.CSS_SELECTOR, '#state-view .chart[data-chart="rt"] .u-over')
    width = over.size["width"]
    ActionChains(browser).move_to_element_with_offset(over, -width // 4, 0).perform()
    WebDriverWait(browser, 5).until(lambda d: "(latest)" not in readout.text)
    i = int(readout.get_attribute("data-index"))
    assert 0 < i < len(ny["dates"]) - 1
    assert readout.get_attribute("data-date") == ny["dates"][i]
    values = {
        v.get_attribute("data-value"): v.text
        for v in browser.find_elements(By.CSS_SELECTOR, ".readout .value")
    }
    assert values["median"] == f"{ny['median'][i]:.2f}"
    assert values["interval"] == f"{ny['lower_80'][i]:.2f}–{ny['upper_80'][i]:.2f}"
    assert values["positive"] == count_text(ny["positive"][i])
    assert values["tests"] == count_text(ny["tests"][i])
    assert values["infections"] == count_text(ny["infections"][i])
    counts = browser.find_element(By.CSS_SELECTOR, '.readout[data-chart="counts"]')
    assert counts.get_attribute("data-date") == ny["dates"][i]
    assert browser.save_screenshot(str(artifacts_dir / "site-ny.png"))

    # the way back: the link, to the overview with its tiles
    browser.find_element(By.ID, "back").click()
    WebDriverWait(browser, 10).until(lambda d: d.find_element(By.ID, "overview").is_displayed())
    assert browser.execute_script("return location.hash") == "#/"
    assert len(tile_order(browser)) == 51
    assert console_problems(browser) == []


def test_clicking_a_state_opens_its_page(browser, served):
    base, _ = served
    open_page(browser, f"{base}/ok/")
    assert browser.find_elements(By.CSS_SELECTOR, "#state-view canvas") == []
    browser.find_element(By.CSS_SELECTOR, '#state-list a.state[data-state="NY"]').click()
    canvas = wait_drawn(browser, RT_CANVAS)
    assert canvas["drawn"] > 2000, canvas
    assert browser.find_element(By.ID, "state-title").text == "New York (NY)"
    assert browser.execute_script("return location.hash") == "#/state/NY"

    # following a link to another state switches the page
    browser.execute_script("location.hash = '#/state/TX'")
    WebDriverWait(browser, 10).until(
        lambda d: d.find_element(By.ID, "state-title").text == "Texas (TX)"
    )
    wait_drawn(browser, RT_CANVAS)
    # links of the first page version (index.html#CA) still open that state
    open_page(browser, f"{base}/ok/#CA")
    wait_hash(browser, "#/state/CA")
    wait_drawn(browser, RT_CANVAS)
    assert browser.find_element(By.ID, "state-title").text == "California (CA)"
    # a state outside the run says so instead of drawing nothing
    browser.execute_script("location.hash = '#/state/PR'")
    WebDriverWait(browser, 10).until(lambda d: d.find_elements(By.ID, "state-missing"))
    missing = browser.find_element(By.ID, "state-missing").text
    assert "not in this run: r_hat 1.31 above 1.1" in missing
    assert console_problems(browser) == []


def test_states_left_out_are_listed_once_with_their_reason(browser, served):
    base, _ = served
    open_page(browser, f"{base}/demo/")
    assert sorted(tile_order(browser)) == DEMO_STATES
    items = browser.find_elements(By.CSS_SELECTOR, "#excluded-list li")
    assert [i.get_attribute("data-reason") for i in items] == [FAILED["WY"], "Not run"]
    assert items[0].text == f"{FAILED['WY']}: WY"
    assert items[1].text.startswith(f"Not run ({len(NOT_RUN)}): AK, AL, AR,")
    text = browser.find_element(By.ID, "excluded").text
    for state in [*NOT_RUN, *FAILED]:
        assert len(re.findall(rf"\b{state}\b", text)) == 1, state
    assert "not run for this date" not in text
    assert browser.find_element(By.ID, "excluded-title").text == "Left out of this run (48 states)"
    # the map shows the states without an estimate as such
    assert len(browser.find_elements(By.CSS_SELECTOR, "#map path.no-data")) == 48
    assert console_problems(browser) == []


def test_document_without_counts_shows_rt_only(browser, served):
    base, _ = served
    open_page(browser, f"{base}/no-counts/#/state/VT")
    wait_drawn(browser, RT_CANVAS)
    assert browser.find_elements(By.CSS_SELECTOR, COUNTS_CANVAS) == []
    assert "carries no daily counts" in browser.find_element(By.ID, "state-view").text
    assert console_problems(browser) == []


@pytest.mark.parametrize("route", ["", "#/state/NY"])
def test_phone_width_has_no_horizontal_overflow(browser, served, artifacts_dir, route):
    base, _ = served
    with window(browser, PHONE):
        open_page(browser, f"{base}/real/{route}")
        if route:
            wait_drawn(browser, RT_CANVAS)
        width = browser.execute_script("return window.innerWidth")
        scroll = browser.execute_script("return document.documentElement.scrollWidth")
        assert width == PHONE[0] and scroll <= PHONE[0], (width, scroll)
        name = "state" if route else "overview"
        assert browser.save_screenshot(str(artifacts_dir / f"site-phone-{name}.png"))
        assert console_problems(browser) == []


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
    assert browser.find_elements(By.CSS_SELECTOR, "#state-list a") == []
    assert browser.find_elements(By.CSS_SELECTOR, "#multiples .tile") == []
    assert browser.save_screenshot(str(artifacts_dir / f"site-{variant}.png"))
