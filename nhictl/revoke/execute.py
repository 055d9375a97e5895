"""Executing a revoke plan: each binding on its own, every step recorded as an event.

Per binding: obtain the token from its holder (on demand) or as the operator supplied it on
stdin (already checked against the binding's fingerprint), optionally ``auth.revoke`` with
``test=1`` (preflight), journal ``revoke_started``, ``auth.revoke``, journal
``revoked_at_slack``, then the broker's removal hook where the source has one, then mark the
binding ``revoked``. Only Slack's answer makes a binding ``revoked``: a token Slack reports
dead is marked revoked with that reason; a token nhictl cannot obtain (the source no longer
holds it, holds none, or its holder says the grant is dead) fails with the way forward
(``--token-stdin``, or ``--mark-removed``, which records ``removed`` and says Slack was not
told). A failure at any stage records ``revoke_failed`` and leaves the binding as it was, so
running the revoke again retries it; the other bindings proceed. A write that fails after
Slack was told says so (exit 5), and the journal lets the next revoke finish the record.
"""

from __future__ import annotations

import hmac
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy.exc import SQLAlchemyError

from nhictl.clock import Clock, iso
from nhictl.errors import InvalidInputError, NhictlError, RevokeFailedError
from nhictl.models import EventType, SourceRecord, Status, binding_id
from nhictl.revoke.plan import RevokeStep
from nhictl.revoke.record import NOT_TOLD, SLACK_REVOKED, Journal
from nhictl.secret import Secret, fingerprint
from nhictl.slack.client import RevokeResult
from nhictl.sources.base import RemovableSource, Source
from nhictl.store import repo
from nhictl.store.engine import Inventory


class RevokeClient(Protocol):
    def revoke(
        self, token: Secret, test: bool = False, *, workspace_hint: str | None = None
    ) -> RevokeResult: ...


SourceOpener = Callable[[RevokeStep], Source]

# Outcomes: revoked, already_dead (Slack says the token is dead), marked_removed (Slack not
# told, by the operator's choice), already_revoked, failed.
FAILED = "failed"
MARKED_REMOVED = "marked_removed"


def way_forward(binding_id: str) -> str:
    """What an operator can do when nhictl cannot obtain a binding's token."""
    return (f"supply the token on stdin (`nhictl revoke {binding_id} --token-stdin --yes`, "
            "checked against its fingerprint), or record that Slack was not told "
            f"(`nhictl revoke {binding_id} --mark-removed --yes`)")


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
                preflight: bool, journal: Journal, supplied: Secret | None,
                told: list[str], key: bytes | None) -> Outcome:
    out = Outcome(step.binding_id, "revoked", notes="; ".join(step.notes))
    src: Source | None = None
    record: SourceRecord | None = None
    lookup_error: str | None = None
    if supplied is None or step.removable:
        try:
            src, record = sources.get(step)
        except _Failure as fail:
            if supplied is None:
                raise
            lookup_error = fail.message  # the supplied token still revokes at Slack
    if supplied is not None:
        token = supplied
    elif src is None or record is None:
        if step.resume == SLACK_REVOKED:
            # The journal holds Slack's confirmation from an attempt that did not finish
            # (died, or failed at the broker, which no longer holds it): finish the record.
            out.slack = "revoked (earlier attempt)"
            out.broker = "gone" if step.removable else "not applicable"
            out.detail = "Slack revoked it in an earlier attempt; its record is written now"
            return out
        raise _Failure("token", f"source {step.source!r} no longer holds it, so nhictl cannot "
                       f"obtain its token; Slack was not called: "
                       f"{way_forward(step.binding_id)}", slack="not called")
    else:
        token = _fetch(step, src, record)
        _same_token(step, token, key)
    hint = step.workspace_id
    if preflight:
        test = client.revoke(token, test=True, workspace_hint=hint)
        if test.outcome == FAILED:
            raise _Failure("preflight", f"auth.revoke test=1 failed: {test.error or test.detail}",
                           slack="preflight failed")
    journal.event(step.binding_id, EventType.REVOKE_STARTED, {
        "call": "auth.revoke", "token": "supplied on stdin" if supplied else "from its source",
        "reason": step.reason})
    result = client.revoke(token, workspace_hint=hint)
    if result.outcome == "dead":
        out.outcome, out.slack = "already_dead", f"already dead ({result.error})"
        out.detail = f"Slack reports the token dead ({result.error})"
    elif result.outcome == "revoked":
        out.slack = "revoked"
        told.append(step.binding_id)
    else:
        raise _Failure("slack", f"auth.revoke failed: {result.error or result.detail}",
                       slack="failed")
    journal.event(step.binding_id, EventType.REVOKED_AT_SLACK, {"slack": out.slack})
    if lookup_error is not None:
        raise _Failure("broker_removal", f"broker removal not done: {lookup_error}",
                       slack=out.slack, broker="failed")
    if src is None or record is None:
        out.broker = "gone" if step.removable else "not applicable"
        return out
    out.also = _revoke_companions(src, record, client, hint, out.slack)
    told.extend(binding_id(step.source, cid) for cid in out.also)
    out.broker = _remove(src, record, out.slack)
    return out


def _same_token(step: RevokeStep, token: Secret, key: bytes | None) -> None:
    """A file or store holds its token as-is: one that no longer matches the recorded
    fingerprint is another token now (a reused connection id, an edited export), and
    revoking it could end someone else's grant. Brokers refresh their tokens, so their
    connection, not the token's bytes, is what the binding names."""
    if key is None or not step.fingerprint or step.removable:
        return
    if not hmac.compare_digest(fingerprint(key, token), step.fingerprint):
        raise _Failure("token", f"source {step.source!r} now holds a different token for "
                       f"{step.connection_id} than the one recorded ({step.fingerprint}); "
                       "Slack was not called: run `nhictl reconcile` to record what the source "
                       "holds now, check the binding, and revoke again", slack="not called")


def _fetch(step: RevokeStep, src: Source, record: SourceRecord) -> Secret:
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
                       f"and revoke again; or {way_forward(step.binding_id)}",
                       slack="not called", broker="not called")
    if got.token is None:
        raise _Failure("token", f"source {step.source!r} holds no token for it (export the "
                       f"access_token, or revoke it in the app); Slack was not called: "
                       f"{way_forward(step.binding_id)}", slack="not called")
    return got.token


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
    supplied: Mapping[str, Secret] | None = None,
) -> RevokeReport:
    """Run the plan. ``supplied`` holds tokens the operator gave on stdin, by binding id
    (the caller has checked each against its binding's fingerprint)."""
    todo = [s for s in steps if s.noop is None]
    report = RevokeReport(run_id=None)
    if not todo:
        report.outcomes = [Outcome(s.binding_id, "already_revoked", detail=s.noop or "")
                           for s in steps]
        return report
    try:
        run_id = repo.begin_run(inv, "revoke", now=clock(), actor=actor, command=command)
    except SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot record the revoke in {inv.location}: {_why(exc)}; "
                                "nothing was called") from exc
    report.run_id = run_id
    journal = Journal(inv, run_id, clock, actor)
    told: list[str] = []  # bindings Slack revoked in this run
    try:
        with inv.engine.begin() as conn:
            repo.append_events(conn, [repo.event_row(
                at=iso(clock()), run_id=run_id, binding_id=s.binding_id,
                type=EventType.REVOKE_PLANNED.value, actor=actor,
                details={"reason": s.reason, "calls": list(s.calls), "status": s.status,
                         "token_kind": s.token_kind, "preflight": preflight,
                         "mark_removed": s.mark_removed})
                for s in todo])
        sources = _Sources(open_source)
        along: dict[str, str] = {}  # binding id -> the binding it was revoked with
        try:
            for step in steps:
                if step.binding_id in along:
                    report.outcomes.append(Outcome(step.binding_id, "revoked", "revoked",
                                                   detail=f"with {along[step.binding_id]}"))
                    continue
                out = _run_step(journal, step, sources, client, preflight,
                                (supplied or {}).get(step.binding_id), told, inv.key)
                report.outcomes.append(out)
                along.update({binding_id(step.source, cid): step.binding_id for cid in out.also})
        finally:
            sources.close()
        with inv.engine.begin() as conn:
            repo.finish_run(conn, run_id, now=clock(),
                            outcome="partial" if report.failed else "ok",
                            counts=report.counts(),
                            detail=f"{len(report.failed)} failed" if report.failed else None)
    except (SQLAlchemyError, NhictlError) as exc:
        # A write failed (full disk, read-only, busy: translated at the store's seam) or the
        # run stopped: never "nothing written"; say what Slack already did and that a rerun
        # completes it.
        done = ", ".join(told) if told else "none in this run"
        recorded = ", ".join(f"{k} {v}" for k, v in sorted(report.counts().items()))
        raise RevokeFailedError(
            f"the revoke stopped before it was fully recorded in {inv.location} "
            f"({_why(exc)}); Slack revoked: {done}; outcomes recorded before: "
            f"{recorded or 'none'}",
            hint="make the inventory writable and run the same revoke again: the journal "
                 "(revoke_started, revoked_at_slack events) lets it record what Slack did",
        ) from exc
    return report


def _why(exc: SQLAlchemyError | NhictlError) -> str:
    if isinstance(exc, NhictlError):
        return exc.message
    return str(getattr(exc, "orig", None) or type(exc).__name__)


def _run_step(journal: Journal, step: RevokeStep, sources: _Sources, client: RevokeClient,
              preflight: bool, supplied: Secret | None, told: list[str],
              key: bytes | None) -> Outcome:
    if step.noop is not None:
        return Outcome(step.binding_id, "already_revoked", detail=step.noop)
    if step.mark_removed:
        reason = f"{step.reason} (marked removed: {NOT_TOLD})"
        journal.outcome(step.binding_id, status=Status.REMOVED, kind=EventType.MARKED_REMOVED,
                        status_reason=f"marked removed by {journal.actor}; {NOT_TOLD}",
                        revoke_reason=None,
                        details={"reason": reason, "slack": "not told",
                                 "broker_removal": "not called", "status_before": step.status,
                                 "token_kind": step.token_kind})
        return Outcome(step.binding_id, MARKED_REMOVED, "not told", "not called", NOT_TOLD,
                       "; ".join(step.notes))
    try:
        out = _revoke_one(step, sources, client, preflight, journal, supplied, told, key)
    except _Failure as fail:
        journal.event(step.binding_id, EventType.REVOKE_FAILED, {
            "stage": fail.stage, "error": fail.message, "slack": fail.slack,
            "broker_removal": fail.broker, "reason": step.reason})
        return Outcome(step.binding_id, FAILED, fail.slack, fail.broker, fail.message,
                       "; ".join(step.notes))
    cause = "revoked at Slack" if out.outcome == "revoked" else out.detail
    reason = step.reason if out.outcome == "revoked" else f"{step.reason} ({cause})"
    why = f"{step.reason} (revoked at Slack with {step.binding_id}, same connection)"
    journal.outcome(step.binding_id, status=Status.REVOKED, kind=EventType.REVOKED,
                    status_reason=cause, revoke_reason=reason,
                    details={"reason": reason, "outcome": out.outcome, "slack": out.slack,
                             "broker_removal": out.broker, "status_before": step.status,
                             "token_kind": step.token_kind, "preflight": preflight,
                             "token": "supplied on stdin" if supplied else "from its source"},
                    also=[(binding_id(step.source, cid), why, {
                        "reason": why, "outcome": "revoked", "slack": "revoked",
                        "broker_removal": out.broker, "with": step.binding_id,
                        "preflight": preflight}) for cid in out.also])
    if out.also:
        out.notes = "; ".join(filter(None, [out.notes, "also revoked at Slack: " + ", ".join(
            binding_id(step.source, cid) for cid in out.also)]))
    return out
