"""Nango: Slack connections held (and refreshed) by a Nango instance.

``collect`` lists connections (``GET /connections``, ``limit``/``page``) and keeps Slack ones,
then fetches each connection's credentials (``GET /connections/{id}?provider_config_key=KEY``,
one call per connection) because scopes, team, Slack user, token kind and expiry only live
there. Nango refreshes an expired token on that GET, so the token in the record is used as-is
for validation; ``fetch_token`` asks again only when the record carries no token or it has
expired since. nhictl never spends the refresh token. A 424 ``invalid_credentials`` (refresh
exhausted) makes a record with ``dead_reason`` rather than failing the source.

The user token of a user-scoped install sits in ``credentials.raw.authed_user.access_token``
(kind ``user``, scopes from ``raw.authed_user.scope``); otherwise the bot token
``credentials.access_token`` is used (kind ``bot``, scopes from ``raw.scope``).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from datetime import datetime
from typing import Any

import httpx

from nhictl.clock import Clock, parse_time, system_clock
from nhictl.errors import SourceError
from nhictl.models import SourceRecord
from nhictl.net import HttpPolicy
from nhictl.secret import Secret
from nhictl.sources.base import TokenFetch
from nhictl.sources.http import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_MAX_PAGES,
    DEFAULT_TIMEOUT,
    BrokerSource,
    PageGuard,
    Sleep,
    error_code,
    normalize_time,
    quote_segment,
)

DEFAULT_BASE_URL = "https://api.nango.dev"
DEFAULT_PROVIDER_CONFIG_KEY = "slack"
DEAD_CREDENTIALS = "invalid_credentials"


def _str(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scopes(value: object) -> list[str]:
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str) and s]
    if isinstance(value, str):
        return [s.strip() for s in value.replace(" ", ",").split(",") if s.strip()]
    return []


class NangoSource(BrokerSource):
    """A Nango source (implements ``Source`` and ``RemovableSource``)."""

    kind = "nango"

    def __init__(
        self,
        name: str,
        *,
        secret_key: Secret,
        secret_key_env: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        provider_config_key: str = DEFAULT_PROVIDER_CONFIG_KEY,
        default_purpose: str | Collection[str] | None = None,
        tenant: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Sleep = time.sleep,
        clock: Clock = system_clock,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        page_limit: int = 100,
        max_pages: int = DEFAULT_MAX_PAGES,
        policy: HttpPolicy | None = None,
    ) -> None:
        super().__init__(
            name,
            secret=secret_key,
            env_var=secret_key_env,
            base_url=base_url,
            default_purpose=default_purpose,
            tenant=tenant,
            client=client,
            transport=transport,
            timeout=timeout,
            sleep=sleep,
            max_attempts=max_attempts,
            page_limit=page_limit,
            max_pages=max_pages,
            policy=policy,
        )
        self.secret_key_env = secret_key_env
        self.provider_config_key = provider_config_key
        self.clock = clock

    # -- Source protocol -------------------------------------------------------------------
    def describe(self) -> str:
        key = f"key from ${self.secret_key_env}" if self.secret_key_env else "key configured"
        return (
            f"Nango at {self._api.origin}, integration {self.provider_config_key!r} ({key})"
        )

    def collect(self) -> Iterator[SourceRecord]:
        for conn in self._slack_connections():
            record = self._record(conn)
            if record is not None:
                yield record

    def fetch_token(self, record: SourceRecord) -> TokenFetch:
        if record.token is not None and not self._expired(record.token_expires_at):
            return TokenFetch(
                token=record.token,
                expires_at=record.token_expires_at,
                granted_scopes=tuple(record.declared_scopes),
            )
        conn_id, key = self._address(record)
        response = self._credentials(conn_id, key)
        if response is None:
            return TokenFetch(dead_reason="not_installed")
        if isinstance(response, str):
            return TokenFetch(dead_reason=response)
        token, _kind, scopes, expires, _raw = _pick_token(response)
        if token is None:
            raise SourceError(self.name, f"connection {conn_id} has no usable Slack token")
        return TokenFetch(token=token, expires_at=expires, granted_scopes=tuple(scopes))

    def find(self, connection_id: str, owner_id: str | None = None) -> SourceRecord | None:
        """One connection by the id ``collect`` gave it (one credentials call, not a
        listing); None when Nango no longer holds it."""
        found = self._record({"connection_id": connection_id,
                              "provider_config_key": self.provider_config_key})
        key, sep, conn_id = connection_id.partition(":")
        if found is None and sep and key != self.provider_config_key:
            # `collect` names connections under another config key "KEY:connection_id".
            found = self._record({"connection_id": conn_id, "provider_config_key": key})
        return found

    def remove(self, record: SourceRecord) -> None:
        """Delete the connection at Nango. Already gone (404) counts as removed."""
        conn_id, key = self._address(record)
        path = f"/connections/{quote_segment(conn_id)}"
        self._api.request("DELETE", path, params={"provider_config_key": key}, allow=(404,))

    def check(self) -> str:
        """Connectivity and credentials: lists connections (no credentials fetched)."""
        count = sum(1 for _ in self._slack_connections())
        return f"ok: {count} Slack connection{'s' if count != 1 else ''} listed"

    # -- listing ---------------------------------------------------------------------------
    def _is_slack(self, conn: dict[str, Any]) -> bool:
        return (
            conn.get("provider") == "slack"
            or conn.get("provider_config_key") == self.provider_config_key
        )

    def _slack_connections(self) -> Iterator[dict[str, Any]]:
        """Slack connections, paged by limit/page; stops on a short or repeated page."""
        path = "/connections"
        guard = PageGuard(self.name, "connections", self.max_pages)
        page = 0
        while True:
            body = self._api.get_json(path, params={"limit": self.page_limit, "page": page})
            items = body.get("connections")
            if not isinstance(items, list) or not all(isinstance(c, dict) for c in items):
                raise SourceError(self.name, f"GET {path}: response has no connections list")
            signature = tuple(
                (_str(c.get("provider_config_key")), _str(c.get("connection_id"))) for c in items
            )
            if page > 0 and (not items or guard.seen(signature)):
                return  # the server ignores paging, or we are past the end
            guard.advance(signature)
            for conn in items:
                if self._is_slack(conn):
                    yield conn
            if len(items) != self.page_limit:
                return  # short page: the end; longer than asked: the server ignores paging
            page += 1

    # -- credentials -----------------------------------------------------------------------
    def _address(self, record: SourceRecord) -> tuple[str, str]:
        conn_id = _str(record.metadata.get("connection_id")) or record.connection_id
        key = _str(record.metadata.get("provider_config_key")) or self.provider_config_key
        return conn_id, key

    def _credentials(self, conn_id: str, key: str) -> dict[str, Any] | str | None:
        """The connection with credentials; a dead reason (424); None when deleted (404
        ``unknown_connection``; any other 404 is a SourceError: maybe a wrong base URL)."""
        path = f"/connections/{quote_segment(conn_id)}"
        response = self._api.request(
            "GET", path, params={"provider_config_key": key}, allow=(404, 424)
        )
        if response.status_code == 404:
            if error_code(response) == "unknown_connection":
                return None
            raise SourceError(self.name, f"GET {path}: HTTP 404 without unknown_connection")
        if response.status_code == 424:
            code = error_code(response)
            return code if code == DEAD_CREDENTIALS else DEAD_CREDENTIALS
        return self._api.json_body(response, f"GET {path}")

    def _expired(self, expires_at: str | None) -> bool:
        if not expires_at:
            return False
        try:
            moment: datetime = parse_time(expires_at)
        except ValueError:
            return True
        return moment <= self.clock()

    def _record(self, conn: dict[str, Any]) -> SourceRecord | None:
        conn_id = _str(conn.get("connection_id"))
        if conn_id is None:
            raise SourceError(self.name, "a connection in the listing has no connection_id")
        key = _str(conn.get("provider_config_key")) or self.provider_config_key
        full = self._credentials(conn_id, key)
        if full is None:
            return None  # deleted between the listing and this call: it is gone
        if isinstance(full, str):
            record = self._base_record(conn, conn_id, key)
            record.dead_reason = full
            record.source_state = full
            record.token_on_demand = True
            return record
        record = self._base_record({**conn, **full}, conn_id, key)
        token, kind, scopes, expires, raw = _pick_token(full)
        authed = _dict(raw.get("authed_user"))
        record.token = token
        record.token_kind = kind
        record.declared_scopes = scopes
        record.token_expires_at = expires
        record.source_team_id = _str(_dict(raw.get("team")).get("id"))
        record.source_slack_user_id = _str(authed.get("id"))
        creds = _dict(full.get("credentials"))
        record.has_refresh_token = bool(
            creds.get("refresh_token")
            or (kind == "user" and authed.get("refresh_token"))
            or (kind == "bot" and raw.get("refresh_token"))
        )
        record.source_state = "connected" if token is not None else "no_token"
        enterprise = _str(_dict(raw.get("enterprise")).get("id"))
        if enterprise:
            record.metadata["enterprise_id"] = enterprise
        return record

    def _base_record(self, conn: dict[str, Any], conn_id: str, key: str) -> SourceRecord:
        tags = _dict(conn.get("tags"))
        end_user = _dict(conn.get("end_user"))
        org = _dict(end_user.get("organization"))
        owner_id = _str(tags.get("end_user_id")) or _str(end_user.get("id"))
        owner_email = _str(tags.get("end_user_email")) or _str(end_user.get("email"))
        owner_name = _str(tags.get("end_user_display_name")) or _str(
            end_user.get("display_name")
        )
        tenant = (
            _str(tags.get("organization_id"))
            or _str(tags.get("end_user_organization_id"))
            or _str(org.get("id"))
            or self.tenant
        )
        record_id = conn_id if key == self.provider_config_key else f"{key}:{conn_id}"
        return SourceRecord(
            connection_id=record_id,
            provider="slack",
            tenant=tenant,
            owner_id=owner_id,
            owner_email=owner_email,
            owner_name=owner_name,
            purpose=list(self.default_purpose),
            created_at=normalize_time(conn.get("created_at") or conn.get("created")),
            metadata={"connection_id": conn_id, "provider_config_key": key},
        )


def _pick_token(
    full: dict[str, Any],
) -> tuple[Secret | None, str | None, list[str], str | None, dict[str, Any]]:
    """(token, kind, scopes, expires_at, raw): the user token when present, else the bot's."""
    creds = _dict(full.get("credentials"))
    raw = _dict(creds.get("raw"))
    authed = _dict(raw.get("authed_user"))
    user_token = _str(authed.get("access_token"))
    if user_token is not None:
        same = user_token == _str(creds.get("access_token"))
        expires = normalize_time(creds.get("expires_at")) if same else None
        return Secret(user_token), "user", _scopes(authed.get("scope")), expires, raw
    bot_token = _str(creds.get("access_token")) or _str(raw.get("access_token"))
    if bot_token is None:
        return None, None, _scopes(raw.get("scope")), None, raw
    kind = "user" if bot_token.startswith(("xoxp-", "xoxe.xoxp-")) else "bot"
    return (
        Secret(bot_token),
        kind,
        _scopes(raw.get("scope")),
        normalize_time(creds.get("expires_at")),
        raw,
    )
