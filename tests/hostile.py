"""Loopback HTTP servers that misbehave on purpose (redirect, drip, stream without end), for
the hostile-network tests and the leak scan.

Each is a context manager on 127.0.0.1 with a free port, answering every method and path the
same way. ``requests`` records (method, path, Authorization header) of what reached it, so a
test can prove a credential never arrived; ``sent`` counts the body bytes written. Handlers
stop on their own when the client goes away or the server closes (``stopping``), and never
sleep longer than ``interval`` at a time.
"""

from __future__ import annotations

import contextlib
import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

Behaviour = Callable[["_Handler"], None]


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def _any(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        if length:
            self.rfile.read(length)
        self.server.owner.requests.append(
            (self.command, self.path, self.headers.get("Authorization")))
        with contextlib.suppress(OSError):  # the client hung up (what a bounded one does)
            self.server.owner.behaviour(self)
        self.close_connection = True

    do_GET = do_POST = do_DELETE = do_PUT = _any


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    owner: Hostile


class Hostile:
    def __init__(self, behaviour: Behaviour) -> None:
        self.behaviour = behaviour
        self.requests: list[tuple[str, str, str | None]] = []
        self.sent = 0
        self.stopping = threading.Event()
        self._server = _Server(("127.0.0.1", 0), _Handler)
        self._server.owner = self
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Hostile:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    # -- behaviours ----------------------------------------------------------------------
    def write(self, handler: _Handler, data: bytes) -> None:
        handler.wfile.write(data)
        handler.wfile.flush()
        self.sent += len(data)


def answer(status: int, body: Any, **headers: str) -> Behaviour:
    """A plain JSON answer (the well-behaved server a redirect points to)."""
    raw = json.dumps(body).encode()

    def behave(h: _Handler) -> None:
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(raw)))
        for name, value in headers.items():
            h.send_header(name.replace("_", "-"), value)
        h.end_headers()
        h.server.owner.write(h, raw)

    return behave


def redirect(location: str, status: int = 302) -> Behaviour:
    def behave(h: _Handler) -> None:
        h.send_response(status)
        h.send_header("Location", location)
        h.send_header("Content-Length", "0")
        h.end_headers()

    return behave


def drip(interval: float = 0.02, total: int = 3000, headers_too: bool = False) -> Behaviour:
    """A JSON body (or the status line and headers) sent one byte per ``interval``; the whole
    takes ``interval * total`` seconds (60 s by default: far past any test's deadline)."""

    def behave(h: _Handler) -> None:
        owner = h.server.owner
        if headers_too:
            head = b"HTTP/1.1 200 OK\r\nX-Padding: "
            owner.write(h, head)
        else:
            h.send_response(200)
            h.send_header("Content-Type", "application/json")
            h.send_header("Content-Length", str(total))
            h.end_headers()
        for _ in range(total):
            if owner.stopping.wait(interval):
                return
            owner.write(h, b"a" if headers_too else b" ")

    return behave


def endless(chunk: int = 64 * 1024, stop_after: int = 64 * 1024 * 1024) -> Behaviour:
    """A 200 whose body never ends (chunked, no length); gives up after ``stop_after`` bytes
    so a client without a cap fails the test instead of filling the machine's memory."""
    piece = b" " * chunk

    def behave(h: _Handler) -> None:
        owner = h.server.owner
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Transfer-Encoding", "chunked")
        h.end_headers()
        sent = 0
        while sent < stop_after and not owner.stopping.is_set():
            owner.write(h, f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            sent += len(piece)
        owner.write(h, b"0\r\n\r\n")

    return behave


def elapsed(fn: Callable[[], Any]) -> tuple[Any, float]:
    start = time.monotonic()
    result = fn()
    return result, time.monotonic() - start
