"""Fault injectors used by the fault tests (real sockets, real processes, no mocks)."""

from __future__ import annotations

import contextlib
import socket
import threading

METHODS = (b"GET ", b"HEAD ", b"PUT ", b"POST ", b"DELETE ")


class CuttableProxy:
    """A TCP proxy in front of a real server that can be cut and restored.

    ``cut_after_put(fragment)``: once a PUT whose request line contains
    ``fragment`` has gone through (its response included), the next request
    makes the proxy drop every connection and stop listening: to the client the
    server is gone (connection refused). ``restore()`` listens again on the
    same port.
    """

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self._lock = threading.Lock()
        self._conns: list[socket.socket] = []
        self._armed_fragment: bytes | None = None
        self._seen_put = False
        self.cut_done = threading.Event()
        self.requests_refused = 0
        self._listener: socket.socket | None = None
        self.port = 0
        self._listen()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _listen(self) -> None:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                server = socket.create_connection(self.upstream, timeout=30)
            except OSError:
                client.close()
                continue
            with self._lock:
                self._conns += [client, server]
            threading.Thread(target=self._pump, args=(client, server, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, False), daemon=True).start()

    def _pump(self, src: socket.socket, dst: socket.socket, from_client: bool) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if from_client and data.startswith(METHODS) and self._should_cut(data):
                    self.cut()
                    return
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def _should_cut(self, request: bytes) -> bool:
        with self._lock:
            if self._armed_fragment is None:
                return False
            line = request.split(b"\r\n", 1)[0]
            if self._seen_put:
                return True
            if line.startswith(b"PUT ") and self._armed_fragment in line:
                self._seen_put = True
            return False

    def cut_after_put(self, fragment: str) -> None:
        with self._lock:
            self._armed_fragment = fragment.encode()
            self._seen_put = False
            self.cut_done.clear()

    def cut(self) -> None:
        with self._lock:
            listener, self._listener = self._listener, None
            conns, self._conns = self._conns, []
            self._armed_fragment = None
        if listener is not None:
            # shutdown() wakes the thread blocked in accept(); close() alone would
            # leave the port listening until that call returns.
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        for s in conns:
            with contextlib.suppress(OSError):
                s.shutdown(socket.SHUT_RDWR)
            s.close()
        self.cut_done.set()

    def restore(self) -> None:
        if self._listener is None:
            self._listen()

    def close(self) -> None:
        self.cut()
