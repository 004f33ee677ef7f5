"""The real services behind the rehearsal's deployment, and the inputs it feeds them.

- :class:`Proxy`: pgserver listens on a Unix socket only; pods reach PostgreSQL
  over TCP at 127.0.0.1 (as they would reach a database host), so a small
  TCP-to-socket forwarder stands in for the network path; the same forwarder, to a
  TCP target, is the path to S3 that a test can cut. Every byte goes to the real
  server.
- :func:`prepare_postgres`: the roles and databases the install steps name
  (``dagster`` for Dagster's storage, ``lake``/``warehouse`` for the warehouse),
  with the passwords the install steps' Secrets hold.
- :func:`rehearsal_covid_source`: a small COVID source for the daily tick: the
  bundled archive's first spring for a few states, its dates shifted so that the
  last day is yesterday (UTC), so a schedule tick of today asks for a run date the
  source covers.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import io
import socket
import threading
from pathlib import Path

import pandas as pd


class Proxy:
    """Forwards TCP connections on 127.0.0.1:<port> to ``target``: a Unix socket path
    (``family`` AF_UNIX) or a ``(host, port)`` (AF_INET). ``cut()`` makes the service
    unreachable (open connections reset, new ones refused at once) until ``restore()``:
    the network path failing while the server itself keeps running."""

    def __init__(self, family: socket.AddressFamily, target: str | tuple[str, int]):
        self.family = family
        self.target = target
        self._cut = threading.Event()
        self._listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(64)
        self.port = self._listener.getsockname()[1]
        self._stopping = threading.Event()
        self._connections: list[_Pair] = []
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stopping.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self._cut.is_set():
                client.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
                client.close()  # a reset, as from a host that is down
                continue
            upstream = socket.socket(self.family, socket.SOCK_STREAM)
            try:
                upstream.connect(self.target)
            except OSError:
                client.close()
                upstream.close()
                continue
            pair = _Pair(client, upstream, self._connections, self._lock)
            for src, dst in ((client, upstream), (upstream, client)):
                threading.Thread(target=pair.pump, args=(src, dst), daemon=True).start()

    def cut(self) -> None:
        """The service becomes unreachable: open connections closed, new ones reset."""
        self._cut.set()
        self._close_all()

    def restore(self) -> None:
        self._cut.clear()

    def stop(self) -> None:
        self._stopping.set()
        self._listener.close()
        self._close_all()

    def _close_all(self) -> None:
        with self._lock:
            pairs = list(self._connections)
        for pair in pairs:
            pair.close()


def unix_socket_proxy(socket_path: Path | str) -> Proxy:
    return Proxy(socket.AF_UNIX, str(socket_path))


def tcp_proxy(host: str, port: int) -> Proxy:
    return Proxy(socket.AF_INET, (host, port))


class _Pair:
    """One forwarded connection. Each direction's thread ends at EOF or an error and
    shuts both sockets down; the last one to end closes them (Dagster's storage opens a
    connection per operation: without closing, the test process runs out of files)."""

    def __init__(self, a: socket.socket, b: socket.socket, registry: list, lock: threading.Lock):
        self.sockets = (a, b)
        self._registry = registry
        self._lock = lock
        self._running = 2
        with lock:
            registry.append(self)

    def pump(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
            with self._lock:
                self._running -= 1
                last = self._running == 0
            if last:
                self.close()

    def close(self) -> None:
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)  # wakes a pump blocked in recv
            sock.close()
        with self._lock:
            if self in self._registry:
                self._registry.remove(self)


def postgres_socket(server) -> Path:  # noqa: ANN001 - a pgserver.PostgresServer
    """The Unix socket file of a pgserver server (its URI names the socket folder)."""
    import sqlalchemy as sa

    url = sa.make_url(server.get_uri())
    folder = Path(url.query["host"])
    port = url.port or 5432
    return folder / f".s.PGSQL.{port}"


def prepare_postgres(server, users: dict[str, tuple[str, str]]) -> None:  # noqa: ANN001
    """Creates each ``database -> (user, password)`` (pgserver trusts local connections;
    the passwords are set anyway, as the install steps' Secrets carry them)."""
    for database, (user, password) in users.items():
        server.psql(f"CREATE ROLE {user} LOGIN PASSWORD '{password}';")
        server.psql(f"CREATE DATABASE {database} OWNER {user};")


def rehearsal_covid_source(
    states: list[str], today: dt.date, last_real_day: str = "2020-05-31"
) -> bytes:
    """The bundled archive for ``states`` up to ``last_real_day``, shifted so that that
    day becomes yesterday; gzip'd CSV in the archive's own format."""
    from rt_assets.sources import bundled_archive_path

    frame = pd.read_csv(bundled_archive_path(), dtype={"date": str})
    frame = frame[frame["state"].isin(states) & (frame["date"] <= last_real_day)].copy()
    shift = (today - dt.timedelta(days=1)) - dt.date.fromisoformat(last_real_day)
    frame["date"] = (pd.to_datetime(frame["date"]) + shift).dt.strftime("%Y-%m-%d")
    buf = io.BytesIO()
    with gzip.GzipFile(fileobj=buf, mode="wb", mtime=0) as gz:
        gz.write(frame.to_csv(index=False).encode())
    return buf.getvalue()
