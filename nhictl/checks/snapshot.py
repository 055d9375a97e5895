"""Building the rules' snapshot from the inventory (read-only).

The one place ``nhictl.checks`` reads the store: bindings, usage, holder observations,
Slack's ledger and review decisions become plain views here; the rules never see a
connection.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import fields, make_dataclass
from datetime import datetime
from operator import itemgetter
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
# Unset lists mean "not known" only for granted/approved; the others default empty.
_EMPTY_WHEN_UNSET = frozenset({"purpose", "declared_scopes", "used_scopes"})
# Values unique per binding (nothing to share) and booleans (True == 1: kept out of the
# shared-string table).
_UNIQUE_FIELDS = frozenset({"id", "connection_id", "token_fingerprint", "slack_user_deleted"})
_VIEW_FIELDS: tuple[str, ...] = tuple(f.name for f in fields(BindingView))[:-1]
assert fields(BindingView)[-1].name == "scope_additions"  # passed last, positionally
# The select's column order: unique values, lists empty when unset, other lists, the rest.
_SELECT_ORDER: tuple[str, ...] = (
    *[n for n in _VIEW_FIELDS if n in _UNIQUE_FIELDS],
    *[n for n in _VIEW_FIELDS if n in _EMPTY_WHEN_UNSET],
    *[n for n in _VIEW_FIELDS if n in _LIST_FIELDS and n not in _EMPTY_WHEN_UNSET],
    *[n for n in _VIEW_FIELDS if n not in _LIST_FIELDS and n not in _UNIQUE_FIELDS],
)
# Where each view field sits in a selected row (then scope_additions, appended last).
_TO_VIEW = itemgetter(*[_SELECT_ORDER.index(n) for n in _VIEW_FIELDS], len(_SELECT_ORDER))


# A mutable twin of BindingView with the same slots, in the same order: built with plain
# slot stores, then made a BindingView by assigning ``__class__`` (same layout; frozen from
# then on). A frozen dataclass's ``__init__`` goes through ``object.__setattr__`` for each
# of its 40 fields, about ten times slower, which dominated building a million views.
_ViewParts = make_dataclass("_ViewParts", [(f.name, Any) for f in fields(BindingView)],
                            slots=True, eq=False, repr=False)
assert _ViewParts.__slots__ == BindingView.__slots__  # type: ignore[attr-defined]


def _view(values: Any) -> BindingView:
    view: Any = _ViewParts(*values)
    view.__class__ = BindingView
    built: BindingView = view
    return built


class _DecodedLists(dict[str | None, tuple[str, ...] | None]):
    """JSON list text -> tuple, decoded once per distinct text (a dict lookup after that).
    ``unset`` is what a NULL column or a JSON ``null`` becomes."""

    def __init__(self, unset: tuple[str, ...] | None) -> None:
        super().__init__({None: unset})
        self.unset = unset

    def __missing__(self, text: str | None) -> tuple[str, ...] | None:
        decoded = json.loads(str(text))
        value = self.unset if decoded is None else _tuple(decoded)
        self[text] = value
        return value


def _iter_views(
    conn: Connection, additions: dict[str, list[tuple[str, tuple[str, ...]]]]
) -> Iterator[BindingView]:
    """Views straight from the needed columns (same order as ``repo.iter_bindings``).

    100,000 bindings repeat few distinct values (sources, statuses, tenants, owners, scope
    lists, timestamps of one reconcile), so equal values are shared: one decode and one
    object per distinct value keeps the snapshot small and quick to build. Each row is
    mapped with C-level ``map``/``itemgetter`` calls, not a Python loop over its columns.
    """
    query = select(*[BINDINGS.c[name] for name in _SELECT_ORDER]).order_by(
        *sorted_like_sqlite(BINDINGS.c.tenant, BINDINGS.c.owner_email, BINDINGS.c.id))
    unique = sum(1 for n in _SELECT_ORDER if n in _UNIQUE_FIELDS)
    empties = unique + len(_EMPTY_WHEN_UNSET)
    lists = unique + len(_LIST_FIELDS)
    empty_lists = _DecodedLists(()).__getitem__
    other_lists = _DecodedLists(None).__getitem__
    shared: dict[Any, Any] = {}
    share = shared.setdefault
    # Positions in a selected row (and in ``values`` below): the select's order, not the
    # view's.
    at = {name: _SELECT_ORDER.index(name) for name in ("id", "status", "source",
                                                        "connection_id")}
    no_additions: tuple[tuple[str, tuple[str, ...]], ...] = ()
    seen, last_seen = SeenOverlay.load(conn), _SELECT_ORDER.index("last_seen_at")
    get_additions = additions.get
    # Per statement: Connection.execution_options would make every later statement on this
    # connection stream too (on PostgreSQL a server-side cursor, which an INSERT cannot be).
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": 5000})
    for row in result:
        t = tuple(row)
        rest = t[lists:]
        values = [*t[:unique], *map(empty_lists, t[unique:empties]),
                  *map(other_lists, t[empties:lists]), *map(share, rest, rest)]
        values[at["status"]] = values[at["status"]] or "unvalidated"
        values[at["source"]] = values[at["source"]] or ""
        values[at["connection_id"]] = values[at["connection_id"]] or ""
        values[last_seen] = seen.last_seen(values[at["source"]], values[at["status"]],
                                           values[last_seen])
        found = get_additions(values[at["id"]])
        values.append(tuple(found) if found else no_additions)
        yield _view(_TO_VIEW(values))


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
