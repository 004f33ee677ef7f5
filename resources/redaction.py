"""Keeping secrets out of error messages and log lines.

A Slack incoming webhook's URL is itself the credential (its path carries the
workspace, channel and key), and the exceptions of ``requests``/``urllib3``
repeat the URL, or its path alone, in their text. Anything that builds an
error or log line from such an exception passes it through ``redact`` first
and names an endpoint with ``shown_url``.
"""

from __future__ import annotations

import urllib.parse

MASK = "[redacted]"


def shown_url(url: str) -> str:
    """Only scheme, host and port of ``url``: never its user, password, path or query."""
    parts = urllib.parse.urlsplit(url)
    if not parts.scheme or not parts.hostname:
        return "<URL not shown>"
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}/..."


def redact(text: str, *secrets: str) -> str:
    """``text`` with every secret masked; for a secret URL also its password and
    everything after its host (which libraries print on its own)."""
    pieces = set()
    for secret in secrets:
        if not secret:
            continue
        pieces.add(secret)
        parts = urllib.parse.urlsplit(secret)
        if parts.scheme and parts.netloc:
            after_host = secret.split(parts.netloc, 1)[1]
            if after_host.strip("/?#"):
                pieces.add(after_host)
            if parts.password:
                pieces.add(parts.password)
    for piece in sorted(pieces, key=len, reverse=True):
        text = text.replace(piece, MASK)
    return text
