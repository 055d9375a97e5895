"""One ledger run: each collector's pages stored as they come, checkpoints moved only on a
complete read, the run recorded (kind ``ledger``) with what each collector did."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, select

from nhictl.clock import iso
from nhictl.errors import ExitCode, LedgerError
from nhictl.ledgers.base import LedgerCollector, LedgerContext, Subject
from nhictl.ledgers.store import add_entries, get_checkpoint, set_checkpoint
from nhictl.models import Status, TokenKind
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.tables import BINDINGS

_RETIRED = (Status.REMOVED.value, Status.REVOKED.value)


@dataclass
class CollectorOutcome:
    name: str
    kind: str
    complete: bool = False
    read: int = 0  # entries read that concern the configured apps/actions/subjects
    new: int = 0  # of those, new or changed in the inventory
    skipped: int = 0
    calls: int = 0
    position: str | None = None
    error: str | None = None
    hint: str | None = None


@dataclass
class LedgerReport:
    run_id: str
    collectors: list[CollectorOutcome] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return all(c.complete for c in self.collectors)

    @property
    def exit_code(self) -> int:
        return ExitCode.OK if self.complete else ExitCode.PARTIAL

    def as_dict(self) -> dict[str, Any]:
        return {"run_id": self.run_id, "complete": self.complete,
                "collectors": [asdict(c) for c in self.collectors]}


def subjects(conn: Connection) -> tuple[Subject, ...]:
    """The Slack users behind live bindings: a user token's user (as validated, else as its
    holder recorded it) and a bot token's installer (``installer_user_id``)."""
    out: set[Subject] = set()
    rows = conn.execute(select(
        BINDINGS.c.token_kind, BINDINGS.c.slack_user_id, BINDINGS.c.source_slack_user_id,
        BINDINGS.c.workspace_id, BINDINGS.c.source_team_id, BINDINGS.c.enterprise_id,
        BINDINGS.c.metadata_json).where(BINDINGS.c.status.notin_(_RETIRED)))
    for kind, user, source_user, team, source_team, enterprise, meta in rows:
        workspace = team or source_team
        if kind == TokenKind.BOT.value:
            try:
                installer = json.loads(meta or "{}").get("installer_user_id")
            except (ValueError, AttributeError):
                installer = None
            person = installer if isinstance(installer, str) and installer else None
        else:
            person = user or source_user
        if person:
            out.add(Subject(workspace_id=workspace, user_id=person, enterprise_id=enterprise))
    return tuple(sorted(out, key=lambda s: (s.workspace_id or "", s.user_id)))


def collect_ledgers(
    inv: Inventory, collectors: Sequence[LedgerCollector], *, now: datetime, actor: str,
    command: str,
) -> LedgerReport:
    """Run every collector; a failing one is recorded (exit 4) and the others still run."""
    run_id = repo.begin_run(inv, "ledger", now=now, actor=actor, command=command)
    report = LedgerReport(run_id=run_id)
    at = iso(now)
    with inv.engine.connect() as conn:
        people = subjects(conn)
    for collector in collectors:
        outcome = CollectorOutcome(name=collector.name, kind=collector.kind)
        report.collectors.append(outcome)
        with inv.engine.connect() as conn:
            position = get_checkpoint(conn, collector.name)
        ctx = LedgerContext(position=position, subjects=people, now=at)
        try:
            for page in collector.collect(ctx):
                with inv.engine.begin() as conn:  # each page kept, whatever comes next
                    outcome.new += add_entries(conn, page.entries, collected_at=at,
                                               run_id=run_id)
                    if page.position is not None:
                        set_checkpoint(conn, collector.name, page.position, now=now)
                        outcome.position = page.position
                        outcome.complete = True
                outcome.read += len(page.entries)
                outcome.skipped += page.skipped
                outcome.calls += page.calls
        except LedgerError as exc:
            outcome.complete = False
            outcome.error, outcome.hint = exc.message, exc.hint
    with inv.engine.begin() as conn:
        repo.finish_run(conn, run_id, now=now, outcome="ok" if report.complete else "partial",
                        counts=report.as_dict(), detail=None)
    return report
