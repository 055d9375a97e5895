"""The server, auth and fault machinery shared by the broker fakes (see
:mod:`nhictl.sandbox.brokers` for the world sections they serve)."""


from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from nhictl.sandbox.world import World

Reply = tuple[int, dict[str, Any], dict[str, str]]


def _reply(status: int, body: dict[str, Any], **headers: str) -> Reply:
    return status, body, headers


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"

    def setup(self) -> None:
        super().setup()
        # Headers and body go out as two writes; without this, Nagle + delayed ACK add ~40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def _handle(self) -> None:
        split = urlsplit(self.path)
        query = {k: v[-1] for k, v in parse_qs(split.query).items()}
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        auth = self.headers.get("Authorization") or ""
        try:
            status, payload, headers = self.server.sandbox.handle(
                self.command, split.path, query, body, auth
            )
        except (ValueError, KeyError, TypeError):  # a malformed request: a 400, not a crash
            status, payload, headers = 400, {"message": "bad request"}, {}
        data = b"" if status == 204 else json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        for key, value in headers.items():
            self.send_header(key, value)
        self.end_headers()
        self.wfile.write(data)

    do_GET = _handle
    do_POST = _handle
    do_DELETE = _handle

    def log_message(self, format: str, *args: Any) -> None:  # silence stderr
        return


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int], sandbox: BrokerSandbox) -> None:
        super().__init__(address, _Handler)
        self.sandbox = sandbox


class BrokerSandbox:
    """Common server, auth and fault machinery of the broker fakes."""

    section = ""
    key_field = ""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = world
        self.requests: list[dict[str, Any]] = []
        self.calls = 0
        conf = self._conf()
        self.outage = bool(conf.get("outage", False))
        self.outage_after: int | None = conf.get("outage_after")
        self._rate_limit_once: float | None = conf.get("rate_limit_once")
        self._host, self._port = host, port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._check_world()

    def _conf(self) -> dict[str, Any]:
        section: dict[str, Any] = getattr(self.world, self.section)
        return section

    def _check_world(self) -> None:
        """Raise ValueError if the world section references tokens the world lacks."""

    # -- lifecycle -------------------------------------------------------------------------
    @property
    def url(self) -> str:
        if self._server is None:
            raise RuntimeError("sandbox not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def start(self) -> BrokerSandbox:
        self._server = _Server((self._host, self._port), self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"sandbox-{self.section}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> BrokerSandbox:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # -- faults ----------------------------------------------------------------------------
    def set_outage(self, on: bool = True) -> None:
        with self.world.lock:
            self.outage = on

    def fail_after(self, calls: int) -> None:
        """Every call 503 once ``calls`` more calls have been served."""
        with self.world.lock:
            self.outage_after = self.calls + calls

    def rate_limit_once(self, retry_after: float = 0) -> None:
        with self.world.lock:
            self._rate_limit_once = retry_after

    # -- dispatch --------------------------------------------------------------------------
    def handle(
        self, method: str, path: str, query: dict[str, str], body: Any, auth: str
    ) -> Reply:
        with self.world.lock:
            self.requests.append({"method": method, "path": path, "query": query, "json": body,
                                  "at": time.time()})
            self.calls += 1
            if self.outage_after is not None and self.calls > self.outage_after:
                self.outage = True
            if self.outage:
                return _reply(503, self._error("service_unavailable", "outage"))
            if self._rate_limit_once is not None:
                wait = self._rate_limit_once
                self._rate_limit_once = None
                return _reply(
                    429, self._error("rate_limited", "slow down"), **{"Retry-After": f"{wait:g}"}
                )
            key = str(self._conf().get(self.key_field) or "")
            if not key or auth != f"Bearer {key}":
                return _reply(401, self._error("unauthorized", "invalid API key"))
            parts = [unquote(p) for p in path.strip("/").split("/") if p]
            return self.route(method, parts, query, body)

    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Reply:
        raise NotImplementedError

    def _error(self, code: str, message: str) -> dict[str, Any]:
        return {"code": code, "message": message}

    def _world_token(self, value: Any, where: str) -> dict[str, Any]:
        entry = self.world.token(value) if isinstance(value, str) else None
        if entry is None:
            raise ValueError(f"{self.section}: {where} references a token not in world.tokens")
        return entry
