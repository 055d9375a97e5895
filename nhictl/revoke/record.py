"""What a revoke writes: the attempt journal, the outcome of each binding, and what an earlier
attempt that never finished (kill -9, a failed write) left behind.

Per binding the journal is ``revoke_started`` (committed before auth.revoke is called), then
``revoked_at_slack`` (committed as soon as Slack confirms), then the final ``revoked`` or
``revoke_failed``. A binding whose latest revoke event is one of the first two had an attempt
interrupted; the next revoke resumes it (see :func:`interrupted_attempts`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from nhictl.clock import Clock, iso
from nhictl.models import EventType, Status
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.tables import BINDINGS, EVENTS

JOURNAL_TYPES = (EventType.REVOKE_STARTED.value, EventType.REVOKED_AT_SLACK.value,
                 EventType.REVOKED.value, EventType.REVOKE_FAILED.value,
                 EventType.MARKED_REMOVED.value)
STARTED = "started"  # interrupted while (or before) Slack was called: its answer is unknown
SLACK_REVOKED = "slack_revoked"  # interrupted after Slack confirmed, before the record

NOT_TOLD = ("Slack was not told: the grant may still work until the owner or a workspace "
            "admin removes the app's access")


@dataclass(frozen=True)
class Attempt:
    """An earlier revoke attempt whose outcome is not on record: interrupted (the process
    died or its write failed), or failed after Slack had already revoked the token."""

    stage: str  # STARTED or SLACK_REVOKED
    at: str
    run_id: str | None
    interrupted: bool = True  # False: it ended in revoke_failed (after Slack revoked)

    def describe(self) -> str:
        where = f"an earlier attempt (run {self.run_id}, {self.at})"
        if self.stage == SLACK_REVOKED and not self.interrupted:
            return (f"{where} had Slack revoke the token, then failed; this run finishes it "
                    "(the token is dead at Slack)")
        if self.stage == SLACK_REVOKED:
            return f"{where} was interrupted after Slack revoked the token; this run records it"
        return (f"{where} was interrupted while calling Slack (its answer is unknown); this run "
                "tries again")


def interrupted_attempts(conn: Connection, ids: Iterable[str]) -> dict[str, Attempt]:
    """Bindings whose revoke never wrote its outcome: the latest journal event is
    ``revoke_started`` or ``revoked_at_slack`` (the process died, or its write failed), or
    Slack confirmed a revoke that then failed later (at the broker) and nothing since
    recorded the binding revoked. Slack's confirmation stays until a ``revoked`` or
    ``marked_removed`` is written, so a retry can finish even when the holder is gone."""
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    state: dict[str, Attempt] = {}
    rows = conn.execute(
        select(EVENTS.c.binding_id, EVENTS.c.type, EVENTS.c.at, EVENTS.c.run_id)
        .where(EVENTS.c.binding_id.in_(wanted), EVENTS.c.type.in_(JOURNAL_TYPES))
        .order_by(EVENTS.c.seq)
    )
    for bid, kind, at, run_id in rows:
        known = state.get(bid)
        confirmed = known is not None and known.stage == SLACK_REVOKED
        if kind == EventType.REVOKE_STARTED.value and not confirmed:
            state[bid] = Attempt(STARTED, at, run_id)
        elif kind in (EventType.REVOKE_STARTED.value, EventType.REVOKED_AT_SLACK.value):
            state[bid] = Attempt(SLACK_REVOKED, at, run_id)
        elif kind == EventType.REVOKE_FAILED.value and known is not None:
            if confirmed:
                state[bid] = Attempt(SLACK_REVOKED, known.at, known.run_id, interrupted=False)
            else:
                del state[bid]  # Slack failed or was never reached: nothing is pending
        elif kind in (EventType.REVOKED.value, EventType.MARKED_REMOVED.value):
            state.pop(bid, None)
    return state


class Journal:
    """Commits one event at a time, so each survives whatever happens next."""

    def __init__(self, inv: Inventory, run_id: str, clock: Clock, actor: str) -> None:
        self.inv, self.run_id, self.clock, self.actor = inv, run_id, clock, actor

    def event(self, binding_id: str, kind: EventType, details: dict[str, Any]) -> None:
        with self.inv.engine.begin() as conn:
            repo.append_events(conn, [self._row(binding_id, kind, details)])

    def _row(self, binding_id: str, kind: EventType, details: dict[str, Any],
             at: str | None = None) -> dict[str, Any]:
        return repo.event_row(at=at or iso(self.clock()), run_id=self.run_id,
                              binding_id=binding_id, type=kind.value, actor=self.actor,
                              details=details)

    def outcome(self, binding_id: str, *, status: Status, status_reason: str,
                kind: EventType, details: dict[str, Any], revoke_reason: str | None,
                also: Sequence[tuple[str, str, dict[str, Any]]] = ()) -> None:
        """The binding's new status and its event, in one transaction; ``also`` are
        (binding id, revoke reason, details) of bindings revoked at Slack along with it (the
        other token of a broker connection), marked revoked when they are on record."""
        stamp = iso(self.clock())
        values: dict[str, Any] = {"status": status.value, "status_reason": status_reason,
                                  "status_changed_at": stamp, "run_id": self.run_id}
        if status is Status.REVOKED:
            values.update(revoked_at=stamp, revoke_reason=revoke_reason)
        with self.inv.engine.begin() as conn:
            conn.execute(BINDINGS.update().where(BINDINGS.c.id == binding_id).values(**values))
            repo.append_events(conn, [self._row(binding_id, kind, details, stamp)])
            for other, why, other_details in also:
                updated = conn.execute(BINDINGS.update().where(BINDINGS.c.id == other).values(
                    status=Status.REVOKED.value, status_reason="revoked at Slack",
                    status_changed_at=stamp, revoked_at=stamp, revoke_reason=why,
                    run_id=self.run_id))
                if updated.rowcount:  # not (yet) in the inventory: nothing to mark
                    repo.append_events(conn, [self._row(other, EventType.REVOKED,
                                                        other_details, stamp)])
