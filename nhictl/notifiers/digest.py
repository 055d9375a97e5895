"""What changed since a target's last notification, read from the inventory, and the
record of what it was told (table ``notify_state``).

News for one target:

* **new findings**: unsuppressed findings of the newest complete check run, at or above the
  target's ``min_severity``, whose fingerprint the target was never told about (or was told
  was resolved);
* **resolved findings**: findings the target was told about that the newest complete check
  run no longer has open (fixed, or suppressed since);
* **dead bindings**: bindings now ``needs_reconnect`` or ``expired`` that the target was not
  told about (a binding that recovers is forgotten, so a second death is news again);
* **partial runs**: runs that ended ``partial``, ``failed`` or ``interrupted`` after the newest
  run the target already considered (the first notification looks at the newest run only).

Nothing here sends anything: :func:`compute` reads, :func:`record` writes what a delivered
notification said (in the caller's transaction, after the transport confirmed it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, and_, delete, select

from nhictl.models import Severity
from nhictl.notifiers.config import NotifyTarget
from nhictl.store.findings_repo import check_runs, run_findings
from nhictl.store.tables import BINDINGS, NOTIFY_STATE, RUNS
from nhictl.untrusted import inert

DEAD_STATUSES = ("needs_reconnect", "expired")
UNFINISHED_OUTCOMES = ("partial", "failed", "interrupted")
MAX_RUNS = 20  # partial runs listed in one notification (the rest are counted)


@dataclass(frozen=True)
class FindingNews:
    fingerprint: str
    rule_id: str
    severity: Severity
    binding_id: str | None
    title: str
    message: str


@dataclass(frozen=True)
class DeadNews:
    binding_id: str
    status: str
    reason: str | None
    owner: str | None
    workspace: str | None


@dataclass(frozen=True)
class RunNews:
    run_id: str
    kind: str
    outcome: str
    ended_at: str | None
    cause: str | None


@dataclass
class Digest:
    """The news for one target; empty when there is nothing to say."""

    target: str
    generated_at: str
    check_run_id: str | None = None
    new_findings: list[FindingNews] = field(default_factory=list)
    resolved_findings: list[FindingNews] = field(default_factory=list)
    dead_bindings: list[DeadNews] = field(default_factory=list)
    partial_runs: list[RunNews] = field(default_factory=list)
    runs_cursor: str | None = None  # end time of the newest finished run considered
    # Bindings that recovered since they were announced dead: forgotten on record().
    recovered: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.new_findings or self.resolved_findings or self.dead_bindings
                    or self.partial_runs)

    @property
    def id(self) -> str:
        """A short id of this news (the same news gives the same id): the webhook's delivery
        id, and shown in Slack's context line so a repeat can be recognised."""
        h = hashlib.sha256(self.target.encode())
        for part in (*(f"+{f.fingerprint}" for f in self.new_findings),
                     *(f"-{f.fingerprint}" for f in self.resolved_findings),
                     *(f"d{d.binding_id}:{d.status}" for d in self.dead_bindings),
                     *(f"r{r.run_id}" for r in self.partial_runs)):
            h.update(b"\0" + part.encode())
        return "n-" + h.hexdigest()[:12]

    def by_severity(self) -> dict[str, int]:
        counts = {s.value: 0 for s in reversed(Severity)}
        for f in self.new_findings:
            counts[f.severity.value] += 1
        return {k: v for k, v in counts.items() if v}


def _text(value: Any, limit: int = 300) -> str:
    """Untrusted text made inert (secrets masked, controls escaped) and bounded."""
    text = inert(value, lines="space").strip()
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _state(conn: Connection, target: str, kind: str) -> dict[str, str | None]:
    rows = conn.execute(select(NOTIFY_STATE.c.subject, NOTIFY_STATE.c.detail).where(
        NOTIFY_STATE.c.target == target, NOTIFY_STATE.c.kind == kind))
    return {str(s): d for s, d in rows}


def _finding(row: dict[str, Any]) -> FindingNews:
    return FindingNews(fingerprint=str(row["fingerprint"]), rule_id=_text(row["rule_id"], 64),
                       severity=Severity(row["severity"]), binding_id=row.get("binding_id"),
                       title=_text(row.get("title"), 150), message=_text(row.get("message")))


def compute(conn: Connection, target: NotifyTarget, now: str) -> Digest:
    digest = Digest(target=target.name, generated_at=now)
    _findings(conn, target, digest)
    _dead(conn, target, digest)
    _runs(conn, target, digest)
    return digest


def _findings(conn: Connection, target: NotifyTarget, digest: Digest) -> None:
    runs = [r for r in check_runs(conn) if not r["counts"].get("partial")]
    if not runs:
        return  # no complete check yet: nothing is new, nothing resolved
    digest.check_run_id = str(runs[-1]["id"])
    told = _state(conn, target.name, "finding")
    current: dict[str, dict[str, Any]] = {}
    for row in run_findings(conn, digest.check_run_id):
        if row["suppressed"] or Severity(row["severity"]).rank < target.min_severity.rank:
            continue
        current.setdefault(str(row["fingerprint"]), row)
    order = sorted(current.values(), key=lambda r: (-Severity(r["severity"]).rank,
                                                     str(r["rule_id"]), str(r["binding_id"])))
    digest.new_findings = [_finding(r) for r in order if str(r["fingerprint"]) not in told]
    for fingerprint, detail in sorted(told.items()):
        if fingerprint not in current:
            rule, _, rest = (detail or "").partition(" ")
            severity, _, binding = rest.partition(" ")
            digest.resolved_findings.append(FindingNews(
                fingerprint=fingerprint, rule_id=rule or "?",
                severity=Severity(severity) if severity in {s.value for s in Severity}
                else Severity.INFO, binding_id=binding or None, title="", message=""))


def _dead(conn: Connection, target: NotifyTarget, digest: Digest) -> None:
    told = _state(conn, target.name, "dead")
    rows = conn.execute(select(
        BINDINGS.c.id, BINDINGS.c.status, BINDINGS.c.status_reason, BINDINGS.c.owner_email,
        BINDINGS.c.owner_id, BINDINGS.c.workspace_name, BINDINGS.c.workspace_id,
    ).where(BINDINGS.c.status.in_(DEAD_STATUSES)).order_by(BINDINGS.c.id)).all()
    dead = {str(r.id) for r in rows}
    for r in rows:
        if told.get(str(r.id)) == r.status:
            continue
        digest.dead_bindings.append(DeadNews(
            binding_id=str(r.id), status=str(r.status),
            reason=_text(r.status_reason, 200) if r.status_reason else None,
            owner=_text(r.owner_email or r.owner_id, 120) if (r.owner_email or r.owner_id)
            else None,
            workspace=_text(r.workspace_name or r.workspace_id, 120)
            if (r.workspace_name or r.workspace_id) else None))
    digest.recovered = sorted(b for b in told if b not in dead)


def _runs(conn: Connection, target: NotifyTarget, digest: Digest) -> None:
    cursor = _state(conn, target.name, "cursor").get("runs")
    query = select(RUNS.c.id, RUNS.c.kind, RUNS.c.outcome, RUNS.c.ended_at, RUNS.c.detail).where(
        RUNS.c.ended_at.is_not(None), RUNS.c.outcome != "running")
    if cursor:
        query = query.where(RUNS.c.ended_at >= cursor)  # same second: told ids filter
    rows = conn.execute(query.order_by(RUNS.c.ended_at.desc(), RUNS.c.id.desc())).all()
    if not rows:
        digest.runs_cursor = cursor
        return
    digest.runs_cursor = str(rows[0].ended_at)
    considered = rows if cursor else rows[:1]  # first notification: the newest run only
    told = _state(conn, target.name, "run")
    digest.partial_runs = [
        RunNews(run_id=str(r.id), kind=str(r.kind), outcome=str(r.outcome),
                ended_at=r.ended_at, cause=_text(r.detail) if r.detail else None)
        for r in reversed(considered)
        if r.outcome in UNFINISHED_OUTCOMES and str(r.id) not in told][-MAX_RUNS:]


def record(conn: Connection, digest: Digest, at: str) -> None:
    """Remember what ``digest`` told its target (call once the transport confirmed it)."""
    target = digest.target
    rows: list[dict[str, Any]] = []
    for f in digest.new_findings:
        rows.append({"kind": "finding", "subject": f.fingerprint,
                     "detail": f"{f.rule_id} {f.severity.value} {f.binding_id or ''}".strip()})
    rows += [{"kind": "dead", "subject": d.binding_id, "detail": d.status}
             for d in digest.dead_bindings]
    rows += [{"kind": "run", "subject": r.run_id, "detail": r.outcome}
             for r in digest.partial_runs]
    _forget(conn, target, "finding", [f.fingerprint for f in digest.resolved_findings])
    _forget(conn, target, "dead", [*digest.recovered, *(d.binding_id for d in
                                                        digest.dead_bindings)])
    _forget(conn, target, "cursor", ["runs"])
    if digest.runs_cursor:
        rows.append({"kind": "cursor", "subject": "runs", "detail": digest.runs_cursor})
    for start in range(0, len(rows), 500):
        conn.execute(NOTIFY_STATE.insert(), [{**r, "target": target, "announced_at": at}
                                             for r in rows[start:start + 500]])


def _forget(conn: Connection, target: str, kind: str, subjects: Iterable[str]) -> None:
    wanted = list(subjects)
    for start in range(0, len(wanted), 500):
        conn.execute(delete(NOTIFY_STATE).where(and_(
            NOTIFY_STATE.c.target == target, NOTIFY_STATE.c.kind == kind,
            NOTIFY_STATE.c.subject.in_(wanted[start:start + 500]))))
