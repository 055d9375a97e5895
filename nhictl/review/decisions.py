"""``review apply``: validate reviewer decisions row by row, apply the valid ones at once.

Policy on partial input: every row is validated; the valid rows are applied in one
transaction and the bad ones are reported with their line number and reason. Any bad row
makes the result ``ok`` false (the CLI exits 3), so automation notices; fixing the bad rows
and applying the same file again is safe, because a row identical to the one behind any of the
binding's recorded decisions (same digest of every cell) is skipped as already applied,
so re-applying an old file never brings its decisions back over newer ones.
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
from nhictl.errors import InvalidInputError, UsageError
from nhictl.models import EventType
from nhictl.policy import Policy
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
    conflicts: list[Problem] = field(default_factory=list)
    accepted: int = 0  # findings accepted as risks by keep decisions

    @property
    def ok(self) -> bool:
        return not self.problems

    def counts(self) -> dict[str, int]:
        by = {d: sum(1 for a in self.applied if a.decision == d) for d in DECISIONS}
        return {"applied": len(self.applied), **by, "bad_rows": len(self.problems),
                "already_applied": len(self.already_applied), "undecided": self.undecided,
                "conflicts": len(self.conflicts), "accepted_findings": self.accepted}


def resolve_ref(conn: Connection, ref: str) -> str | None:
    """A review row's binding id (or unique prefix) -> the binding's id; None if unknown."""
    if len(ref) > 200:  # no binding id is this long (and SQLite refuses huge LIKE patterns)
        return None
    try:
        return repo.resolve_binding_id(conn, ref)
    except UsageError:
        return None


def _applied_digests(conn: Connection, binding_id: str) -> set[str]:
    """The row digests of every decision recorded for the binding. Any of them, not only the
    latest: re-applying an old file must not bring its decision back over a newer one."""
    rows = conn.execute(
        select(EVENTS.c.details)
        .where(EVENTS.c.binding_id == binding_id,
               EVENTS.c.type == EventType.REVIEW_DECISION.value))
    return {str(d["row_digest"]) for d in (json.loads(r[0] or "{}") for r in rows)
            if d.get("row_digest")}


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
        bid = resolve_ref(conn, ref)
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
        if item.digest in _applied_digests(conn, bid):
            done.append(item)
            continue
        why = changed_since_packet(row, binding)
        if why:
            problems.append(Problem(row.line, bid, why))
            continue
        valid.append((item, binding))
    return valid, done, problems, undecided


def shared_token_conflicts(
    conn: Connection, decided: list[tuple[Decision, dict[str, Any]]]
) -> list[Problem]:
    """A keep and a revoke on bindings that hold one token: revoking it at Slack ends the
    kept binding too. Compared with the file's other rows and with the latest recorded
    decision of every other binding that holds the token."""
    by_token: dict[str, list[tuple[str, str, int]]] = {}  # fp -> (binding, decision, line)
    in_file = {d.binding_id for d, _ in decided}
    for d, binding in decided:
        fp = binding.get("token_fingerprint")
        if fp:
            by_token.setdefault(fp, []).append((d.binding_id, d.decision, d.line))
    problems: list[Problem] = []
    for fp, items in sorted(by_token.items()):
        others = conn.execute(
            select(BINDINGS.c.id, BINDINGS.c.last_review_decision)
            .where(BINDINGS.c.token_fingerprint == fp)).all()
        recorded = [(str(bid), str(dec), 0) for bid, dec in others
                    if bid not in in_file and dec in ("keep", "revoke")]
        every = items + recorded
        keeps = [i for i in every if i[1] == "keep"]
        revokes = [i for i in every if i[1] == "revoke"]
        if not keeps or not revokes:
            continue
        for bid, decision, line in items:
            if decision not in ("keep", "revoke"):
                continue
            against = revokes if decision == "keep" else keeps
            names = ", ".join(f"{b} ({'line ' + str(n) if n else 'recorded'})"
                              for b, _, n in against)
            problems.append(Problem(
                line, bid, f"conflict: {decision} here but "
                f"{'revoke' if decision == 'keep' else 'keep'} on {names}, which hold the same "
                f"token ({fp}); revoking it ends every binding that holds it"))
    return problems


def apply_file(
    inv: Inventory, path: Path, *, now: datetime, actor: str, dry_run: bool = False,
    command: str = "review apply", policy: Policy | None = None,
    allow_conflicts: bool = False,
) -> ApplyReport:
    """Validate and apply ``path``. A keep on a binding with open findings records them as
    accepted until ``accepted_until`` (a column reviewers may add) or the review interval.
    Keep/revoke conflicts on a shared token are bad rows unless ``allow_conflicts``."""
    rows = read_rows(path)
    report = ApplyReport()
    policy = policy or Policy()
    try:
        with inv.engine.connect() as conn:
            valid, report.already_applied, report.problems, report.undecided = validate_rows(
                conn, rows, now)
            conflicts = shared_token_conflicts(conn, valid)
            report.conflicts = conflicts
            if conflicts and not allow_conflicts:
                lines = {c.line for c in conflicts}
                report.problems += conflicts
                report.problems.sort(key=lambda p: p.line)
                valid = [(d, b) for d, b in valid if d.line not in lines]
            accepted = _accepted_risks(conn, valid, rows, policy, now, report)
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
                extra = {"accepted_risk": accepted[d.binding_id]} \
                    if d.binding_id in accepted else {}
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
                             "row_digest": d.digest, **extra}))
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


def _accepted_risks(
    conn: Connection, valid: list[tuple[Decision, dict[str, Any]]], rows: list[CsvRow],
    policy: Policy, now: datetime, report: ApplyReport,
) -> dict[str, dict[str, Any]]:
    """binding id -> the accepted-risk record of its keep (bindings with open findings)."""
    keeps = [d for d, _ in valid if d.decision == "keep"]
    if not keeps:
        return {}
    from nhictl.catalog.loader import load_catalog
    from nhictl.checks.accepted import accepted_record
    from nhictl.checks.engine import evaluate
    from nhictl.checks.runner import policy_suppressions
    from nhictl.checks.snapshot import load_snapshot

    # Without earlier acceptances: a new keep re-accepts what an earlier keep accepted.
    findings = evaluate(load_snapshot(conn), policy, load_catalog(), now,
                        suppressions=policy_suppressions(policy))
    by_binding: dict[str, list[Any]] = {}
    for f in findings:
        if f.binding_id:
            by_binding.setdefault(f.binding_id, []).append(f)
    until_by_line = {r.line: r.get("accepted_until") for r in rows}
    out: dict[str, dict[str, Any]] = {}
    kept_valid = []
    for d in keeps:
        expires = parse_time(d.decided_at).date() + timedelta(days=policy.review_interval_days)
        given = until_by_line.get(d.line)
        if given:
            try:
                expires = datetime.fromisoformat(given.strip()[:10]).date()
            except ValueError:
                report.problems.append(Problem(d.line, d.binding_id,
                                               f"accepted_until {given!r} is not a date"))
                continue
        record = accepted_record(by_binding.get(d.binding_id, []), reviewer=d.reviewer,
                                 reason=d.justification, decided_at=d.decided_at,
                                 expires=expires)
        if record is not None:
            out[d.binding_id] = record
            report.accepted += len(record["findings"])
        kept_valid.append(d.line)
    bad = {d.line for d in keeps} - set(kept_valid)
    if bad:
        valid[:] = [(d, b) for d, b in valid if d.line not in bad]
    return out
