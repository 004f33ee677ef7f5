"""A real HTTP server on 127.0.0.1 that stands in for Slack's Web API and a webhook.

It records every request (path, headers, decoded body) and answers like the real
endpoints: Slack's ``chat.postMessage`` gets ``{"ok": true, ...}`` unless the token
is wrong; any other path is a webhook and gets ``webhook_status`` (default 200) and ``ok``.
"""

from __future__ import annotations

import json
import threading
import urllib.parse
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Captured:
    path: str
    headers: dict[str, str]
    body: dict


@dataclass
class CaptureServer:
    server: ThreadingHTTPServer
    requests: list[Captured] = field(default_factory=list)
    valid_token: str = "xoxb-test-token"
    webhook_status: int = 200

    @property
    def url(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host}:{port}"


def start_capture_server() -> CaptureServer:
    holder: dict[str, CaptureServer] = {}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):  # keep pytest output clean
            return None

        def do_POST(self):
            length = int(self.headers.get("Content-Length", "0"))
            raw = self.rfile.read(length).decode()
            ctype = self.headers.get("Content-Type", "")
            if "json" in ctype:
                body = json.loads(raw) if raw else {}
            else:
                body = {k: v[0] for k, v in urllib.parse.parse_qs(raw).items()}
            capture = holder["server"]
            capture.requests.append(Captured(self.path, dict(self.headers), body))
            if self.path.endswith("/chat.postMessage"):
                auth = self.headers.get("Authorization", "")
                ok = auth == f"Bearer {capture.valid_token}"
                answer = {"ok": ok, "channel": body.get("channel"), "ts": "1.0"}
                if not ok:
                    answer["error"] = "invalid_auth"
                payload = json.dumps(answer).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json; charset=utf-8")
            else:
                payload = b"ok"
                self.send_response(capture.webhook_status)
                self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    capture = CaptureServer(server)
    holder["server"] = capture
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return capture
