"""WorkOS Pipes: Slack connected accounts held by WorkOS, tokens fetched on demand.

WorkOS has no call listing every connection, so ``collect`` lists users
(``GET /user_management/users``, cursor-paginated by ``list_metadata.after``, no page budget:
a repeated cursor is the only loop), then each user's organization memberships
(``GET /user_management/organization_memberships?user_id=...``, every status), and asks for
the user's data providers once without and once per membership with ``organization_id``
(``GET /user_management/users/{id}/data_providers``): a connected account is scoped to one
organization, so a user connected in two organizations has two. Every Slack provider with a
connected account is one record; its owner status is the membership's status in the
account's organization (users themselves carry none). The token itself is only fetched when
the validator asks (``POST /data-integrations/slack/token``, with the account's
``organization_id``), and WorkOS refreshes it, so nhictl never touches a refresh token.
``remove`` deletes the connected account (WorkOS does not revoke at Slack: revoke there
first). Parameters follow workos-python ``src/workos/pipes/_resource.py`` and
``src/workos/organization_membership/_resource.py``.
"""

from __future__ import annotations

import time
from collections.abc import Collection, Iterator
from typing import Any

import httpx

from nhictl.errors import SourceError
from nhictl.models import SourceRecord, TokenKind
from nhictl.net import HttpPolicy
from nhictl.secret import Secret
from nhictl.sources.base import TokenFetch
from nhictl.sources.http import (
    DEFAULT_MAX_ATTEMPTS,
    DEFAULT_TIMEOUT,
    BrokerSource,
    PageGuard,
    Sleep,
    normalize_time,
    quote_segment,
    safe_code,
)

DEFAULT_BASE_URL = "https://api.workos.com"
PROVIDER = "slack"
# Connected-account states that mean the grant is dead (models.DEAD_TOKEN_STATUS maps them).
DEAD_STATES = frozenset({"needs_reauthorization", "disconnected", "not_installed"})
# Every membership status (the API returns only active ones unless asked:
# list_organization_memberships in workos-python organization_membership/_resource.py).
MEMBERSHIP_STATUSES = "active,inactive,pending"


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _strings(value: object) -> list[str]:
    if not isinstance(value, list):
        return []
    return [v for v in value if isinstance(v, str) and v]


class WorkOSSource(BrokerSource):
    """A WorkOS Pipes source (implements ``Source`` and ``RemovableSource``)."""

    kind = "workos"

    def __init__(
        self,
        name: str,
        *,
        api_key: Secret,
        api_key_env: str | None = None,
        base_url: str = DEFAULT_BASE_URL,
        default_purpose: str | Collection[str] | None = None,
        tenant: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        sleep: Sleep = time.sleep,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        page_limit: int = 100,
        max_pages: int | None = None,
        policy: HttpPolicy | None = None,
    ) -> None:
        super().__init__(
            name,
            secret=api_key,
            env_var=api_key_env,
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
        self.api_key_env = api_key_env

    # -- Source protocol -------------------------------------------------------------------
    def describe(self) -> str:
        key = f"key from ${self.api_key_env}" if self.api_key_env else "key configured"
        return f"WorkOS Pipes at {self._api.origin} ({key})"

    def collect(self) -> Iterator[SourceRecord]:
        for user in self._users():
            user_id = _str(user.get("id"))
            if user_id is None:
                raise SourceError(self.name, "a user in the listing has no id")
            yield from self._records_for(user_id, user)

    def fetch_token(self, record: SourceRecord) -> TokenFetch:
        user_id = record.owner_id or _str(record.metadata.get("user_id"))
        if not user_id:
            raise SourceError(self.name, f"record {record.connection_id} has no WorkOS user id")
        payload: dict[str, str] = {"user_id": user_id}
        org = _str(record.metadata.get("organization_id"))
        if org:
            payload["organization_id"] = org
        path = f"/data-integrations/{PROVIDER}/token"
        body = self._api.json_body(self._api.request("POST", path, json=payload), f"POST {path}")
        if body.get("active") is not True:
            reason = safe_code(body.get("error")) or "not_installed"
            return TokenFetch(dead_reason=reason)
        access = body.get("access_token")
        if not isinstance(access, dict):
            raise SourceError(self.name, f"POST {path}: active response without access_token")
        value = _str(access.get("access_token"))
        if value is None:
            raise SourceError(self.name, f"POST {path}: active response without a token")
        scopes = access.get("scopes")
        return TokenFetch(
            token=Secret(value),
            expires_at=normalize_time(access.get("expires_at")),
            granted_scopes=tuple(_strings(scopes)) if isinstance(scopes, list) else None,
            missing_scopes=tuple(_strings(access.get("missing_scopes"))),
        )

    def find(self, connection_id: str, owner_id: str | None = None) -> SourceRecord | None:
        """One connected account, asked of its user only (the owner id ``collect`` gave
        it); without an owner id, the full listing."""
        if owner_id:
            candidates: Iterator[SourceRecord] = self._records_for(owner_id, {"id": owner_id})
        else:
            candidates = self.collect()
        return next((r for r in candidates if r.connection_id == connection_id), None)

    def remove(self, record: SourceRecord) -> None:
        """Delete the connected account (in its organization). A 404 counts as removed only
        when a follow-up read confirms the account is no longer there."""
        user_id = record.owner_id or _str(record.metadata.get("user_id"))
        if not user_id:
            raise SourceError(self.name, f"record {record.connection_id} has no WorkOS user id")
        path = f"/user_management/users/{quote_segment(user_id)}/connected_accounts/{PROVIDER}"
        org = _str(record.metadata.get("organization_id"))
        params = {"organization_id": org} if org else None
        deleted = self._api.request("DELETE", path, params=params, allow=(404,))
        if deleted.status_code != 404:
            return
        check = self._api.request("GET", path, params=params, allow=(404,))
        if check.status_code == 404:
            return
        still = self._api.json_body(check, f"GET {path}")
        if _str(still.get("id")) == record.connection_id:
            raise SourceError(self.name, f"DELETE {path}: HTTP 404, yet the connected account "
                              "is still there", hint="retry the revoke later")

    def check(self) -> str:
        """Connectivity and credentials: lists every user (not their providers)."""
        count = sum(1 for _ in self._users())
        return f"ok: {count} user{'s' if count != 1 else ''} listed"

    # -- internals -------------------------------------------------------------------------
    def _paged(self, path: str, what: str,
               params: dict[str, str | int]) -> Iterator[dict[str, Any]]:
        """Every object of a cursor-paged list (``list_metadata.after``)."""
        guard = PageGuard(self.name, what, self.max_pages)
        after: str | None = None
        while True:
            page: dict[str, str | int] = {**params, "limit": self.page_limit}
            if after is not None:
                page["after"] = after
            body = self._api.get_json(path, params=page)
            data = body.get("data")
            if not isinstance(data, list):
                raise SourceError(self.name, f"GET {path}: response has no data list")
            for item in data:
                if not isinstance(item, dict):
                    raise SourceError(self.name, f"GET {path}: a {what} entry is not an object")
                yield item
            meta = body.get("list_metadata")
            after = _str(meta.get("after")) if isinstance(meta, dict) else None
            if after is None:
                return
            guard.advance(after)

    def _users(self) -> Iterator[dict[str, Any]]:
        return self._paged("/user_management/users", "users", {})

    def _memberships(self, user_id: str) -> dict[str, str | None]:
        """Organization id -> membership status (active, inactive, pending)."""
        out: dict[str, str | None] = {}
        for m in self._paged("/user_management/organization_memberships", "memberships",
                             {"user_id": user_id, "statuses": MEMBERSHIP_STATUSES}):
            org = _str(m.get("organization_id"))
            if org:
                out[org] = _str(m.get("status"))
        return out

    def _records_for(self, user_id: str, user: dict[str, Any]) -> Iterator[SourceRecord]:
        memberships = self._memberships(user_id)
        path = f"/user_management/users/{quote_segment(user_id)}/data_providers"
        seen: set[str] = set()
        for org in [None, *sorted(memberships)]:
            params = {"organization_id": org} if org else None
            response = self._api.request("GET", path, params=params, allow=(404,))
            if response.status_code == 404:
                return  # the user vanished between the listing and this call
            body = self._api.json_body(response, f"GET {path}")
            data = body.get("data")
            if not isinstance(data, list):
                raise SourceError(self.name, f"GET {path}: response has no data list")
            for provider in data:
                if not isinstance(provider, dict) or provider.get("slug") != PROVIDER:
                    continue
                account = provider.get("connected_account")
                if not isinstance(account, dict):
                    continue
                record = self._record(user_id, user, provider, account, org, memberships)
                if record.connection_id not in seen:
                    seen.add(record.connection_id)
                    yield record

    def _record(
        self,
        user_id: str,
        user: dict[str, Any],
        provider: dict[str, Any],
        account: dict[str, Any],
        asked_org: str | None,
        memberships: dict[str, str | None],
    ) -> SourceRecord:
        account_id = _str(account.get("id"))
        if account_id is None:
            raise SourceError(self.name, f"a connected account of user {user_id} has no id")
        scopes = _strings(account.get("scopes"))
        requested = _strings(provider.get("scopes"))
        missing = [s for s in requested if s not in scopes]
        state = _str(account.get("state"))
        org = _str(account.get("organization_id")) or asked_org
        names = [_str(user.get("first_name")), _str(user.get("last_name"))]
        full_name = " ".join(n for n in names if n) or None
        metadata: dict[str, Any] = {"user_id": user_id}
        if org:
            metadata["organization_id"] = org
        provider_id = _str(provider.get("id"))
        if provider_id:
            metadata["data_provider_id"] = provider_id
        return SourceRecord(
            connection_id=account_id,
            provider=PROVIDER,
            tenant=org or self.tenant,
            owner_id=user_id,
            owner_email=_str(user.get("email")),
            owner_name=full_name,
            owner_status=memberships.get(org) if org else None,
            purpose=list(self.default_purpose),
            declared_scopes=scopes,
            token_kind=TokenKind.USER.value,
            created_at=normalize_time(account.get("created_at")),
            source_state=state,
            missing_scopes=missing,
            dead_reason=state if state in DEAD_STATES else None,
            metadata=metadata,
            token_on_demand=True,
        )
