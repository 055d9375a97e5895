"""Sources as the inventory knows them: when each was last reconciled, and retiring one.

``last reconciled`` is the newest complete read of a source (``source_reads``, any shard) or
``last_seen_at`` of its bindings, whichever is newer: a failed read records neither.
``forget`` retires a source that is gone for good: its live bindings become ``removed``, each
with a ``removed`` event saying the source was forgotten (a later reconcile of the same source
brings them back as ``reappeared``). Revoked bindings keep their status.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, case, func, select

from nhictl.clock import iso
from nhictl.models import EventType, Status
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.seen import SeenOverlay
from nhictl.store.tables import BINDINGS, SOURCE_OBSERVATIONS

RETIRED = (Status.REMOVED.value, Status.REVOKED.value)


@dataclass(frozen=True)
class KnownSource:
    name: str
    source_spec: str | None
    bindings: int
    live: int
    last_reconciled_at: str | None


def known_sources(conn: Connection) -> dict[str, KnownSource]:
    live = func.sum(case((BINDINGS.c.status.notin_(RETIRED), 1), else_=0))
    rows = conn.execute(
        select(BINDINGS.c.source, func.max(BINDINGS.c.source_spec), func.count(), live,
               func.max(BINDINGS.c.last_seen_at)).group_by(BINDINGS.c.source))
    reads = SeenOverlay.load(conn).newest
    return {name: KnownSource(name, spec, int(n), int(n_live or 0),
                              max(last or "", reads.get(name, "")) or None)
            for name, spec, n, n_live, last in rows}


def live_bindings(conn: Connection, source: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(BINDINGS.c.id, BINDINGS.c.connection_id, BINDINGS.c.status,
               BINDINGS.c.owner_email, BINDINGS.c.owner_id)
        .where(BINDINGS.c.source == source, BINDINGS.c.status.notin_(RETIRED))
        .order_by(BINDINGS.c.id))
    return [dict(r._mapping) for r in rows]


def forget(
    inv: Inventory, source: str, *, now: datetime, actor: str, command: str,
    reason: str | None = None,
) -> tuple[str, int]:
    """Retire ``source``'s live bindings in one transaction; returns (run id, count)."""
    run_id = repo.begin_run(inv, "forget", now=now, actor=actor, command=command)
    at = iso(now)
    with inv.engine.begin() as conn:
        targets = live_bindings(conn, source)
        why = "source forgotten (nhictl sources forget)"
        events = []
        conn.execute(BINDINGS.update().where(
            BINDINGS.c.source == source, BINDINGS.c.status.notin_(RETIRED)).values(
            status=Status.REMOVED.value, status_reason=why, status_changed_at=at, run_id=run_id))
        for b in targets:
            details: dict[str, Any] = {"from": b["status"], "reason": "source forgotten",
                                       "source": source}
            if reason:
                details["operator_reason"] = reason
            events.append(repo.event_row(at=at, run_id=run_id, binding_id=b["id"],
                                         type=EventType.REMOVED.value, actor=actor,
                                         details=details))
        repo.append_events(conn, events)
        # What its reads noticed about its holder (an exposed store) is no longer reported.
        conn.execute(SOURCE_OBSERVATIONS.delete().where(SOURCE_OBSERVATIONS.c.source == source))
        repo.finish_run(conn, run_id, now=now, outcome="ok",
                        counts={"removed": len(targets)}, detail=f"forgot source {source}")
    return run_id, len(targets)
