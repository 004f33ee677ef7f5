"""Driving the built Rt page in headless Chromium: serving, waiting, reading it back."""

from __future__ import annotations

import contextlib
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait

from rt_assets import page
from rt_assets.serve_site import make_server

DATA_DIR = Path(__file__).parent / "data"
# A real run: all 51 states, fast preset, run date 2020-05-15 (see data/README.md).
REAL_51_STATES = DATA_DIR / "rt-2020-05-15-51-states.msgpack"
DESKTOP = (1280, 900)
PHONE = (375, 812)

# Pixels with any opacity on a canvas; an empty uPlot canvas has none. Read from a
# copy made for reading, so that polling does not make Chromium warn on the console
# about repeated readbacks of the page's own canvas.
DRAWN_PIXELS_JS = """
const canvas = document.querySelector(arguments[0]);
if (!canvas || !canvas.width || !canvas.height) return null;
const copy = document.createElement('canvas');
copy.width = canvas.width;
copy.height = canvas.height;
const ctx = copy.getContext('2d', {willReadFrequently: true});
ctx.drawImage(canvas, 0, 0);
const px = ctx.getImageData(0, 0, canvas.width, canvas.height).data;
let drawn = 0;
for (let i = 3; i < px.length; i += 4) if (px[i] > 0) drawn++;
return {width: canvas.width, height: canvas.height, drawn: drawn};
"""

# When the page first drew its small multiples, next to the navigation's own marks.
TIMING_JS = """
const nav = performance.getEntriesByType('navigation')[0];
const mark = performance.getEntriesByName('rt:small-multiples-drawn')[0];
return {
  drawn_ms: mark ? mark.startTime : null,
  dom_content_loaded_ms: nav.domContentLoadedEventEnd,
  load_ms: nav.loadEventEnd,
  transfer_bytes: performance.getEntriesByType('resource').reduce((n, r) => n + r.transferSize, 0)
    + nav.transferSize,
};
"""


def write_site(folder: Path, data: bytes | None) -> Path:
    """The built bundle plus ``data`` as rt.msgpack (none when ``data`` is None)."""
    bundle = page.load_bundle()
    folder.mkdir(parents=True, exist_ok=True)
    for name, content in bundle.items():
        (folder / name).write_bytes(content)
    if data is not None:
        (folder / page.DATA_FILE).write_bytes(data)
    return folder


@contextlib.contextmanager
def serving(root: Path) -> Iterator[str]:
    """``root`` over HTTP on 127.0.0.1 (the project's own static server); yields its URL."""
    server = make_server(root, 0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def copy_built(built: Path, dest: Path, data: bytes | None) -> None:
    shutil.copytree(built, dest)
    if data is None:
        (dest / page.DATA_FILE).unlink()
    else:
        (dest / page.DATA_FILE).write_bytes(data)


def open_page(browser, url: str, expect: str = "true") -> None:
    browser.get("about:blank")
    browser.get(url)
    WebDriverWait(browser, 30).until(
        lambda d: d.execute_script("return document.body.dataset.ready || null")
    )
    ready = browser.execute_script("return document.body.dataset.ready")
    message = browser.find_element(By.ID, "message").text
    assert ready == expect, f"page state {ready!r}, message {message!r}"


def console_problems(browser) -> list[dict]:
    """Console errors and warnings since the last call (reading the log empties it)."""
    return [e for e in browser.get_log("browser") if e["level"] in ("SEVERE", "WARNING")]


def wait_drawn(browser, selector: str, timeout: float = 10) -> dict:
    WebDriverWait(browser, timeout).until(
        lambda d: (d.execute_script(DRAWN_PIXELS_JS, selector) or {}).get("drawn")
    )
    return browser.execute_script(DRAWN_PIXELS_JS, selector)


def tile_order(browser) -> list[str]:
    return browser.execute_script(
        "return [...document.querySelectorAll('#multiples .tile:not([hidden])')]"
        ".map(t => t.dataset.state)"
    )


@contextlib.contextmanager
def window(browser, size: tuple[int, int]) -> Iterator[None]:
    """The browser at ``size`` for a while, back at the desktop size afterwards."""
    browser.set_window_size(*size)
    try:
        yield
    finally:
        browser.set_window_size(*DESKTOP)
