"""The common export record, validated at a fraction of the general path's cost.

Nearly every record of a large export is plain: known field names only, every value an ASCII
string within the length cap, no secret-shaped text in the checked fields, canonical times
(``2026-01-02T03:04:05Z``), a known owner status and token kind. :func:`plain_record` makes
the SourceRecord of such a record with a handful of C-level checks over all of it at once,
and returns None for anything else: the general path (``ExportFileSource._record``) then
validates it field by field and names the problem. It never refuses a record itself, so it
cannot refuse one the general path accepts; tests/sources/test_export_fast.py shows that
whatever it accepts, it builds exactly as the general path does.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any

from nhictl.jsonin import MAX_JSON_STRING_CHARS
from nhictl.models import SourceRecord
from nhictl.secret import Secret, token_kind_of

MAX_ID_CHARS = 512  # connection ids are typed back into commands; real ones are < 100
CACHE_LIMIT = 50_000  # distinct values remembered per cache (times, scope lists)

CANONICAL_TIME = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
# Every literal one of export_secrets.SECRET_VALUE_SHAPES needs (the Slack, Bearer/Basic and
# webhook shapes in any case): in ASCII text, no match means no shape can match.
_GITHUB = re.compile(r"gh[pousr]_")


def may_hold_secret_shape(text: str) -> bool:
    """False when ASCII ``text`` holds none of the literals (plain ``in`` tests: C speed)."""
    low = text.lower()
    return ("xox" in low or "xapp" in low or "bearer" in low or "basic" in low
            or "hooks.slack.com" in low or "eyJ" in text or "-----BEGIN" in text
            or "sk_" in text or "rk_" in text or "AKIA" in text
            or _GITHUB.search(text) is not None)
KNOWN_FIELDS = frozenset({
    "id", "provider", "owner_id", "owner_email", "owner_name", "owner_status", "tenant",
    "team_id", "slack_user_id", "channel_id", "token_kind", "purpose", "scopes",
    "created_at", "expires_at", "access_token", "refresh_token"})
_STATUSES = {"active": "active", "deactivated": "deactivated"}
_KINDS = {"user": "user", "bot": "bot"}
# Shared by every export record that has none: nothing in nhictl mutates a record's
# metadata or missing scopes, and a million empty dicts and lists are ~120 MB.
NO_METADATA: dict[str, Any] = {}
NO_SCOPES: list[str] = []


class PlainRecords:
    """Builds SourceRecords for plain export records; its caches make repeated values (a
    tenant, a scope list, an expiry) one string object each, not one per record."""

    def __init__(self, tenant: str | None, default_purpose: list[str]) -> None:
        self.tenant = tenant
        self.default_purpose = default_purpose
        self.shared: dict[str, str] = {}
        self._lists: dict[str, tuple[str, ...]] = {}
        self._sorted: dict[str, tuple[str, ...]] = {}
        self._times: dict[str, str] = {}

    def share(self, text: str) -> str:
        shared = self.shared
        if len(shared) > CACHE_LIMIT:
            shared.clear()
        return shared.setdefault(text, text)

    def split(self, value: str) -> tuple[str, ...]:
        """A comma/space separated list as its pieces (shared strings)."""
        got = self._lists.get(value)
        if got is None:
            if len(self._lists) > CACHE_LIMIT:
                self._lists.clear()
                self._sorted.clear()
            got = self._lists[value] = tuple(self.share(p)
                                             for p in value.replace(",", " ").split())
        return got

    def scopes(self, value: str) -> tuple[str, ...]:
        got = self._sorted.get(value)
        if got is None:
            got = self._sorted[value] = tuple(sorted(set(self.split(value))))
        return got

    def time(self, value: str) -> str | None:
        """A canonical UTC time, checked (a real date), shared; None when not canonical."""
        got = self._times.get(value)
        if got is not None:
            return got
        if not CANONICAL_TIME.fullmatch(value):
            return None
        try:
            datetime.fromisoformat(value[:-1])
        except ValueError:
            return None
        if len(self._times) > CACHE_LIMIT:
            self._times.clear()
        self._times[value] = value
        return value

    def build(self, raw: Any) -> SourceRecord | None:
        """The record's SourceRecord, or None when it is not plain (or is skipped, or bad):
        the general path decides those."""
        if type(raw) is not dict or not raw.keys() <= KNOWN_FIELDS:
            return None
        checked = raw
        access = raw.get("access_token")
        refresh = raw.get("refresh_token")
        if access is not None or refresh is not None:
            checked = raw.copy()
            for token in (checked.pop("access_token", None), checked.pop("refresh_token", None)):
                if token is not None and (type(token) is not str or not token.isascii()
                                          or len(token) > MAX_JSON_STRING_CHARS):
                    return None
        try:
            joined = "\x00".join(checked.values())  # TypeError: a value is not a string
        except TypeError:
            return None
        if (not joined.isascii() or len(joined) > MAX_JSON_STRING_CHARS
                or may_hold_secret_shape(joined)):
            return None
        get = checked.get
        rec_id = get("id")
        if rec_id is None or len(rec_id) > MAX_ID_CHARS:
            return None
        rec_id = rec_id.strip()
        if not rec_id:
            return None
        provider = get("provider")
        if provider is not None and provider.strip() and provider.strip().lower() != "slack":
            return None
        status = get("owner_status")
        if status is not None:
            status = status.strip()
            if status:
                status = _STATUSES.get(status.lower())
                if status is None:
                    return None
            else:
                status = None
        created = get("created_at")
        if created:
            created = self.time(created)
            if created is None:
                return None
        else:
            created = None
        expires = get("expires_at")
        if expires:
            expires = self.time(expires)
            if expires is None:
                return None
        else:
            expires = None
        access = access.strip() if access else None
        kind = _text(get("token_kind"))
        if kind is None:
            kind = token_kind_of(access) if access else None
        else:
            kind = _KINDS.get(kind)
            if kind is None:
                return None
        tenant = _text(get("tenant"))
        team = _text(get("team_id"))
        purpose = get("purpose")
        scopes = get("scopes")
        share = self.share
        return SourceRecord(
            rec_id, "slack", share(tenant) if tenant else self.tenant,
            _text(get("owner_id")), _text(get("owner_email")), _text(get("owner_name")),
            status,
            (list(self.split(purpose)) if purpose else None) or list(self.default_purpose),
            list(self.scopes(scopes)) if scopes else [],
            share(team) if team else None, None,
            _text(get("slack_user_id")), _text(get("channel_id")), kind, created, expires,
            bool(refresh and refresh.strip()), None, NO_SCOPES, None, NO_METADATA,
            Secret(access) if access else None,
        )


def _text(value: str | None) -> str | None:
    return (value.strip() or None) if value is not None else None

