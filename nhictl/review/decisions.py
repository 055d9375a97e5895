"""``review apply``: validate reviewer decisions row by row, apply the valid ones at once.

Policy on partial input: every row is validated; the valid rows are applied in one
transaction and the bad ones are reported with their line number and reason. Any bad row
makes the result ``ok`` false (the CLI exits 3), so automation notices; fixing the bad rows
and applying the same file again is safe, because a row identical to the one behind the
binding's latest recorded decision (same digest of every cell) is skipped as already applied.
A file that cannot be read as a review CSV at all writes nothing.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from nhictl.clock import iso, parse_time
from nhictl.errors import InputFileError, InvalidInputError, UsageError
from nhictl.models import EventType
from nhictl.review.csvread import CsvRow, read_rows, split_scopes
from nhictl.review.report import DECISIONS
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.tables import BINDINGS, EVENTS


@dataclass(frozen=True)
class Problem:
    line: int
    binding: str
    reason: str

    def __str__(self) -> str:
        who = f" {self.binding}" if self.binding else ""
        return f"line {self.line}{who}: {self.reason}"


@dataclass(frozen=True)
class Decision:
    line: int
    binding_id: str
    decision: str
    reviewer: str
    decided_at: str
    justification: str
    recommended: str
    digest: str  # of the whole row as the reviewer returned it: re-applying is a no-op


@dataclass
class ApplyReport:
    applied: list[Decision] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    already_applied: list[Decision] = field(default_factory=list)
    undecided: int = 0
    run_id: str | None = None

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        by = {d: sum(1 for a in self.applied if a.decision == d) for d in DECISIONS}
        return {"applied": len(self.applied), **by, "bad_rows": len(self.problems),
                "already_applied": len(self.already_applied), "undecided": self.undecided}


def _resolve(conn: Connection, ref: str) -> str | None:
    if len(ref) > 200:  # no binding id is this long (and SQLite refuses huge LIKE patterns)
        return None
    try:
        return repo.resolve_binding_id(conn, ref)
    except UsageError:
        return None


def _latest_decision(conn: Connection, binding_id: str) -> dict[str, Any] | None:
    row = conn.execute(
        select(EVENTS.c.details)
        .where(EVENTS.c.binding_id == binding_id,
               EVENTS.c.type == EventType.REVIEW_DECISION.value)
        .order_by(EVENTS.c.seq.desc()).limit(1)
    ).first()
    if row is None:
        return None
    details: dict[str, Any] = json.loads(row[0] or "{}")
    return details


def changed_since_packet(row: CsvRow, binding: dict[str, Any]) -> str | None:
    """Why the binding no longer matches what the reviewer saw, or None."""
    status = row.get("status").lower()
    if "status" in row.cells and status != (binding.get("status") or ""):
        return (f"binding changed since the packet was generated: status was {status or '-'}, "
                f"now {binding.get('status')}; review it again from a fresh packet")
    if "granted_scopes" in row.cells:
        seen = set(split_scopes(row.get("granted_scopes")))
        now = set(binding.get("granted_scopes") or [])
        if seen != now:
            added, removed = sorted(now - seen), sorted(seen - now)
            parts = ([f"gained {', '.join(added)}"] if added else []) + (
                [f"lost {', '.join(removed)}"] if removed else [])
            return ("binding changed since the packet was generated: granted scopes "
                    f"{'; '.join(parts)}; review it again from a fresh packet")
    return None


def row_digest(row: CsvRow) -> str:
    """Identity of a returned row: a new packet (fresh validation times) differs."""
    text = json.dumps(sorted(row.cells.items()), ensure_ascii=True)
    return "sha256:" + hashlib.sha256(text.encode()).hexdigest()[:16]


def _decided_at(text: str, now: datetime) -> str:
    if not text:
        return iso(now)
    try:
        moment = parse_time(text)
    except (ValueError, OverflowError) as exc:
        why = "is out of range" if "out of range" in str(exc) else "is not an ISO 8601 date/time"
        raise ValueError(why) from None
    if moment.year < 1000:
        raise ValueError("is out of range")
    if moment > now + timedelta(days=1):
        raise ValueError("is in the future")
    return iso(moment)


def validate_rows(
    conn: Connection, rows: list[CsvRow], now: datetime
) -> tuple[list[tuple[Decision, dict[str, Any]]], list[Decision], list[Problem], int]:
    """(valid decisions with their binding, already applied, problems, undecided rows)."""
    valid: list[tuple[Decision, dict[str, Any]]] = []
    done: list[Decision] = []
    problems: list[Problem] = []
    undecided = 0
    seen: dict[str, int] = {}
    for row in rows:
        ref = row.get("binding_id")
        decision = row.get("decision").lower()
        if not decision:
            undecided += 1
            continue
        if not ref:
            problems.append(Problem(row.line, "", "binding_id is empty"))
            continue
        bid = _resolve(conn, ref)
        binding = repo.get_binding(conn, bid) if bid else None
        if bid is None or binding is None:
            problems.append(Problem(row.line, ref, "unknown binding"))
            continue
        if bid in seen:
            problems.append(Problem(row.line, bid, f"binding already decided on line {seen[bid]}"))
            continue
        seen[bid] = row.line
        if decision not in DECISIONS:
            problems.append(Problem(row.line, bid, f"bad decision {row.get('decision')!r} "
                                    f"(use {', '.join(DECISIONS)})"))
            continue
        reviewer = row.get("reviewer")
        if not reviewer:
            problems.append(Problem(row.line, bid, "reviewer is missing"))
            continue
        try:
            decided_at = _decided_at(row.get("decided_at"), now)
        except ValueError as exc:
            problems.append(Problem(row.line, bid,
                                    f"decided_at {row.get('decided_at')!r} {exc}"))
            continue
        item = Decision(row.line, bid, decision, reviewer, decided_at,
                        row.get("justification"), row.get("recommended_action"),
                        row_digest(row))
        last = _latest_decision(conn, bid)
        if last and last.get("row_digest") == item.digest:
            done.append(item)
            continue
        why = changed_since_packet(row, binding)
        if why:
            problems.append(Problem(row.line, bid, why))
            continue
        valid.append((item, binding))
    return valid, done, problems, undecided


def apply_file(
    inv: Inventory, path: Path, *, now: datetime, actor: str, dry_run: bool = False,
    command: str = "review apply",
) -> ApplyReport:
    rows = read_rows(path)
    report = ApplyReport()
    try:
        with inv.engine.connect() as conn:
            valid, report.already_applied, report.problems, report.undecided = validate_rows(
                conn, rows, now)
        if dry_run or not valid:
            report.applied = [d for d, _ in valid]
            return report
        stamp = iso(now)
        run_id = repo.begin_run(inv, "review", now=now, actor=actor, command=command)
        with inv.engine.begin() as conn:
            events = []
            for d, binding in valid:
                values: dict[str, Any] = {"last_reviewed_at": d.decided_at,
                                          "last_review_decision": d.decision, "run_id": run_id}
                granted = binding.get("granted_scopes")
                if d.decision == "keep":
                    basis = granted if granted is not None else binding.get("declared_scopes")
                    values["approved_scopes"] = json.dumps(sorted(basis or []))
                conn.execute(BINDINGS.update().where(BINDINGS.c.id == d.binding_id)
                             .values(**values))
                events.append(repo.event_row(
                    at=stamp, run_id=run_id, binding_id=d.binding_id,
                    type=EventType.REVIEW_DECISION.value, actor=actor,
                    details={"decision": d.decision, "reviewer": d.reviewer,
                             "decided_at": d.decided_at, "justification": d.justification,
                             "recommended_action": d.recommended or None,
                             "status": binding.get("status"),
                             "granted_scopes": granted, "file": path.name, "line": d.line,
                             "row_digest": d.digest}))
                report.applied.append(d)
            repo.append_events(conn, events)
            repo.finish_run(conn, run_id, now=now, outcome="ok" if report.ok else "partial",
                            counts=report.counts(),
                            detail=f"{len(report.problems)} bad row(s)" if report.problems
                            else None)
        report.run_id = run_id
    except SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot apply decisions to {inv.location}: {exc}") from exc
    return report


# -- what `revoke --from-review` may act on ------------------------------------------------


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
    ids = {r.line: _resolve(conn, r.get("binding_id")) for r in decided
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
