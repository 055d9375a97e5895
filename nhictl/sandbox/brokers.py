"""Loopback fakes of WorkOS Pipes and Nango, answering from the shared :class:`World`.

Both serve exactly the endpoints nhictl's sources use, on 127.0.0.1 (port 0 by default), as
context managers with ``.url`` and a ``.requests`` recorder (method, path, query, JSON body;
never the Authorization header). A token a broker hands out is a token of ``world.tokens``, so
it validates (or fails) against the sandbox Slack exactly like the real thing.

World sections (see also ``nhictl.sandbox.world``)::

    "workos": {"api_key": "sk_test_...",
               "users": [{"id": "user_01", "email": "grace@example.com",
                          "first_name": "Grace", "last_name": "Hopper",
                          "organization_id": "org_01",          # optional
                          "slack": {                            # or null: no connection
                            "id": "data_installation_01", "token": "xoxp-...",
                            "state": "connected",  # connected|needs_reauthorization|disconnected
                            "scopes": [...],       # default: the world token's scopes
                            "requested_scopes": [...],  # default: scopes
                            "organization_id": null, "created_at": "...", "expires_at": null,
                            "token_error": null}}],     # force the token call's error code
               "outage": false, "outage_after": null, "rate_limit_once": null}

    "nango": {"secret_key": "...",
              "connections": [{"id": 1, "connection_id": "c-1", "provider": "slack",
                               "provider_config_key": "slack", "created": "...",
                               "tags": {"end_user_id": "u-1", "end_user_email": "..."},
                               "end_user": null, "metadata": null,
                               "token": "xoxp-...",      # user or bot token of world.tokens
                               "bot_token": null,        # optional bot token beside a user one
                               "state": "ok",            # ok|invalid_credentials (424)
                               "expires_at": null, "refresh": false}],
              "outage": false, "outage_after": null, "rate_limit_once": null,
              "ignore_paging": false}                    # answer every page with everything

Faults: ``outage`` (every call 503), ``outage_after`` (503 once that many calls were served),
``rate_limit_once`` (the next call gets 429 with that many seconds of Retry-After). They can
also be set at runtime: :meth:`BrokerSandbox.set_outage`, ``outage_after``,
``rate_limit_once``, :meth:`WorkOSSandbox.set_state`, :meth:`NangoSandbox.set_state`.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar
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
        data = json.dumps(payload).encode()
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


class WorkOSSandbox(BrokerSandbox):
    """Fake WorkOS Pipes: users, their data providers, Slack tokens, account deletion."""

    section = "workos"
    key_field = "api_key"

    def _users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.world.workos.setdefault("users", [])
        return users

    def _check_world(self) -> None:
        for user in self._users():
            account = user.get("slack")
            if isinstance(account, dict):
                self._world_token(account.get("token"), f"user {user.get('id')}")

    def _user(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self._users() if u.get("id") == user_id), None)

    def set_state(self, user_id: str, state: str) -> None:
        """connected | needs_reauthorization | disconnected | not_installed (no account)."""
        with self.world.lock:
            user = self._user(user_id)
            if user is None:
                raise KeyError(user_id)
            if state == "not_installed":
                user["slack"] = None
            elif isinstance(user.get("slack"), dict):
                user["slack"]["state"] = state

    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Reply:
        if method == "GET" and parts == ["user_management", "users"]:
            return self._list_users(query)
        if len(parts) >= 4 and parts[:2] == ["user_management", "users"]:
            user = self._user(parts[2])
            if user is None:
                return _reply(404, self._error("entity_not_found", "user not found"))
            if method == "GET" and parts[3:] == ["data_providers"]:
                return _reply(200, self._providers(user))
            if method == "DELETE" and parts[3:] == ["connected_accounts", "slack"]:
                if not isinstance(user.get("slack"), dict):
                    return _reply(404, self._error("entity_not_found", "no connected account"))
                user["slack"] = None
                return _reply(200, {})
        if method == "POST" and parts == ["data-integrations", "slack", "token"]:
            return self._token(body if isinstance(body, dict) else {})
        return _reply(404, self._error("not_found", "no such endpoint"))

    def _list_users(self, query: dict[str, str]) -> Reply:
        users = self._users()
        limit = max(1, min(100, int(query.get("limit") or 10)))
        start = 0
        after = query.get("after")
        if after:
            ids = [u.get("id") for u in users]
            if after not in ids:
                return _reply(422, self._error("invalid_cursor", "unknown cursor"))
            start = ids.index(after) + 1
        page = users[start : start + limit]
        more = start + limit < len(users)
        data = [
            {
                "object": "user",
                **{k: v for k, v in u.items() if k != "slack"},
            }
            for u in page
        ]
        meta = {"before": None, "after": page[-1]["id"] if more and page else None}
        return _reply(200, {"object": "list", "data": data, "list_metadata": meta})

    def _account_scopes(self, account: dict[str, Any]) -> list[str]:
        if account.get("scopes") is not None:
            return list(account["scopes"])
        entry = self.world.token(account.get("token", "")) or {}
        return list(entry.get("scopes", []))

    def _providers(self, user: dict[str, Any]) -> dict[str, Any]:
        account = user.get("slack")
        provider: dict[str, Any] = {
            "object": "data_provider",
            "id": "data_provider_slack",
            "slug": "slack",
            "name": "Slack",
            "scopes": [],
            "connected_account": None,
        }
        if isinstance(account, dict):
            scopes = self._account_scopes(account)
            provider["scopes"] = list(account.get("requested_scopes") or scopes)
            provider["connected_account"] = {
                "object": "connected_account",
                "id": account["id"],
                "user_id": user["id"],
                "organization_id": account.get("organization_id"),
                "scopes": scopes,
                "state": account.get("state", "connected"),
                "created_at": account.get("created_at", "2026-01-01T00:00:00.000Z"),
                "updated_at": account.get("updated_at", "2026-01-01T00:00:00.000Z"),
            }
        return {"object": "list", "data": [provider]}

    def _token(self, body: dict[str, Any]) -> Reply:
        user = self._user(str(body.get("user_id", "")))
        if user is None:
            return _reply(404, self._error("entity_not_found", "user not found"))
        account = user.get("slack")
        if not isinstance(account, dict):
            return _reply(200, {"active": False, "error": "not_installed"})
        if account.get("token_error"):
            return _reply(200, {"active": False, "error": account["token_error"]})
        state = account.get("state", "connected")
        if state == "needs_reauthorization":
            return _reply(200, {"active": False, "error": "needs_reauthorization"})
        if state != "connected":
            return _reply(200, {"active": False, "error": "not_installed"})
        granted = self._account_scopes(account)
        requested = list(account.get("requested_scopes") or granted)
        token = {
            "object": "access_token",
            "access_token": account["token"],
            "expires_at": account.get("expires_at"),
            "scopes": granted,
            "missing_scopes": [s for s in requested if s not in granted],
        }
        return _reply(200, {"active": True, "access_token": token})


class NangoSandbox(BrokerSandbox):
    """Fake Nango: connection listing, credentials (with a Slack ``raw``), deletion.

    Answers as NangoHQ/nango's server does (files cited per behaviour). Connection states:
    ``ok``; ``refresh_failed`` (Slack refuses the refresh: 400 on a read, then 424 backoff
    for 30 s, then 400 again); ``refresh_exhausted`` (424, Nango gave up; the legacy
    ``invalid_credentials`` state means the same).
    """

    section = "nango"
    key_field = "secret_key"
    # packages/shared/lib/services/connections/utils.ts REFRESH_FAILURE_COOLDOWN_MS
    REFRESH_COOLDOWN = 30.0
    # packages/shared/lib/utils/error.ts, the messages getConnection.ts sends along
    MESSAGES: ClassVar[dict[str, str]] = {
        "refresh_failed": "The external API returned an error when trying to refresh the "
                          "access token. Please try again later.",
        "refresh_exhausted": "The refresh limit has been reached for this connection.",
        "refresh_backoff": "A recent refresh attempt failed. Backing off before retrying.",
    }

    def __init__(self, world: World, host: str = "127.0.0.1", port: int = 0) -> None:
        super().__init__(world, host, port)
        self.monotonic = time.monotonic  # replaceable, for the refresh cooldown
        self._failed_at: dict[tuple[str, str], float] = {}
        # Integrations (provider config keys) exist independently of their connections.
        self.integrations: set[str] = set(self.world.nango.get("integrations") or []) | {
            str(c.get("provider_config_key", "slack")) for c in self._connections()
        } | {"slack"}

    def _error(self, code: str, message: str) -> dict[str, Any]:
        return {"error": {"code": code, "message": message}}

    def _connections(self) -> list[dict[str, Any]]:
        conns: list[dict[str, Any]] = self.world.nango.setdefault("connections", [])
        return conns

    def _check_world(self) -> None:
        for conn in self._connections():
            where = f"connection {conn.get('connection_id')}"
            self._world_token(conn.get("token"), where)
            if conn.get("bot_token"):
                self._world_token(conn["bot_token"], where)

    def _find(self, conn_id: str, key: str | None) -> dict[str, Any] | None:
        for conn in self._connections():
            if conn.get("connection_id") == conn_id and (
                key is None or conn.get("provider_config_key", "slack") == key
            ):
                return conn
        return None

    def set_state(self, connection_id: str, state: str) -> None:
        """ok | refresh_failed | refresh_exhausted (invalid_credentials: the same)."""
        with self.world.lock:
            conn = self._find(connection_id, None)
            if conn is None:
                raise KeyError(connection_id)
            conn["state"] = state

    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Reply:
        if method == "GET" and parts == ["connections"]:
            return self._list(query)
        if len(parts) == 2 and parts[0] == "connections":
            key = query.get("provider_config_key")
            if not key:  # the zod query schemas of getConnection.ts / deleteConnection.ts
                return _reply(400, {"error": {"code": "invalid_query_params"}})
            conn = self._find(parts[1], key)
            if method == "DELETE":
                if conn is None:  # connectionId/deleteConnection.ts
                    return _reply(400, {"error": {"code": "unknown_connection"}})
                self._connections().remove(conn)
                return _reply(200, {"success": True})
            if method == "GET":
                return self._get(conn, key, query)
        return _reply(404, self._error("not_found", "no such endpoint"))

    def _get(self, conn: dict[str, Any] | None, key: str, query: dict[str, str]) -> Reply:
        # connectionId/getConnection.ts via connection.service.ts getConnectionWithCredentials
        if key not in self.integrations:
            return _reply(400, self._error("unknown_provider_config", "Provider does not exists"))
        if conn is None:
            return _reply(404, self._error("not_found", "Failed to find connection"))
        refused = self._refresh_outcome(conn, key)
        if refused is not None:
            # status from the NangoError; code invalid_credentials; the connection without
            # its credentials in the payload
            status = 400 if refused == "refresh_failed" else 424
            error = self._error("invalid_credentials", self.MESSAGES[refused])
            error["error"]["payload"] = {"connection": {**self._summary(conn),
                                                        "credentials": {}}}
            return _reply(status, error)
        creds = self._creds(conn, with_refresh=query.get("refresh_token") == "true")
        return _reply(200, {**self._summary(conn), "credentials": creds})

    def _refresh_outcome(self, conn: dict[str, Any], key: str) -> str | None:
        """credentials/refresh.ts refreshOrTestCredentials: exhausted first, then the
        cooldown after a failure (backoff), else a refresh attempt that fails again."""
        state = conn.get("state", "ok")
        if state in ("refresh_exhausted", "invalid_credentials"):
            return "refresh_exhausted"
        if state != "refresh_failed":
            return None
        address = (key, str(conn["connection_id"]))
        last = self._failed_at.get(address)
        now = self.monotonic()
        if last is not None and now - last < self.REFRESH_COOLDOWN:
            return "refresh_backoff"
        self._failed_at[address] = now
        return "refresh_failed"

    def _summary(self, conn: dict[str, Any]) -> dict[str, Any]:
        # formatters/connection.ts connectionSimpleToPublicApi; errors are active auth logs
        errors = (
            [{"type": "auth", "log_id": "log-1"}]
            if conn.get("state", "ok") != "ok"
            else []
        )
        return {
            "id": conn.get("id", 0),
            "connection_id": conn["connection_id"],
            "provider": conn.get("provider", "slack"),
            "provider_config_key": conn.get("provider_config_key", "slack"),
            "created": conn.get("created", "2026-01-01T00:00:00.000Z"),
            "metadata": conn.get("metadata"),
            "tags": dict(conn.get("tags") or {}),
            "end_user": conn.get("end_user"),
            "errors": errors,
        }

    def _list(self, query: dict[str, str]) -> Reply:
        conns = [self._summary(c) for c in self._connections()]
        if not self.world.nango.get("ignore_paging"):
            limit = max(1, int(query.get("limit") or 1000))
            page = max(0, int(query.get("page") or 0))
            conns = conns[page * limit : (page + 1) * limit]
        return _reply(200, {"connections": conns})

    def _creds(self, conn: dict[str, Any], *, with_refresh: bool) -> dict[str, Any]:
        """Slack's oauth.v2.access answer as Nango keeps it: ``access_token`` from the top
        level, else ``authed_user`` (providers.yaml slack, alternate_access_token_response_path;
        connection.service.ts parseRawCredentials). Refresh tokens are stripped unless
        ``refresh_token=true`` (connection.service.ts withoutRefreshTokenProperties)."""
        main = self.world.token(conn["token"]) or {}
        bot = self.world.token(conn["bot_token"]) if conn.get("bot_token") else None
        rotating = bool(conn.get("refresh"))
        team_id = main.get("team_id")
        team = self.world.teams.get(str(team_id), {})
        raw: dict[str, Any] = {
            "ok": True,
            "app_id": conn.get("app_id", "A0SANDBOX"),
            "team": {"id": team_id, "name": team.get("name")},
            "enterprise": None,
            "is_enterprise_install": False,
        }
        cid = str(conn["connection_id"])
        if main.get("kind") == "user":
            authed: dict[str, Any] = {
                "id": main.get("user_id"),
                "scope": ",".join(main.get("scopes", [])),
                "access_token": conn["token"],
                "token_type": "user",
            }
            if rotating:
                authed.update({"expires_in": 43200,
                               "refresh_token": "sandbox-user-refresh-" + cid})
            raw["authed_user"] = authed
            top = bot
        else:
            raw["authed_user"] = {"id": conn.get("installer_user_id")}
            top = main
        access = conn["token"]
        if top is not None:
            access = top["token"]
            raw.update(
                {
                    "access_token": top["token"],
                    "token_type": "bot",
                    "scope": ",".join(top.get("scopes", [])),
                    "bot_user_id": top.get("user_id"),
                }
            )
            if rotating:
                raw.update({"expires_in": 43200, "refresh_token": "sandbox-refresh-" + cid})
        creds: dict[str, Any] = {
            "type": "OAUTH2",
            "access_token": access,
            "expires_at": conn.get("expires_at"),
            "raw": raw,
        }
        if rotating:
            creds["refresh_token"] = "sandbox-refresh-" + cid
            if creds["expires_at"] is None:
                creds["expires_at"] = "2099-01-01T00:00:00.000Z"
        if not with_refresh:
            creds = _without_refresh_tokens(creds)
        return creds


def _without_refresh_tokens(value: Any) -> Any:
    """connection.service.ts withoutRefreshTokenProperties: every key spelled like
    refresh_token, at any depth."""
    if isinstance(value, dict):
        return {k: _without_refresh_tokens(v) for k, v in value.items()
                if "".join(ch for ch in k if ch.isalpha()).lower() != "refreshtoken"}
    if isinstance(value, list):
        return [_without_refresh_tokens(v) for v in value]
    return value
