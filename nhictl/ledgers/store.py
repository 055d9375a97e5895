"""Repository functions for the Slack-side ledger (SQLAlchemy Core; portable SQL only).

``add_entries`` is idempotent by id: an entry already stored unchanged is skipped, a
changed one (a directory row, re-read) is updated in place. Checkpoints record how far a
collector has read.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable, Iterator
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nhictl.clock import iso
from nhictl.ledgers.model import LedgerEntry
from nhictl.store.tables import LEDGER_CHECKPOINTS, LEDGER_ENTRIES

_CHUNK = 500
# Columns that make an entry what it is; ``at``/``collected_at``/``run_id`` of a directory
# row move every run without the answer changing.
_CONTENT = ("collector", "kind", "action", "app_id", "enterprise_id", "workspace_id",
            "user_id", "actor_id", "scopes", "details")


def _row(entry: LedgerEntry, collected_at: str | None, run_id: str | None) -> dict[str, Any]:
    return {
        "id": entry.id, "collector": entry.collector, "kind": entry.kind,
        "action": entry.action, "at": entry.at, "app_id": entry.app_id,
        "enterprise_id": entry.enterprise_id, "workspace_id": entry.workspace_id,
        "user_id": entry.user_id, "actor_id": entry.actor_id,
        "scopes": json.dumps(sorted(set(entry.scopes))),
        "details": json.dumps(entry.details, sort_keys=True),
        "collected_at": collected_at or entry.collected_at or entry.at,
        "run_id": run_id if run_id is not None else entry.run_id,
    }


def add_entries(conn: Connection, entries: Iterable[LedgerEntry], *,
                collected_at: str | None = None, run_id: str | None = None) -> int:
    """Store entries; returns how many were new or changed (0 on a repeat of the same)."""
    rows: dict[str, dict[str, Any]] = {}
    for entry in entries:
        rows[entry.id] = _row(entry, collected_at, run_id)  # last one wins within a batch
    written = 0
    ids = list(rows)
    for start in range(0, len(ids), _CHUNK):
        chunk = ids[start:start + _CHUNK]
        stored = {r["id"]: dict(r) for r in conn.execute(
            select(LEDGER_ENTRIES).where(LEDGER_ENTRIES.c.id.in_(chunk))).mappings()}
        new = [rows[i] for i in chunk if i not in stored]
        if new:
            conn.execute(LEDGER_ENTRIES.insert(), new)
            written += len(new)
        for i in chunk:
            old = stored.get(i)
            if old is None:
                continue
            row = rows[i]
            if any(old[c] != row[c] for c in _CONTENT):
                written += 1
            elif old["at"] == row["at"]:
                continue
            values = {k: v for k, v in row.items() if k != "id"}
            conn.execute(LEDGER_ENTRIES.update().where(LEDGER_ENTRIES.c.id == i)
                         .values(**values))
    return written


def _entry(row: Any) -> LedgerEntry:
    try:
        scopes = tuple(json.loads(row["scopes"] or "[]"))
    except ValueError:
        scopes = ()
    try:
        details = json.loads(row["details"] or "{}")
    except ValueError:
        details = {}
    return LedgerEntry(
        id=row["id"], collector=row["collector"], kind=row["kind"], action=row["action"],
        at=row["at"], app_id=row["app_id"], enterprise_id=row["enterprise_id"],
        workspace_id=row["workspace_id"], user_id=row["user_id"], actor_id=row["actor_id"],
        scopes=scopes, details=details if isinstance(details, dict) else {},
        collected_at=row["collected_at"], run_id=row["run_id"],
    )


def _values(value: str | Collection[str] | None) -> list[str] | None:
    if value is None:
        return None
    if isinstance(value, str):
        return [value]
    return list(value)


def iter_entries(
    conn: Connection,
    *,
    collector: str | Collection[str] | None = None,
    app_id: str | Collection[str] | None = None,
    workspace_id: str | Collection[str] | None = None,
    user_id: str | Collection[str] | None = None,
    actions: Collection[str] = (),
    since: str | datetime | None = None,
) -> Iterator[LedgerEntry]:
    """Entries oldest first (then by id); each filter is OR within, AND across. A filter
    given as an empty collection matches nothing."""
    query = select(LEDGER_ENTRIES)
    for column, value in ((LEDGER_ENTRIES.c.collector, collector),
                          (LEDGER_ENTRIES.c.app_id, app_id),
                          (LEDGER_ENTRIES.c.workspace_id, workspace_id),
                          (LEDGER_ENTRIES.c.user_id, user_id)):
        wanted = _values(value)
        if wanted is not None:
            query = query.where(column.in_(wanted))
    if actions:
        query = query.where(LEDGER_ENTRIES.c.action.in_(list(actions)))
    if since is not None:
        query = query.where(LEDGER_ENTRIES.c.at >= (iso(since) if isinstance(since, datetime)
                                                     else since))
    query = query.order_by(LEDGER_ENTRIES.c.at, LEDGER_ENTRIES.c.id)
    for row in conn.execute(query).mappings():
        yield _entry(row)


def get_checkpoint(conn: Connection, collector: str) -> str | None:
    return conn.execute(select(LEDGER_CHECKPOINTS.c.position)
                        .where(LEDGER_CHECKPOINTS.c.collector == collector)).scalar()


def set_checkpoint(conn: Connection, collector: str, position: str, *, now: datetime) -> None:
    updated = conn.execute(LEDGER_CHECKPOINTS.update()
                           .where(LEDGER_CHECKPOINTS.c.collector == collector)
                           .values(position=position, updated_at=iso(now)))
    if not updated.rowcount:
        conn.execute(LEDGER_CHECKPOINTS.insert().values(
            collector=collector, position=position, updated_at=iso(now)))


def all_checkpoints(conn: Connection) -> dict[str, tuple[str, str]]:
    """collector -> (position, updated_at)."""
    return {r.collector: (r.position, r.updated_at)
            for r in conn.execute(select(LEDGER_CHECKPOINTS))}
