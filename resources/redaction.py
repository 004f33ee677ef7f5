"""Keeping secrets out of error messages and log lines.

A Slack incoming webhook's URL is itself the credential (its path carries the
workspace, channel and key), and the exceptions of ``requests``/``urllib3``
repeat the URL, or its path alone, in their text. Anything that builds an
error or log line from such an exception passes it through ``redact`` first
and names an endpoint with ``shown_url``. Around a call that hands a secret to
such a library, ``masked_in_library_logs`` masks it in the library's own log
records too (urllib3 logs each request's path at DEBUG, and the path again
when it retries).
"""

from __future__ import annotations

import contextlib
import logging
import urllib.parse
from collections.abc import Iterator

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


# The loggers of the HTTP clients the alerts use (a filter applies to its own logger
# only, not to the children that propagate to it: each is named).
LIBRARY_LOGGERS = (
    "urllib3.connectionpool",
    "urllib3.connection",
    "urllib3.poolmanager",
    "urllib3.util.retry",
    "slack_sdk.web.base_client",
    "slack_sdk.web.client",
)


class _MaskSecrets(logging.Filter):
    def __init__(self, secrets: tuple[str, ...]) -> None:
        super().__init__()
        self.secrets = secrets

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = redact(message, *self.secrets)
        if masked != message:
            record.msg, record.args = masked, None
        return True


@contextlib.contextmanager
def masked_in_library_logs(*secrets: str) -> Iterator[None]:
    """While inside, the HTTP libraries' log records carry no part of ``secrets``."""
    mask = _MaskSecrets(tuple(s for s in secrets if s))
    loggers = [logging.getLogger(name) for name in LIBRARY_LOGGERS]
    for logger in loggers:
        logger.addFilter(mask)
    try:
        yield
    finally:
        for logger in loggers:
            logger.removeFilter(mask)
