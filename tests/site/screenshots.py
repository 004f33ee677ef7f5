"""Screenshots and measurements of the built Rt page with the real 51-state run.

    cd site && npm ci && npm run build && cd ..
    uv run python -m tests.site.screenshots            # docs/site-{desktop,phone,state}.png

Prints the page weight (each file, raw and gzipped) and the time to first render
in headless Chromium: when the small multiples were drawn (a performance mark the
page sets), from the start of navigation, the median of several loads.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from selenium.webdriver.support.ui import WebDriverWait

from rt_assets import page
from tests.fixtures.browser import REPO_ROOT, start_chromium
from tests.site.pages import (
    DESKTOP,
    PHONE,
    REAL_51_STATES,
    TIMING_JS,
    console_problems,
    open_page,
    serving,
    wait_drawn,
    write_site,
)

SHOTS = {
    # name: (window size, route, full page height?)
    "site-desktop.png": (DESKTOP, "", True),
    "site-phone.png": ((PHONE[0], 1500), "", False),
    "site-state.png": (DESKTOP, "#/state/NY", True),
}


def page_weight(folder: Path) -> dict[str, dict[str, int]]:
    names = [*page.BUNDLE_FILES, page.DATA_FILE]
    weight = {}
    for name in names:
        data = (folder / name).read_bytes()
        weight[name] = {"bytes": len(data), "gzip": len(gzip.compress(data, 6, mtime=0))}
    weight["total"] = {k: sum(w[k] for w in weight.values()) for k in ("bytes", "gzip")}
    return weight


def render_times(browser, url: str, loads: int) -> dict[str, float]:
    samples = []
    for _ in range(loads):
        open_page(browser, url)
        WebDriverWait(browser, 10).until(lambda d: d.execute_script(TIMING_JS)["drawn_ms"])
        samples.append(browser.execute_script(TIMING_JS))
    return {
        key: round(statistics.median(s[key] for s in samples), 1)
        for key in ("drawn_ms", "dom_content_loaded_ms", "load_ms")
    }


def shoot(browser, url: str, size: tuple[int, int], full: bool, path: Path) -> None:
    browser.set_window_size(*size)
    open_page(browser, url)
    if "#/state/" in url:
        wait_drawn(browser, '#state-view .chart[data-chart="tests"] canvas')
    if full:
        # The window's own frame takes part of its height: add it, to fit the whole page.
        height, frame = browser.execute_script(
            "return [document.documentElement.scrollHeight, outerHeight - innerHeight]"
        )
        browser.set_window_size(size[0], height + frame)
        time.sleep(0.3)  # let the charts take the new size (a resize is one frame later)
    assert browser.save_screenshot(str(path)), path
    browser.set_window_size(*DESKTOP)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "docs")
    parser.add_argument("--loads", type=int, default=5, help="page loads timed (median)")
    args = parser.parse_args(argv)
    data = REAL_51_STATES.read_bytes()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        folder = write_site(root / "site", data)
        weight = page_weight(folder)
        browser = start_chromium(str(root / "profile"))
        try:
            with serving(root) as base:
                url = f"{base}/site/"
                timing = render_times(browser, url, args.loads)
                for name, (size, route, full) in SHOTS.items():
                    shoot(browser, url + route, size, full, args.out / name)
                problems = console_problems(browser)
        finally:
            browser.quit()
    print(json.dumps({"page_weight": weight, "first_render": timing}, indent=2))
    if problems:
        print(f"console problems: {problems}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
