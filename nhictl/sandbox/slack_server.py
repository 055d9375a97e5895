"""A loopback Slack Web API server over a :class:`World` (standard library only).

    with SlackSandbox(World.load("scenario.json")) as slack:
        WebClient(base_url=slack.url).auth_test(token=...)
        assert slack.count("auth.test") == 1

It accepts GET and POST, arguments from the query string, a form body or a JSON body, Bearer
and Basic auth, and records every request it served (tokens kept only as :class:`Secret` and a
short SHA-256 hash). ``python -m nhictl.sandbox.slack_server --scenario FILE`` runs it by hand
and prints its URL on the first line of stdout.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import hashlib
import json
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from nhictl.sandbox.scenario import Reply, SlackBehaviour, encode_body
from nhictl.sandbox.slack_chat import WEBHOOK_METHOD, ChatLog
from nhictl.sandbox.world import World
from nhictl.secret import Secret

AUDIT_PREFIX = "/audit/v1/"


def token_hash(token: str) -> str:
    """A short, non-reversible label for a token in recorded requests."""
    return "sha256:" + hashlib.sha256(token.encode()).hexdigest()[:12]


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    verb: str
    token_hash: str | None
    params: dict[str, Any]
    status: int
    error: str | None
    fault: str | None
    at: float
    token: Secret | None = field(default=None, repr=False)
    basic_client_id: str | None = None


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "nhictl-sandbox-slack"
    # Headers and body go out in two writes; without TCP_NODELAY a keep-alive client would
    # wait on Nagle + delayed ACK (~40 ms) for every response.
    disable_nagle_algorithm = True
    sandbox: SlackSandbox  # set on the per-sandbox subclass

    def log_message(self, format: str, *args: Any) -> None:
        return  # quiet: request lines could carry arguments

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _read_args(self) -> dict[str, Any]:
        query = urlsplit(self.path).query
        args: dict[str, Any] = dict(parse_qsl(query, keep_blank_values=True))
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length > 0 else b""
        ctype = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        if raw and ctype == "application/json":
            try:
                body = json.loads(raw)
            except ValueError:
                body = None
            if isinstance(body, dict):
                args.update(body)
        elif raw:
            args.update(parse_qsl(raw.decode("utf-8", "replace"), keep_blank_values=True))
        return args

    def _auth(self, args: dict[str, Any]) -> tuple[str | None, tuple[str, str] | None]:
        header = self.headers.get("Authorization") or ""
        scheme, _, value = header.partition(" ")
        if scheme.lower() == "bearer" and value.strip():
            return value.strip(), None
        if scheme.lower() == "basic" and value.strip():
            try:
                decoded = base64.b64decode(value.strip(), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                return None, None
            cid, _, secret = decoded.partition(":")
            return None, (cid, secret)
        token = args.get("token")
        return (str(token) if token else None), None

    def _serve(self, verb: str) -> None:
        sandbox = self.sandbox
        path = urlsplit(self.path).path
        token: str | None = None
        basic: tuple[str, str] | None = None
        args: dict[str, Any] = {}
        if path.startswith("/services/"):  # an incoming webhook: sandbox/slack_chat.py
            length = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(length) if length > 0 else b""
            method = WEBHOOK_METHOD
            reply = sandbox.behaviour.incoming_webhook(path, raw)
        else:
            args = self._read_args()
            token, basic = self._auth(args)
            args.pop("token", None)
            if path.startswith(AUDIT_PREFIX) and len(path) > len(AUDIT_PREFIX):
                # The Audit Logs API lives beside the Web API (api.slack.com/audit/v1/, see
                # slack_sdk/audit_logs/v1/client.py BASE_URL); recorded as "audit/v1/logs".
                method = path[1:]
                sandbox.pause(sandbox.behaviour.latency_s(method))
                reply = sandbox.behaviour.handle(method, token, args, basic)
            elif not path.startswith("/api/") or len(path) <= len("/api/"):
                reply = Reply(status=404, body="<html><body>not found</body></html>")
                method = path
            else:
                method = path[len("/api/") :]
                sandbox.pause(sandbox.behaviour.latency_s(method))
                reply = sandbox.behaviour.handle(method, token, args, basic)
        sandbox.record(method, verb, token, args, reply, basic)
        if reply.delay_s:
            sandbox.pause(reply.delay_s)
        if reply.close:
            self.close_connection = True
            return
        body, ctype = encode_body(reply)
        try:
            self.send_response(reply.status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for name, value in reply.headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)
        except OSError:  # the client gave up (timeout); nothing to answer
            self.close_connection = True


class SlackSandbox:
    """The sandbox Slack server on ``host:port`` (port 0: a free one), served from a thread."""

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        self.world = world
        self.behaviour = SlackBehaviour(world)
        self._stopping = threading.Event()
        self._records: list[RecordedRequest] = []
        self._records_lock = threading.Lock()
        handler = type("SandboxSlackHandler", (_Handler,), {"sandbox": self})
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        host_text = host.decode() if isinstance(host, bytes) else str(host)
        return f"http://{host_text}:{port}/api/"

    @property
    def audit_url(self) -> str:
        """The Audit Logs API base URL (``AuditLogsClient(base_url=...)``)."""
        return self.url[: -len("/api/")] + AUDIT_PREFIX

    def start(self) -> SlackSandbox:
        if self._thread is None:
            self._thread = threading.Thread(
                target=self._server.serve_forever,
                kwargs={"poll_interval": 0.05},
                name="sandbox-slack",
                daemon=True,
            )
            self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            self._server.shutdown()
            self._thread.join(timeout=5)
            self._thread = None
        self._server.server_close()

    def __enter__(self) -> SlackSandbox:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def pause(self, seconds: float) -> None:
        """Sleep (latency, slow faults) but wake at once when the server stops."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def record(
        self,
        method: str,
        verb: str,
        token: str | None,
        args: dict[str, Any],
        reply: Reply,
        basic: tuple[str, str] | None,
    ) -> None:
        params = {k: v for k, v in args.items() if k not in {"client_secret", "refresh_token"}}
        entry = RecordedRequest(
            method=method,
            verb=verb,
            token_hash=token_hash(token) if token else None,
            params=params,
            status=reply.status,
            error=reply.error,
            fault=reply.fault,
            at=time.time(),
            token=Secret(token) if token else None,
            basic_client_id=basic[0] if basic else None,
        )
        with self._records_lock:
            self._records.append(entry)

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._records_lock:
            return list(self._records)

    def count(self, method: str | None = None, token: str | Secret | None = None) -> int:
        """How many requests were served for ``method`` (any when None), optionally one token."""
        wanted = None
        if token is not None:
            wanted = token_hash(token.reveal() if isinstance(token, Secret) else token)
        return sum(
            1
            for r in self.requests
            if (method is None or r.method == method) and (wanted is None or r.token_hash == wanted)
        )

    @property
    def chat(self) -> ChatLog:
        """Messages posted here (chat.postMessage, incoming webhooks)."""
        return self.behaviour.chat

    def incoming_webhook_url(self, team_id: str, channel: str) -> str:
        """A new incoming webhook URL on this server, posting to ``channel``."""
        return self.url.removesuffix("/api/") + self.behaviour.chat.add_webhook(team_id, channel)

    def clear(self) -> None:
        with self._records_lock:
            self._records.clear()


def serve_forever(
    scenario_path: str | Path,
    port: int = 0,
    host: str = "127.0.0.1",
    *,
    announce: Callable[[str], None] | None = None,
) -> None:
    """Serve a scenario until interrupted; ``announce`` gets the URL (default: print it)."""
    if str(scenario_path) == "-":  # read the scenario from stdin (keeps fake tokens off disk)
        world = World.from_dict(json.loads(sys.stdin.read()))
    else:
        world = World.load(scenario_path)
    with SlackSandbox(world, host=host, port=port) as sandbox:
        (announce or _print_url)(sandbox.url)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            pass


def _print_url(url: str) -> None:
    print(url, flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Run the nhictl sandbox Slack Web API.")
    parser.add_argument("--scenario", required=True, help="scenario JSON file, or - for stdin")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--host", default="127.0.0.1")
    ns = parser.parse_args(argv)
    serve_forever(ns.scenario, ns.port, ns.host)
    return 0


if __name__ == "__main__":
    sys.exit(main())
