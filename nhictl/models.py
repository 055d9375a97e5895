"""Domain types shared by every stage. No ORM here (see ``nhictl.store`` for tables)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from nhictl.secret import Secret


class Status(StrEnum):
    ACTIVE = "active"
    UNVALIDATED = "unvalidated"
    EXPIRED = "expired"
    NEEDS_RECONNECT = "needs_reconnect"
    REMOVED = "removed"
    REVOKED = "revoked"


class Severity(StrEnum):
    INFO = "info"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
    CRITICAL = "critical"

    @property
    def rank(self) -> int:
        return _SEVERITY_RANK[self]


_SEVERITY_RANK = {s: i for i, s in enumerate(Severity)}


class TokenKind(StrEnum):
    USER = "user"
    BOT = "bot"


class EventType(StrEnum):
    DISCOVERED = "discovered"
    CHANGED = "changed"
    REMOVED = "removed"
    REAPPEARED = "reappeared"
    VALIDATED = "validated"
    VALIDATION_INCONCLUSIVE = "validation_inconclusive"
    STATUS_CHANGED = "status_changed"
    SCOPE_CHANGED = "scope_changed"
    IDENTITY_CHANGED = "identity_changed"
    REVIEW_DECISION = "review_decision"
    REVOKE_PLANNED = "revoke_planned"
    REVOKE_STARTED = "revoke_started"  # written before auth.revoke: an attempt in flight
    REVOKED_AT_SLACK = "revoked_at_slack"  # Slack confirmed; the record may not be written yet
    REVOKED = "revoked"
    REVOKE_FAILED = "revoke_failed"
    MARKED_REMOVED = "marked_removed"  # by the operator, without telling Slack
    USAGE_INGESTED = "usage_ingested"


def binding_id(source: str, connection_id: str) -> str:
    """Stable public id: ``b-`` + 10 hex of SHA-256 over (source, connection id)."""
    digest = hashlib.sha256(f"{source}\x00{connection_id}".encode()).hexdigest()
    return "b-" + digest[:10]


# Fields a source may report about a binding; the reconciler diffs exactly these.
SOURCE_FIELDS: tuple[str, ...] = (
    "provider",
    "tenant",
    "owner_id",
    "owner_email",
    "owner_name",
    "owner_status",
    "purpose",
    "declared_scopes",
    "source_team_id",
    "enterprise_id",
    "source_slack_user_id",
    "channel_id",
    "token_kind",
    "created_at",
    "token_expires_at",
    "has_refresh_token",
    "token_fingerprint",
    "source_state",
    "missing_scopes",
    "metadata",
)


@dataclass(slots=True)
class SourceRecord:
    """One connection as a source reports it. ``token`` stays in memory; never stored.

    ``source_state`` carries a broker's own view of the grant (``connected``,
    ``needs_reauthorization``...); ``dead_reason`` is set when the source itself says the
    grant is dead, which the reconciler maps to ``needs_reconnect``.
    """

    connection_id: str
    provider: str = "slack"
    tenant: str | None = None
    owner_id: str | None = None
    owner_email: str | None = None
    owner_name: str | None = None
    owner_status: str | None = None
    purpose: list[str] = field(default_factory=list)
    declared_scopes: list[str] = field(default_factory=list)
    source_team_id: str | None = None
    # The Enterprise Grid org as the holder recorded it (an org-wide install has no team).
    enterprise_id: str | None = None
    source_slack_user_id: str | None = None
    channel_id: str | None = None
    token_kind: str | None = None
    created_at: str | None = None
    token_expires_at: str | None = None
    has_refresh_token: bool = False
    source_state: str | None = None
    missing_scopes: list[str] = field(default_factory=list)
    dead_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    token: Secret | None = field(default=None, repr=False)
    # True when the token is not in hand but can be fetched on demand from its holder.
    token_on_demand: bool = False
    # True when the holder could not describe the connection in full this time (e.g. a
    # broker that cannot hand out its credentials now): what was known is kept, and the
    # connection's other bindings ("<connection_id>#...") are not swept as removed.
    partial: bool = False
    # Set by an IncrementalSource: its keyed digest of the raw record, stored as the
    # binding's content_hash (reconcile computes one itself for other sources).
    content_digest: str | None = None


@dataclass(frozen=True)
class SourceObservation:
    """A fact a source noticed about its holder while reading it, not about one binding
    (e.g. a store file group or others can read). Kept per source; rules read them."""

    kind: str  # e.g. "store_file_exposed"
    subject: str  # what it is about, e.g. the file's path
    details: dict[str, Any] = field(default_factory=dict)


@dataclass
class ValidationResult:
    """What one live validation of a binding's token concluded.

    ``outcome`` is ``ok``, ``dead`` (the grant is gone: status per ``error``) or
    ``inconclusive`` (transient: status unchanged).
    """

    outcome: str
    error: str | None = None
    workspace_id: str | None = None
    workspace_name: str | None = None
    enterprise_id: str | None = None
    slack_user_id: str | None = None
    bot_id: str | None = None
    token_kind: str | None = None
    granted_scopes: list[str] | None = None
    slack_user_deleted: bool | None = None
    slack_user_checked: bool = False
    token_expires_at: str | None = None
    detail: str | None = None


# Slack (and broker) error codes that mean the grant is dead, and the status they map to.
DEAD_TOKEN_STATUS: dict[str, Status] = {
    "token_expired": Status.EXPIRED,
    "invalid_auth": Status.NEEDS_RECONNECT,
    "not_authed": Status.NEEDS_RECONNECT,
    "token_revoked": Status.NEEDS_RECONNECT,
    "account_inactive": Status.NEEDS_RECONNECT,
    "needs_reauthorization": Status.NEEDS_RECONNECT,
    "not_installed": Status.NEEDS_RECONNECT,
    "disconnected": Status.NEEDS_RECONNECT,
    "invalid_credentials": Status.NEEDS_RECONNECT,
    "refresh_exhausted": Status.NEEDS_RECONNECT,
}
