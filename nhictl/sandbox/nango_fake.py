"""Fake Nango (see :mod:`nhictl.sandbox.brokers`)."""

from __future__ import annotations

import time
from typing import Any, ClassVar

from nhictl.sandbox.broker_base import BrokerSandbox, Reply, _reply
from nhictl.sandbox.world import World


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
