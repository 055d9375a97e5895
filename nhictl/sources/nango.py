"""Nango: Slack connections held (and refreshed) by a Nango instance.

``collect`` lists connections (``GET /connections``, ``limit``/``page``) and keeps Slack ones,
then fetches each connection's credentials (``GET /connections/{id}?provider_config_key=KEY``,
one call per connection) because scopes, team, Slack user, token kind and expiry only live
there. Nango refreshes an expired token on that GET, so the token in the record is used as-is
for validation; ``fetch_token`` asks again only when the record carries no token or it has
expired since. nhictl never spends (nor asks for) the refresh token.

One connection gives one binding per Slack token it holds: ``credentials.access_token`` as
the connection id, and a user token beside a bot token as ``<id>#user`` (see
:mod:`nhictl.sources.nango_wire`). A connection Nango cannot hand a token for right now is
that connection's problem, never the source's: a refresh given up for good is a record with
``dead_reason``; a failed or backed-off refresh is a record whose token fetch fails
(inconclusive: the binding keeps its status and its other bindings are not swept).
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from dataclasses import replace
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
    normalize_time,
    quote_segment,
)
from nhictl.sources.nango_wire import USER_PART, Unavailable, is_gone, token_parts, unavailable

DEFAULT_BASE_URL = "https://api.nango.dev"
DEFAULT_PROVIDER_CONFIG_KEY = "slack"
Address = tuple[str, str]  # (provider_config_key, connection_id) at Nango


def _str(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


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
        # GET /connections takes limit 1-2000 (controllers/connection/getConnections.ts):
        # 1,000 a page keeps the page budget far above any real Nango.
        page_limit: int = 1000,
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
        # Per run: connections Nango could not hand a token for (so a token fetch does not
        # ask again), and each connection's bindings (for ``companions``).
        self._unavailable: dict[Address, Unavailable] = {}
        self._seen: dict[Address, list[SourceRecord]] = {}

    # -- Source protocol -------------------------------------------------------------------
    def describe(self) -> str:
        key = f"key from ${self.secret_key_env}" if self.secret_key_env else "key configured"
        return (
            f"Nango at {self._api.origin}, integration {self.provider_config_key!r} ({key})"
        )

    def collect(self) -> Iterator[SourceRecord]:
        for conn in self._slack_connections():
            conn_id = _str(conn.get("connection_id"))
            if conn_id is None:
                raise SourceError(self.name, "a connection in the listing has no connection_id")
            key = _str(conn.get("provider_config_key")) or self.provider_config_key
            yield from self._records(conn, (key, conn_id))

    def fetch_token(self, record: SourceRecord) -> TokenFetch:
        if record.token is not None and not self._expired(record.token_expires_at):
            return TokenFetch(
                token=record.token,
                expires_at=record.token_expires_at,
                granted_scopes=tuple(record.declared_scopes),
            )
        address = self._address(record)
        answer = self._unavailable.get(address) if record.token is None else None
        if answer is None:
            got = self._credentials(address)
            if got is None:
                return TokenFetch(dead_reason="not_installed")
            if isinstance(got, dict):
                suffix = _str(record.metadata.get("part")) or ""
                part = next((p for p in token_parts(got) if p.suffix == suffix), None)
                if part is None:
                    return TokenFetch(dead_reason="not_installed")
                if part.token is None:
                    raise SourceError(self.name, f"connection {address[1]} has no usable "
                                      "Slack token")
                return TokenFetch(token=part.token, expires_at=part.expires_at,
                                  granted_scopes=tuple(part.scopes))
            answer = got
        if answer.dead:
            return TokenFetch(dead_reason=answer.reason)
        raise SourceError(self.name, f"connection {address[1]}: {answer.detail}")

    def find(self, connection_id: str, owner_id: str | None = None) -> SourceRecord | None:
        """One binding by the id ``collect`` gave it (a credentials call, not a listing);
        None when Nango no longer holds it. ``KEY:id`` names a connection under another
        integration key; keys and ids may themselves hold ":", so each split is tried."""
        base = connection_id.removesuffix(USER_PART)
        candidates = [(self.provider_config_key, base)]
        candidates += [(base[:i], base[i + 1:]) for i, ch in enumerate(base)
                       if ch == ":" and base[:i] != self.provider_config_key]
        for key, conn_id in candidates:
            if not conn_id:
                continue
            records = list(self._records({"connection_id": conn_id,
                                          "provider_config_key": key}, (key, conn_id)))
            if records:
                found = next((r for r in records if r.connection_id == connection_id), None)
                if found is None and records[0].partial:
                    # Nango holds the connection but cannot describe its tokens now: the
                    # user part is as unavailable as the rest, not gone.
                    found = replace(records[0], connection_id=connection_id,
                                    metadata={**records[0].metadata, "part": USER_PART})
                return found
        return None

    def companions(self, record: SourceRecord) -> list[SourceRecord]:
        """The other bindings of the same Nango connection (its bot and user tokens): all
        of them must be revoked at Slack before the connection is deleted at Nango."""
        address = self._address(record)
        records = self._seen.get(address)
        if records is None:
            records = list(self._records({"connection_id": address[1],
                                          "provider_config_key": address[0]}, address))
        return [r for r in records if r.connection_id != record.connection_id]

    def remove(self, record: SourceRecord) -> None:
        """Delete the connection at Nango. Already gone (400 ``unknown_connection``, or 404
        from older servers) counts as removed, so a retried revoke succeeds."""
        key, conn_id = self._address(record)
        path = f"/connections/{quote_segment(conn_id)}"
        response = self._api.request("DELETE", path, params={"provider_config_key": key},
                                     allow=(400, 404))
        if response.status_code in (400, 404) and not is_gone(response):
            raise SourceError(self.name, f"DELETE {path}: HTTP {response.status_code}")
        self._seen.pop((key, conn_id), None)

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
    def _address(self, record: SourceRecord) -> Address:
        conn_id = _str(record.metadata.get("connection_id")) or record.connection_id
        key = _str(record.metadata.get("provider_config_key")) or self.provider_config_key
        return key, conn_id

    def _credentials(self, address: Address) -> dict[str, Any] | Unavailable | None:
        """The connection with credentials; Unavailable (refresh failed, backing off or
        exhausted); None when Nango no longer holds it (any other 404 is a SourceError:
        maybe a wrong base URL)."""
        key, conn_id = address
        path = f"/connections/{quote_segment(conn_id)}"
        response = self._api.request(
            "GET", path, params={"provider_config_key": key}, allow=(400, 404, 424)
        )
        if response.status_code in (400, 404, 424):
            if is_gone(response):
                return None
            answer = unavailable(response)
            if answer is None:
                raise SourceError(self.name, f"GET {path}: unexpected HTTP "
                                  f"{response.status_code}")
            return answer
        return self._api.json_body(response, f"GET {path}")

    def _expired(self, expires_at: str | None) -> bool:
        if not expires_at:
            return False
        try:
            moment: datetime = parse_time(expires_at)
        except ValueError:
            return True
        return moment <= self.clock()

    def _records(self, conn: dict[str, Any], address: Address) -> Iterator[SourceRecord]:
        """The bindings of one connection (none when it is gone meanwhile)."""
        got = self._credentials(address)
        if got is None:
            return
        if isinstance(got, Unavailable):
            self._unavailable[address] = got
            # Nango describes the connection (payload.connection) but not its tokens.
            record = self._base_record({**conn, **got.connection}, address, "")
            record.partial = True
            record.source_state = got.reason
            record.token_on_demand = True
            if got.dead:
                record.dead_reason = got.reason
            yield record
            return
        self._unavailable.pop(address, None)
        raw = _dict(_dict(got.get("credentials")).get("raw"))
        records = []
        for part in token_parts(got):
            record = self._base_record({**conn, **got}, address, part.suffix)
            record.token = part.token
            record.token_kind = part.kind
            record.declared_scopes = part.scopes
            record.token_expires_at = part.expires_at
            record.has_refresh_token = part.has_refresh_token
            record.source_team_id = _str(_dict(raw.get("team")).get("id"))
            # Slack's oauth.v2.access: a bot token acts as ``bot_user_id``; ``authed_user.id``
            # is the installer (the person a bot token is checked against), as in slack_sdk's
            # Installation (bot_user_id, user_id).
            installer = _str(_dict(raw.get("authed_user")).get("id"))
            if part.kind == "bot":
                record.source_slack_user_id = _str(raw.get("bot_user_id"))
                if installer:
                    record.metadata["installer_user_id"] = installer
            else:
                record.source_slack_user_id = installer
            record.source_state = "connected" if part.token is not None else "no_token"
            enterprise = _str(_dict(raw.get("enterprise")).get("id"))
            if enterprise:
                record.metadata["enterprise_id"] = enterprise
            records.append(record)
        self._seen[address] = records
        yield from records

    def _base_record(self, conn: dict[str, Any], address: Address, suffix: str) -> SourceRecord:
        key, conn_id = address
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
        metadata: dict[str, Any] = {"connection_id": conn_id, "provider_config_key": key}
        if suffix:
            metadata["part"] = suffix
        return SourceRecord(
            connection_id=record_id + suffix,
            provider="slack",
            tenant=tenant,
            owner_id=owner_id,
            owner_email=owner_email,
            owner_name=owner_name,
            purpose=list(self.default_purpose),
            created_at=normalize_time(conn.get("created_at") or conn.get("created")),
            metadata=metadata,
        )
