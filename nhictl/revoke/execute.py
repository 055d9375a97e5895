"""Executing a revoke plan: each binding on its own, every step recorded as an event.

Per binding: obtain the token from its holder (on demand), optionally ``auth.revoke`` with
``test=1`` (preflight), ``auth.revoke``, then the broker's removal hook where the source has
one, then mark the binding ``revoked``. A token the holder or Slack already reports dead is
marked revoked with that reason (the broker connection is still removed). A connection the
source no longer holds is marked revoked too (nothing is left to call). A failure at any
stage records ``revoke_failed`` and leaves the binding as it was, so running the revoke again
retries it; the other bindings proceed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from nhictl.clock import Clock, iso
from nhictl.errors import InvalidInputError, NhictlError
from nhictl.models import EventType, SourceRecord, Status, binding_id
from nhictl.revoke.plan import RevokeStep
from nhictl.secret import Secret
from nhictl.slack.client import RevokeResult
from nhictl.sources.base import RemovableSource, Source
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.tables import BINDINGS


class RevokeClient(Protocol):
    def revoke(
        self, token: Secret, test: bool = False, *, workspace_hint: str | None = None
    ) -> RevokeResult: ...


SourceOpener = Callable[[RevokeStep], Source]

# Outcomes: revoked, already_dead, gone (source no longer holds it), already_revoked, failed.
FAILED = "failed"


@dataclass
class Outcome:
    binding_id: str
    outcome: str
    slack: str = "-"
    broker: str = "-"
    detail: str = ""
    notes: str = ""
    # Connection ids of the same broker connection revoked along with this one.
    also: list[str] = field(default_factory=list)

    def as_row(self) -> dict[str, Any]:
        return {"binding_id": self.binding_id, "outcome": self.outcome, "slack": self.slack,
                "broker_removal": self.broker, "detail": self.detail, "notes": self.notes}


@dataclass
class RevokeReport:
    run_id: str | None
    outcomes: list[Outcome] = field(default_factory=list)

    @property
    def failed(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.outcome == FAILED]

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for o in self.outcomes:
            out[o.outcome] = out.get(o.outcome, 0) + 1
        return out


class _Failure(Exception):
    def __init__(self, stage: str, message: str, slack: str = "-", broker: str = "-") -> None:
        super().__init__(message)
        self.stage, self.message, self.slack, self.broker = stage, message, slack, broker


class _Sources:
    """Opens each source once and lists its records once (errors are remembered)."""

    def __init__(self, opener: SourceOpener) -> None:
        self.opener = opener
        self.cache: dict[str, tuple[Source, dict[str, SourceRecord]] | NhictlError] = {}

    def get(self, step: RevokeStep) -> tuple[Source, SourceRecord | None]:
        entry = self.cache.get(step.source)
        if entry is None:
            try:
                src = self.opener(step)
                # A broker that can look one connection up is asked for just that one;
                # others (files, stores) are read once and indexed.
                records = {} if callable(getattr(src, "find", None)) else {
                    r.connection_id: r for r in src.collect()}
                entry = (src, records)
            except NhictlError as exc:
                entry = exc
            self.cache[step.source] = entry
        if isinstance(entry, NhictlError):
            raise _Failure("source", f"cannot read source {step.source!r}: {entry.message}")
        src, records = entry
        find = getattr(src, "find", None)
        if callable(find):
            try:
                found: SourceRecord | None = find(step.connection_id, step.owner_id)
            except NhictlError as exc:
                raise _Failure("source", f"cannot read source {step.source!r}: "
                               f"{exc.message}") from None
            return src, found
        return src, records.get(step.connection_id)

    def close(self) -> None:
        for entry in self.cache.values():
            close = getattr(entry[0], "close", None) if isinstance(entry, tuple) else None
            if callable(close):
                close()


def _remove(src: Source, record: SourceRecord, slack: str) -> str:
    if not isinstance(src, RemovableSource):
        return "not applicable"
    try:
        src.remove(record)
    except NhictlError as exc:
        raise _Failure("broker_removal", f"broker removal failed: {exc.message}",
                       slack=slack, broker="failed") from None
    return "removed"


def _revoke_one(step: RevokeStep, sources: _Sources, client: RevokeClient,
                preflight: bool) -> Outcome:
    src, record = sources.get(step)
    out = Outcome(step.binding_id, "revoked", notes="; ".join(step.notes))
    if record is None:
        out.outcome, out.detail = "gone", f"source {step.source!r} no longer holds it"
        return out
    try:
        got = src.fetch_token(record)
    except NhictlError as exc:
        raise _Failure("token", f"cannot obtain the token: {exc.message}") from None
    if got.dead_reason:
        # The holder's word is not Slack's: without a token nhictl cannot revoke the grant,
        # and deleting the holder's copy would only hide a grant that may still work.
        raise _Failure("token", f"the holder cannot provide the token ({got.dead_reason}), so "
                       "it was not revoked at Slack and the connection was left in place; "
                       "remove the app's access in the workspace, or have the owner reconnect "
                       "and revoke again", slack="not called", broker="not called")
    if got.token is None:
        raise _Failure("token", f"source {step.source!r} holds no token for it (export the "
                       "access_token, or revoke it in the app)")
    hint = step.workspace_id
    if preflight:
        test = client.revoke(got.token, test=True, workspace_hint=hint)
        if test.outcome == FAILED:
            raise _Failure("preflight", f"auth.revoke test=1 failed: {test.error or test.detail}",
                           slack="preflight failed")
    result = client.revoke(got.token, workspace_hint=hint)
    if result.outcome == "dead":
        out.outcome, out.slack = "already_dead", f"already dead ({result.error})"
        out.detail = f"Slack reports the token dead ({result.error})"
    elif result.outcome == "revoked":
        out.slack = "revoked"
    else:
        raise _Failure("slack", f"auth.revoke failed: {result.error or result.detail}",
                       slack="failed")
    out.also = _revoke_companions(src, record, client, hint, out.slack)
    out.broker = _remove(src, record, out.slack)
    return out


def _revoke_companions(src: Source, record: SourceRecord, client: RevokeClient,
                       hint: str | None, slack: str) -> list[str]:
    """Revoke at Slack the other tokens of the same broker connection (a Nango connection
    holding a bot and a user token), before the connection is deleted: once deleted, nhictl
    could never obtain them again. Returns their connection ids."""
    companions = getattr(src, "companions", None)
    if not callable(companions) or not isinstance(src, RemovableSource):
        return []
    done: list[str] = []
    try:
        others: list[SourceRecord] = companions(record)
        for other in others:
            got = src.fetch_token(other)
            if got.token is None:
                raise _Failure("companion", f"the connection also holds {other.connection_id}, "
                               "whose token could not be obtained, so the connection was left "
                               "in place; revoke again later", slack=slack, broker="not called")
            result = client.revoke(got.token, workspace_hint=hint)
            if result.outcome not in ("revoked", "dead"):
                raise _Failure("companion", f"auth.revoke of {other.connection_id} (same "
                               f"connection) failed: {result.error or result.detail}; the "
                               "connection was left in place", slack=slack, broker="not called")
            done.append(other.connection_id)
    except NhictlError as exc:
        raise _Failure("companion", f"cannot obtain the connection's other token: "
                       f"{exc.message}", slack=slack, broker="not called") from None
    return done


def execute(
    inv: Inventory,
    steps: Sequence[RevokeStep],
    *,
    client: RevokeClient,
    open_source: SourceOpener,
    clock: Clock,
    actor: str,
    preflight: bool = False,
    command: str = "revoke",
) -> RevokeReport:
    todo = [s for s in steps if s.noop is None]
    report = RevokeReport(run_id=None)
    if not todo:
        report.outcomes = [Outcome(s.binding_id, "already_revoked", detail=s.noop or "")
                           for s in steps]
        return report
    try:
        run_id = repo.begin_run(inv, "revoke", now=clock(), actor=actor, command=command)
        report.run_id = run_id
        with inv.engine.begin() as conn:
            repo.append_events(conn, [repo.event_row(
                at=iso(clock()), run_id=run_id, binding_id=s.binding_id,
                type=EventType.REVOKE_PLANNED.value, actor=actor,
                details={"reason": s.reason, "calls": list(s.calls), "status": s.status,
                         "token_kind": s.token_kind, "preflight": preflight})
                for s in todo])
        sources = _Sources(open_source)
        along: dict[str, str] = {}  # binding id -> the binding it was revoked with
        try:
            for step in steps:
                if step.binding_id in along:
                    report.outcomes.append(Outcome(step.binding_id, "revoked", "revoked",
                                                   detail=f"with {along[step.binding_id]}"))
                    continue
                out = _run_step(inv, step, sources, client, clock, actor, run_id, preflight)
                report.outcomes.append(out)
                along.update({binding_id(step.source, cid): step.binding_id for cid in out.also})
        finally:
            sources.close()
        with inv.engine.begin() as conn:
            repo.finish_run(conn, run_id, now=clock(),
                            outcome="partial" if report.failed else "ok",
                            counts=report.counts(),
                            detail=f"{len(report.failed)} failed" if report.failed else None)
    except SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot record the revoke in {inv.location}: {exc}") from exc
    return report


def _run_step(inv: Inventory, step: RevokeStep, sources: _Sources, client: RevokeClient,
              clock: Clock, actor: str, run_id: str, preflight: bool) -> Outcome:
    if step.noop is not None:
        return Outcome(step.binding_id, "already_revoked", detail=step.noop)
    try:
        out = _revoke_one(step, sources, client, preflight)
    except _Failure as fail:
        out = Outcome(step.binding_id, FAILED, fail.slack, fail.broker, fail.message,
                      "; ".join(step.notes))
        with inv.engine.begin() as conn:
            repo.append_events(conn, [repo.event_row(
                at=iso(clock()), run_id=run_id, binding_id=step.binding_id,
                type=EventType.REVOKE_FAILED.value, actor=actor,
                details={"stage": fail.stage, "error": fail.message, "slack": fail.slack,
                         "broker_removal": fail.broker, "reason": step.reason})])
        return out
    stamp = iso(clock())
    cause = {"revoked": "revoked at Slack", "already_dead": out.detail,
             "gone": out.detail}[out.outcome]
    reason = step.reason if out.outcome == "revoked" else f"{step.reason} ({cause})"
    with inv.engine.begin() as conn:
        conn.execute(BINDINGS.update().where(BINDINGS.c.id == step.binding_id).values(
            status=Status.REVOKED.value, status_reason=cause, status_changed_at=stamp,
            revoked_at=stamp, revoke_reason=reason, run_id=run_id))
        repo.append_events(conn, [repo.event_row(
            at=stamp, run_id=run_id, binding_id=step.binding_id, type=EventType.REVOKED.value,
            actor=actor,
            details={"reason": reason, "outcome": out.outcome, "slack": out.slack,
                     "broker_removal": out.broker, "status_before": step.status,
                     "token_kind": step.token_kind, "preflight": preflight})])
        for cid in out.also:
            other = binding_id(step.source, cid)
            why = f"{step.reason} (revoked at Slack with {step.binding_id}, same connection)"
            updated = conn.execute(BINDINGS.update().where(BINDINGS.c.id == other).values(
                status=Status.REVOKED.value, status_reason="revoked at Slack",
                status_changed_at=stamp, revoked_at=stamp, revoke_reason=why, run_id=run_id))
            if not updated.rowcount:
                continue  # not (yet) in the inventory: nothing to mark
            repo.append_events(conn, [repo.event_row(
                at=stamp, run_id=run_id, binding_id=other, type=EventType.REVOKED.value,
                actor=actor, details={"reason": why, "outcome": "revoked", "slack": "revoked",
                                      "broker_removal": out.broker, "with": step.binding_id,
                                      "preflight": preflight})])
    if out.also:
        out.notes = "; ".join(filter(None, [out.notes, "also revoked at Slack: " + ", ".join(
            binding_id(step.source, cid) for cid in out.also)]))
    return out
