"""SQLModel tables of the inventory.

Timestamps are ISO 8601 UTC text (``2026-11-29T19:41:14Z``): portable across SQLite and
PostgreSQL and ordered as text. Lists and dicts are JSON text. Events are append-only.
"""

from __future__ import annotations

from sqlalchemy import Table
from sqlmodel import Field, SQLModel


class Meta(SQLModel, table=True):
    __tablename__ = "meta"
    key: str = Field(primary_key=True)
    value: str


class BindingRow(SQLModel, table=True):
    __tablename__ = "bindings"
    id: str = Field(primary_key=True)
    source: str = Field(index=True)
    source_spec: str | None = None
    connection_id: str
    provider: str = "slack"
    tenant: str | None = Field(default=None, index=True)
    owner_id: str | None = None
    owner_email: str | None = None
    owner_name: str | None = None
    owner_status: str | None = None
    purpose: str = "[]"
    declared_scopes: str = "[]"
    granted_scopes: str | None = None  # JSON list from the last successful validation
    approved_scopes: str | None = None  # baseline set by a `keep` review decision
    missing_scopes: str = "[]"
    source_team_id: str | None = None
    source_slack_user_id: str | None = None
    workspace_id: str | None = Field(default=None, index=True)
    workspace_name: str | None = None
    enterprise_id: str | None = None
    slack_user_id: str | None = None
    bot_id: str | None = None
    token_kind: str | None = None
    channel_id: str | None = None
    created_at: str | None = None
    token_expires_at: str | None = None
    has_refresh_token: bool = False
    token_fingerprint: str | None = Field(default=None, index=True)
    source_state: str | None = None
    status: str = Field(default="unvalidated", index=True)
    status_reason: str | None = None
    status_changed_at: str | None = None
    slack_user_deleted: bool | None = None
    slack_user_checked: bool = False
    first_seen_at: str
    last_seen_at: str
    last_validated_at: str | None = None
    last_validation_outcome: str | None = None  # ok | dead | inconclusive
    last_validation_error: str | None = None
    last_used_at: str | None = None
    used_scopes: str = "[]"
    last_reviewed_at: str | None = None
    last_review_decision: str | None = None
    revoked_at: str | None = None
    revoke_reason: str | None = None
    metadata_json: str = "{}"
    run_id: str | None = None  # the run that last wrote this row
    # Hash of what its source last said (nhictl.merge.content_hash): equal means unchanged.
    content_hash: str | None = None


class RunRow(SQLModel, table=True):
    __tablename__ = "runs"
    id: str = Field(primary_key=True)
    kind: str = "reconcile"  # reconcile | check | review | revoke | usage
    command: str | None = None
    actor: str | None = None
    pid: int | None = None
    host: str | None = None  # where the run's process ran (several hosts share an inventory)
    started_at: str
    ended_at: str | None = None
    outcome: str = "running"  # running | ok | partial | failed | interrupted
    counts: str = "{}"
    detail: str | None = None


class EventRow(SQLModel, table=True):
    __tablename__ = "events"
    seq: int | None = Field(default=None, primary_key=True)
    at: str = Field(index=True)
    run_id: str | None = Field(default=None, index=True)
    binding_id: str | None = Field(default=None, index=True)
    type: str
    actor: str | None = None
    details: str = "{}"


class FindingRow(SQLModel, table=True):
    """Findings of one check run; the newest check run is the current state."""

    __tablename__ = "findings"
    pk: int | None = Field(default=None, primary_key=True)
    run_id: str = Field(index=True)
    rule_id: str = Field(index=True)
    binding_id: str | None = Field(default=None, index=True)
    fingerprint: str = Field(index=True)  # rule_id + binding + discriminator, for new/resolved
    severity: str
    title: str
    message: str
    evidence: str = "{}"
    suppressed: bool = False
    suppression: str | None = None
    first_seen_at: str


class UsageRow(SQLModel, table=True):
    """Token-use evidence, deduplicated by a content key so re-ingesting changes nothing."""

    __tablename__ = "usage"
    key: str = Field(primary_key=True)
    binding_id: str = Field(index=True)
    source: str | None = Field(default=None, index=True)
    at: str
    action: str
    channel_id: str | None = None
    scopes: str = "[]"


class SourceObservationRow(SQLModel, table=True):
    """What the last complete read of a source noticed about its holder (e.g. a store file
    others can read), replaced whole on every complete read of that source."""

    __tablename__ = "source_observations"
    source: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    subject: str = Field(primary_key=True)
    details: str = "{}"
    observed_at: str
    run_id: str | None = None


class SourceReadRow(SQLModel, table=True):
    """The newest complete read of a source (``scope`` '' for the whole source, ``K/N`` for
    shard K of N): its live bindings were seen then, so an unchanged binding's row is not
    rewritten to say so (``nhictl.store.seen`` overlays it on every read of a binding)."""

    __tablename__ = "source_reads"
    source: str = Field(primary_key=True)
    scope: str = Field(primary_key=True)
    read_at: str
    run_id: str


class LedgerEntryRow(SQLModel, table=True):
    """What Slack itself says about grants and users (audit logs, integration logs,
    users.info): ids, scopes, actors and times, never a token byte. Audit and integration
    log entries are immutable; a directory row (``users.info:<team>:<user>``) is updated in
    place with the latest answer."""

    __tablename__ = "ledger_entries"
    id: str = Field(primary_key=True)  # <collector>:<native id>
    collector: str = Field(index=True)
    kind: str  # slack-audit | slack-integration-logs | slack-directory
    action: str = Field(index=True)  # normalized (app_installed, user_deactivated, ...)
    at: str = Field(index=True)
    app_id: str | None = Field(default=None, index=True)
    enterprise_id: str | None = None
    workspace_id: str | None = Field(default=None, index=True)
    user_id: str | None = Field(default=None, index=True)  # the subject
    actor_id: str | None = None  # who did it
    scopes: str = "[]"
    details: str = "{}"
    collected_at: str
    run_id: str | None = None


class LedgerCheckpointRow(SQLModel, table=True):
    """How far each ledger collector has read (audit: the ``oldest`` reached; integration
    logs: the newest date seen), so a cron run reads only new entries."""

    __tablename__ = "ledger_checkpoints"
    collector: str = Field(primary_key=True)
    position: str
    updated_at: str
class NotifyStateRow(SQLModel, table=True):
    """What one notification target has been told (``nhictl notify``), so nothing is
    announced twice: ``kind`` ``finding`` (subject: the finding's fingerprint), ``dead``
    (a binding id; detail: its dead status), ``run`` (a partial run's id) or ``cursor``
    (subject ``runs``; detail: the end time of the newest run already considered)."""

    __tablename__ = "notify_state"
    target: str = Field(primary_key=True)
    kind: str = Field(primary_key=True)
    subject: str = Field(primary_key=True)
    detail: str | None = None
    announced_at: str


class LockHolderRow(SQLModel, table=True):
    """Who holds which lock, so a waiter on another host can name it (PostgreSQL only: a
    row is live while ``backend_pid`` holds the scope's advisory lock; see store/pglock.py)."""

    __tablename__ = "lock_holders"
    scope: str = Field(primary_key=True)
    holder: str = Field(primary_key=True)  # one per lock session
    mode: str  # exclusive | shared
    backend_pid: int
    pid: int | None = None
    host: str | None = None
    command: str | None = None
    started_at: str | None = None
    scopes: str = "[]"


# Core Table handles: bulk reads and writes go through SQLAlchemy Core for speed (100k rows).
def _table(model: type[SQLModel]) -> Table:
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table


META = _table(Meta)
BINDINGS = _table(BindingRow)
RUNS = _table(RunRow)
EVENTS = _table(EventRow)
FINDINGS = _table(FindingRow)
USAGE = _table(UsageRow)
SOURCE_OBSERVATIONS = _table(SourceObservationRow)
LEDGER_ENTRIES = _table(LedgerEntryRow)
LEDGER_CHECKPOINTS = _table(LedgerCheckpointRow)
NOTIFY_STATE = _table(NotifyStateRow)
LOCK_HOLDERS = _table(LockHolderRow)
SOURCE_READS = _table(SourceReadRow)
