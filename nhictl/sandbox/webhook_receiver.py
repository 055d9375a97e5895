"""A loopback receiver for nhictl's signed webhooks (tests and the demo).

It verifies each delivery as the README tells a receiver to, written out here on its own
(not by calling nhictl's signer): HMAC-SHA256 under the shared secret over
``X-Nhictl-Timestamp`` + ``.`` + the raw body, compared in constant time, and a timestamp
within five minutes. ``answers`` scripts the first replies (status, headers, body), e.g. a
503 then a redirect; after them it answers ``204``. Every request is kept in
:attr:`deliveries` (headers, body, whether the signature verified).
"""

from __future__ import annotations

import hashlib
import hmac
import threading
import time
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any


@dataclass(frozen=True)
class Delivery:
    path: str
    headers: dict[str, str]  # lower-case names
    body: bytes
    verified: bool
    status: int


@dataclass(frozen=True)
class Answer:
    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


class WebhookReceiver:
    def __init__(self, secret: str, answers: list[Answer] | None = None,
                 now: Any = time.time) -> None:
        self.secret = secret.encode()
        self.answers = list(answers or [])
        self.now = now
        self._lock = threading.Lock()
        self._deliveries: list[Delivery] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: Any) -> None:
                return

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length > 0 else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                answer = receiver._answer()
                receiver._keep(Delivery(self.path, headers, body,
                                        receiver.verify(headers, body), answer.status))
                self.send_response(answer.status)
                for name, value in answer.headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                self.wfile.write(answer.body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    def verify(self, headers: dict[str, str], body: bytes) -> bool:
        timestamp = headers.get("x-nhictl-timestamp", "")
        signature = headers.get("x-nhictl-signature", "")
        if not timestamp.isdigit() or abs(self.now() - int(timestamp)) > 300:
            return False
        expected = hmac.new(self.secret, timestamp.encode() + b"." + body,
                            hashlib.sha256).hexdigest()
        return hmac.compare_digest(signature, "sha256=" + expected)

    def _answer(self) -> Answer:
        with self._lock:
            return self.answers.pop(0) if self.answers else Answer(204)

    def _keep(self, delivery: Delivery) -> None:
        with self._lock:
            self._deliveries.append(delivery)

    @property
    def deliveries(self) -> list[Delivery]:
        with self._lock:
            return list(self._deliveries)

    def url(self, path: str = "/hooks/nhictl") -> str:
        port = self._server.server_address[1]
        return f"http://127.0.0.1:{port}{path}"

    def __enter__(self) -> WebhookReceiver:
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True,
                                        name="webhook-receiver")
        self._thread.start()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._server.shutdown()
        self._server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
