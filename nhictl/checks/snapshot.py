"""Building the rules' snapshot from the inventory (read-only).

The one place ``nhictl.checks`` reads the store: bindings, usage, holder observations,
Slack's ledger and review decisions become plain views here; the rules never see a
connection.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import fields
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, func, or_, select

from nhictl.checks.accepted import AcceptedRisk, accepted_risks
from nhictl.checks.common import gc_paused
from nhictl.checks.model import BindingView, LedgerEntryView, ObservationView, Snapshot
from nhictl.ledgers.store import iter_entries
from nhictl.models import EventType, TokenKind
from nhictl.store import repo
from nhictl.store.ordering import sorted_like_sqlite
from nhictl.store.seen import SeenOverlay
from nhictl.store.tables import BINDINGS, EVENTS, SOURCE_OBSERVATIONS, USAGE


def _tuple(value: Any) -> tuple[str, ...]:
    return tuple(str(v) for v in value) if value else ()


def view_from_binding(
    data: dict[str, Any], additions: Iterable[tuple[str, tuple[str, ...]]] = ()
) -> BindingView:
    """A view from a decoded bindings row (``repo.decode_binding``)."""
    granted = data.get("granted_scopes")
    approved = data.get("approved_scopes")
    return BindingView(
        id=data["id"],
        source=data.get("source") or "",
        connection_id=data.get("connection_id") or "",
        status=data.get("status") or "unvalidated",
        tenant=data.get("tenant"),
        owner_id=data.get("owner_id"),
        owner_email=data.get("owner_email"),
        owner_name=data.get("owner_name"),
        owner_status=data.get("owner_status"),
        purpose=_tuple(data.get("purpose")),
        declared_scopes=_tuple(data.get("declared_scopes")),
        granted_scopes=_tuple(granted) if granted is not None else None,
        approved_scopes=_tuple(approved) if approved is not None else None,
        used_scopes=_tuple(data.get("used_scopes")),
        source_team_id=data.get("source_team_id"),
        source_slack_user_id=data.get("source_slack_user_id"),
        workspace_id=data.get("workspace_id"),
        workspace_name=data.get("workspace_name"),
        slack_user_id=data.get("slack_user_id"),
        token_kind=data.get("token_kind"),
        channel_id=data.get("channel_id"),
        created_at=data.get("created_at"),
        token_expires_at=data.get("token_expires_at"),
        token_fingerprint=data.get("token_fingerprint"),
        status_changed_at=data.get("status_changed_at"),
        slack_user_deleted=data.get("slack_user_deleted"),
        first_seen_at=data.get("first_seen_at"),
        last_seen_at=data.get("last_seen_at"),
        last_validated_at=data.get("last_validated_at"),
        last_validation_outcome=data.get("last_validation_outcome"),
        last_validation_error=data.get("last_validation_error"),
        last_used_at=data.get("last_used_at"),
        last_reviewed_at=data.get("last_reviewed_at"),
        last_review_decision=data.get("last_review_decision"),
        revoked_at=data.get("revoked_at"),
        scope_additions=tuple(additions),
    )


def scope_additions(conn: Connection) -> dict[str, list[tuple[str, tuple[str, ...]]]]:
    """Granted-scope additions between validations, per binding, oldest first.

    Only ``scope_changed`` events whose basis is ``previous_validation`` count: the first
    validation (basis ``source``, granted vs declared) is the baseline, not an expansion.
    """
    out: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for ev in repo.iter_events(conn, types=[EventType.SCOPE_CHANGED.value]):
        details = ev["details"]
        if ev["binding_id"] is None or details.get("basis") != "previous_validation":
            continue
        added = _tuple(details.get("added"))
        if added:
            out[ev["binding_id"]].append((ev["at"], added))
    return out


# BindingView fields read straight from bindings columns, in the view's field order.
_LIST_FIELDS = frozenset({"purpose", "declared_scopes", "granted_scopes", "approved_scopes",
                          "used_scopes"})
_UNIQUE_FIELDS = frozenset({"id", "connection_id", "token_fingerprint"})
_VIEW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BindingView))[:-1]
assert fields(BindingView)[-1].name == "scope_additions"  # passed last, positionally


def _iter_views(
    conn: Connection, additions: dict[str, list[tuple[str, tuple[str, ...]]]]
) -> Iterator[BindingView]:
    """Views straight from the needed columns (same order as ``repo.iter_bindings``).

    100,000 bindings repeat few distinct values (sources, statuses, tenants, owners, scope
    lists, timestamps of one reconcile), so equal values are shared: one decode and one
    object per distinct value keeps the snapshot small and quick to build.
    """
    columns = [BINDINGS.c[name] for name in _VIEW_FIELDS]
    query = select(*columns).order_by(*sorted_like_sqlite(
        BINDINGS.c.tenant, BINDINGS.c.owner_email, BINDINGS.c.id))
    shared: dict[str, str] = {}
    lists: dict[str, tuple[str, ...] | None] = {}
    lists_at = [i for i, name in enumerate(_VIEW_FIELDS) if name in _LIST_FIELDS]
    shared_at = [i for i, name in enumerate(_VIEW_FIELDS)
                 if name not in _LIST_FIELDS and name not in _UNIQUE_FIELDS]
    empty_at = [_VIEW_FIELDS.index(n) for n in ("purpose", "declared_scopes", "used_scopes")]
    at = {name: _VIEW_FIELDS.index(name) for name in ("id", "status", "source",
                                                      "connection_id")}
    no_additions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    seen, last_seen = SeenOverlay.load(conn), _VIEW_FIELDS.index("last_seen_at")
    # Per statement: Connection.execution_options would make every later statement on this
    # connection stream too (on PostgreSQL a server-side cursor, which an INSERT cannot be).
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": 5000})
    for row in result:
        values = list(row)
        for i in lists_at:
            text = values[i]
            if text is None:
                continue
            if text not in lists:
                decoded = json.loads(text)
                lists[text] = None if decoded is None else _tuple(decoded)
            values[i] = lists[text]
        for i in shared_at:
            value = values[i]
            if type(value) is str:
                values[i] = shared.setdefault(value, value)
        # Unset lists mean "not known" only for granted/approved; the others default empty.
        for i in empty_at:
            if values[i] is None:
                values[i] = ()
        values[at["status"]] = values[at["status"]] or "unvalidated"
        values[at["source"]] = values[at["source"]] or ""
        values[at["connection_id"]] = values[at["connection_id"]] or ""
        values[last_seen] = seen.last_seen(values[at["source"]], values[at["status"]],
                                           values[last_seen])
        found = additions.get(values[at["id"]])
        values.append(tuple(found) if found else no_additions)
        yield BindingView(*values)


def ledger_views(conn: Connection) -> tuple[LedgerEntryView, ...]:
    """Slack's side of the grants, oldest first."""
    return tuple(
        LedgerEntryView(id=e.id, kind=e.kind, action=e.action, at=e.at, app_id=e.app_id,
                        enterprise_id=e.enterprise_id, workspace_id=e.workspace_id,
                        user_id=e.user_id, actor_id=e.actor_id, scopes=tuple(e.scopes),
                        details=e.details, collector=e.collector)
        for e in iter_entries(conn))


def binding_links(conn: Connection, *, all_bindings: bool = True
                  ) -> tuple[dict[str, str], dict[str, str]]:
    """Per binding, the Slack app id and a bot token's installer its holder recorded
    (metadata ``app_id`` / ``installer_user_id``); only rows that mention them are read.
    Without a ledger to match (``all_bindings`` false) only bot tokens whose installer
    users.info saw deleted are read: installer_departed names the installer."""
    apps: dict[str, str] = {}
    installers: dict[str, str] = {}
    meta = BINDINGS.c.metadata_json
    query = select(BINDINGS.c.id, meta).where(or_(meta.like('%"app_id"%'),
                                                   meta.like('%"installer_user_id"%')))
    if not all_bindings:
        query = query.where(BINDINGS.c.token_kind == TokenKind.BOT.value,
                            BINDINGS.c.slack_user_deleted.is_(True))
    for bid, text in conn.execute(query):
        try:
            data = json.loads(text or "{}")
        except ValueError:
            continue
        if not isinstance(data, dict):
            continue
        for key, out in (("app_id", apps), ("installer_user_id", installers)):
            value = data.get(key)
            if isinstance(value, str) and value.strip():
                out[str(bid)] = value.strip()
    return apps, installers


def load_accepted(conn: Connection, now: datetime) -> list[AcceptedRisk]:
    """Active accepted risks: from each binding's latest decision, when it is a keep."""
    latest: dict[str, dict[str, Any]] = {}
    rows = conn.execute(select(EVENTS.c.binding_id, EVENTS.c.details)
                        .where(EVENTS.c.type == EventType.REVIEW_DECISION.value)
                        .order_by(EVENTS.c.seq))
    for bid, details in rows:
        if bid:
            latest[str(bid)] = json.loads(details or "{}")
    return accepted_risks(latest, now)


def load_snapshot(conn: Connection) -> Snapshot:
    additions = scope_additions(conn)
    with gc_paused():
        views = tuple(_iter_views(conn, additions))
    since = {
        str(source): str(first)
        for source, first in conn.execute(
            select(USAGE.c.source, func.min(USAGE.c.at)).group_by(USAGE.c.source))
        if source is not None
    }
    observations = tuple(
        ObservationView(source=row.source, kind=row.kind, subject=row.subject,
                        details=json.loads(row.details or "{}"), observed_at=row.observed_at)
        for row in conn.execute(select(SOURCE_OBSERVATIONS).order_by(
            SOURCE_OBSERVATIONS.c.source, SOURCE_OBSERVATIONS.c.kind,
            SOURCE_OBSERVATIONS.c.subject)))
    ledger = ledger_views(conn)
    apps, installers = binding_links(conn, all_bindings=bool(ledger))
    return Snapshot(bindings=views, observations=observations, usage_sources=frozenset(since),
                    usage_since=since, ledger=ledger, binding_apps=apps, installers=installers)
