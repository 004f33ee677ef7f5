"""The static Rt page: the bundled front end plus one published msgpack.

The front end lives in ``site/`` (npm packages pinned by its lock file) and is
bundled by ``make setup`` into ``site/dist/``. A built site is a folder holding
``index.html``, ``app.js``, ``app.css`` and ``rt.msgpack`` (a byte-for-byte
copy of the published document): the page fetches ``rt.msgpack`` from its own
folder, so any static file server (a local folder, S3 static hosting) serves it
with no backend.

Pure: no Dagster import. The asset in ``site_assets.py`` passes the writer.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from upath import UPath

from resources import settings

DATA_FILE = "rt.msgpack"
BUNDLE_FILES = ("index.html", "app.js", "app.css")
DIST_ENV = settings.RT_SITE_DIST.name
BUILD_HINT = "run `make setup` (or `cd site && npm ci && npm run build`)"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".msgpack": "application/msgpack",
    ".png": "image/png",
}


class SiteError(ValueError):
    """The site cannot be built: the front end bundle is missing. (A bad published
    document is ``msgpack_format.DocumentError``.)"""


def dist_dir() -> Path:
    """The built front end: ``RT_SITE_DIST``, or ``site/dist`` of this checkout."""
    configured = settings.site_dist()
    if configured:
        return Path(configured)
    return Path(__file__).resolve().parents[1] / "site" / "dist"


def load_bundle(dist: Path | None = None) -> dict[str, bytes]:
    """Reads the bundled page files; a clear error says how to build them if absent."""
    dist = dist if dist is not None else dist_dir()
    missing = [name for name in BUNDLE_FILES if not (dist / name).is_file()]
    if missing:
        raise SiteError(
            f"the Rt page bundle is not built: {', '.join(missing)} missing in {dist}; "
            f"{BUILD_HINT}, or point {DIST_ENV} at a built bundle"
        )
    return {name: (dist / name).read_bytes() for name in BUNDLE_FILES}


@dataclass(frozen=True)
class LatestRt:
    state: str
    date: str
    median: float
    lower_80: float
    upper_80: float


def latest_rt(doc: Mapping[str, Any]) -> list[LatestRt]:
    """Each state's last Rt, sorted as the page shows them: highest median first."""
    rows = [
        LatestRt(
            state=state,
            date=series["dates"][-1],
            median=float(series["median"][-1]),
            lower_80=float(series["lower_80"][-1]),
            upper_80=float(series["upper_80"][-1]),
        )
        for state, series in doc["states"].items()
    ]
    return sorted(rows, key=lambda r: (-r.median, r.state))


def site_files(bundle: Mapping[str, bytes], data: bytes) -> dict[str, bytes]:
    """Files of one built site, in write order: ``index.html`` last.

    Each file is replaced atomically on its own; writing the page last means a
    reader who gets the new page also gets the data and code it loads.
    """
    files = {name: bundle[name] for name in BUNDLE_FILES if name != "index.html"}
    files[DATA_FILE] = data
    files["index.html"] = bundle["index.html"]
    return files


def content_type(name: str) -> str:
    return CONTENT_TYPES.get(os.path.splitext(name)[1], "application/octet-stream")


def write_site(
    folder: UPath,
    files: Mapping[str, bytes],
    write: Callable[[UPath, bytes, str], None],
) -> dict[str, UPath]:
    """Writes ``files`` into ``folder`` with ``write(path, data, content_type)``, in order."""
    written = {}
    for name, data in files.items():
        path = folder / name
        write(path, data, content_type(name))
        written[name] = path
    return written


def markdown_preview(rows: list[LatestRt], limit: int = 10) -> str:
    """The highest and lowest states' latest Rt as a Markdown table."""
    shown = rows if len(rows) <= 2 * limit else rows[:limit] + rows[-limit:]
    lines = ["| state | date | Rt (median) | 80% interval |", "|---|---|---|---|"]
    for i, r in enumerate(shown):
        if len(shown) < len(rows) and i == limit:
            lines.append(f"| … {len(rows) - len(shown)} more | | | |")
        lines.append(
            f"| {r.state} | {r.date} | {r.median:.2f} | {r.lower_80:.2f}–{r.upper_80:.2f} |"
        )
    return "\n".join(lines)


PLOT_FILE = "latest-rt.png"
# The page's colour-blind-safe pair: blue below 1 (shrinking), orange above 1 (growing).
BELOW_ONE, ABOVE_ONE = "#2166ac", "#b35806"


def latest_rt_plot_png(rows: list[LatestRt]) -> bytes:
    """Latest Rt per state with its interval, as a PNG (stored beside the page and
    linked from the asset's metadata, not embedded in the event log)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(max(4.0, 0.18 * len(rows) + 1.5), 3.0), dpi=90)
    try:
        xs = range(len(rows))
        colours = [ABOVE_ONE if r.median > 1 else BELOW_ONE for r in rows]
        ax.vlines(xs, [r.lower_80 for r in rows], [r.upper_80 for r in rows], colors=colours)
        ax.scatter(xs, [r.median for r in rows], c=colours, s=12, zorder=3)
        ax.axhline(1.0, color="#555", linestyle="--", linewidth=0.8)
        ax.set_xticks(list(xs), [r.state for r in rows], rotation=90, fontsize=7)
        ax.set_ylabel("latest Rt")
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png")
    finally:
        plt.close(fig)
    return buf.getvalue()
