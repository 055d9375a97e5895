"""``revoke --from-review``: which revoke rows of a review file ``review apply`` recorded.

A review file is only a request; what counts is what ``review apply`` validated and recorded
(same row digest) and that no later decision replaced. Split from decisions.py, which
validates and records.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select

from nhictl.errors import InputFileError
from nhictl.models import EventType
from nhictl.review.csvread import read_rows
from nhictl.review.decisions import (
    Problem,
    changed_since_packet,
    resolve_ref,
    row_digest,
    validate_rows,
)
from nhictl.store import repo
from nhictl.store.tables import EVENTS


@dataclass
class AppliedRevokes:
    """The revoke rows of a review file that ``review apply`` recorded and that are still each
    binding's latest decision; every other revoke row is skipped with its reason."""

    targets: list[tuple[dict[str, Any], str]] = field(default_factory=list)
    skipped: list[Problem] = field(default_factory=list)
    binding_notes: dict[str, list[str]] = field(default_factory=dict)


def _recorded_decisions(conn: Connection, ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """Every recorded review decision of these bindings, oldest first."""
    out: dict[str, list[dict[str, Any]]] = {}
    for start in range(0, len(ids), 500):
        rows = conn.execute(
            select(EVENTS.c.binding_id, EVENTS.c.details, EVENTS.c.at)
            .where(EVENTS.c.type == EventType.REVIEW_DECISION.value,
                   EVENTS.c.binding_id.in_(ids[start:start + 500]))
            .order_by(EVENTS.c.seq))
        for bid, details, at in rows:
            out.setdefault(bid, []).append({**json.loads(details or "{}"), "recorded_at": at})
    return out


def applied_revokes(conn: Connection, path: Path, now: datetime) -> AppliedRevokes:
    """Revoke only what was decided: a row counts when ``review apply`` recorded it (same row
    digest) and no later decision replaced it. A refused row (bad date, duplicate, unknown
    binding...) was never recorded, so it revokes nothing. InputFileError (exit 3) when no
    decided row of the file was ever applied."""
    rows = read_rows(path)
    decided = [r for r in rows if r.get("decision")]
    ids = {r.line: resolve_ref(conn, r.get("binding_id")) for r in decided
           if r.get("binding_id")}
    recorded = _recorded_decisions(conn, sorted({b for b in ids.values() if b}))
    _, _, refused, _ = validate_rows(conn, rows, now)
    why_refused = {p.line: p.reason for p in refused}
    result = AppliedRevokes()
    ever_applied = False
    for row in decided:
        bid = ids.get(row.line)
        history = recorded.get(bid or "", [])
        digest = row_digest(row)
        mine = [d for d in history if d.get("row_digest") == digest]
        ever_applied = ever_applied or bool(mine)
        if row.get("decision").lower() != "revoke":
            continue
        if bid is None or not mine:
            reason = why_refused.get(row.line)
            result.skipped.append(Problem(row.line, bid or row.get("binding_id"), (
                f"not applied by `review apply` ({reason})" if reason
                else "not applied by `review apply`")))
            continue
        latest = history[-1]
        if latest.get("row_digest") != digest:
            result.skipped.append(Problem(row.line, bid, (
                f"a later decision ({latest.get('decision')} by {latest.get('reviewer')}, "
                f"recorded {latest.get('recorded_at')}) replaced it")))
            continue
        binding = repo.get_binding(conn, bid)
        if binding is None:  # pragma: no cover - bindings are never deleted
            continue
        reason = f"access review: revoke decided by {latest.get('reviewer')}"
        if latest.get("justification"):
            reason += f": {latest.get('justification')}"
        changed = changed_since_packet(row, binding)
        if changed:
            result.binding_notes.setdefault(bid, []).append(
                changed.replace("; review it again from a fresh packet", ""))
        result.targets.append((binding, reason))
    if decided and not ever_applied:
        raise InputFileError(
            str(path), None, "was never applied: none of its decisions is recorded in the "
            "inventory, so nothing was revoked",
            hint=f"nhictl review apply {path}, then run this revoke again")
    return result
