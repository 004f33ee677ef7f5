"""Serve the built Rt page on 127.0.0.1 for a person to look at.

    uv run python -m rt_assets.serve_site [--date 2021-03-07] [--port 8000]

Serves ``<LAKE_URL>/rt/site/<date>/`` (the latest built date by default). A
site in an object store (``LAKE_URL=s3://...``) is copied to a temporary folder
first, so the page is served exactly as stored.
"""

from __future__ import annotations

import argparse
import functools
import http.server
import re
import signal
import sys
import tempfile
from pathlib import Path

from upath import UPath

from resources.io_manager import LakeIOManager
from resources.lake_store import LakeStore, local_path
from rt_assets.page import CONTENT_TYPES

SITE_PATH = ("rt", "site")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


class _Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **CONTENT_TYPES}

    def end_headers(self) -> None:
        # A re-materialized site must show at the next reload, not a cached copy.
        self.send_header("Cache-Control", "no-cache")
        super().end_headers()


class _QuietHandler(_Handler):
    def log_message(self, format: str, *args: object) -> None:
        return None


def make_server(directory: Path, port: int = 0, quiet: bool = False) -> http.server.HTTPServer:
    """A threaded static file server for ``directory`` on 127.0.0.1 (port 0: a free one)."""
    handler = functools.partial(_QuietHandler if quiet else _Handler, directory=str(directory))
    return http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)


def lake_store(base_url: str | None = None) -> LakeStore:
    """The lake the rt location's IO manager stores into, or the one at ``base_url``."""
    return LakeIOManager(base_url=base_url or "").store()


def site_root(base_url: str | None = None) -> UPath:
    return lake_store(base_url).folder(*SITE_PATH)


def built_dates(root: UPath) -> list[str]:
    """Dates under ``root`` that hold a complete page (index.html is written last)."""
    if not root.exists():
        return []
    return sorted(
        p.name for p in root.iterdir() if _DATE.match(p.name) and (p / "index.html").exists()
    )


def local_copy(folder: UPath, into: Path) -> Path:
    for item in folder.iterdir():
        if item.is_file():
            (into / item.name).write_bytes(item.read_bytes())
    return into


def _raise_interrupt(signum, frame) -> None:
    raise KeyboardInterrupt


def _stop_on_sigterm() -> None:
    """SIGTERM stops the server as Ctrl-C does (its socket closed), even when the parent
    started it with SIGTERM ignored or blocked (both are inherited across exec)."""
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    signal.signal(signal.SIGTERM, _raise_interrupt)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--date", help="run date to show (default: the latest built one)")
    parser.add_argument("--port", type=int, default=8000, help="port on 127.0.0.1 (0: any free)")
    parser.add_argument("--lake", default=None, help="lake base URL (default: LAKE_URL or ./.lake)")
    args = parser.parse_args(argv)

    store = lake_store(args.lake)
    root = store.folder(*SITE_PATH)
    dates = built_dates(root)
    if not dates:
        print(
            f"No built Rt page under {root}: materialize rt/site first (e.g. `make demo`).",
            file=sys.stderr,
        )
        return 1
    date = args.date or dates[-1]
    if date not in dates:
        print(
            f"No Rt page for {date} under {root}; built dates: {', '.join(dates)}", file=sys.stderr
        )
        return 1
    folder = root / date
    with tempfile.TemporaryDirectory(prefix="rt-site-") as tmp:
        directory = Path(local_path(folder)) if store.is_local else local_copy(folder, Path(tmp))
        server = make_server(directory, args.port)
        port = server.server_address[1]
        print(f"Serving the Rt page for {date} from {folder}", flush=True)
        print(f"Open http://127.0.0.1:{port}/ (Ctrl-C to stop)", flush=True)
        try:
            _stop_on_sigterm()
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
