"""Building the rules' snapshot from the inventory (read-only)."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, select

from nhictl.checks.model import BindingView, Snapshot
from nhictl.models import EventType
from nhictl.store import repo
from nhictl.store.tables import USAGE


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


def load_snapshot(conn: Connection) -> Snapshot:
    additions = scope_additions(conn)
    views = tuple(
        view_from_binding(data, additions.get(data["id"], ()))
        for data in repo.iter_bindings(conn)
    )
    sources = frozenset(
        str(s) for (s,) in conn.execute(select(USAGE.c.source).distinct()) if s is not None
    )
    return Snapshot(bindings=views, usage_sources=sources)
