"""One reconcile run: collect -> (fetch tokens, validate) -> merge -> upsert -> sweep -> events.

Network work happens before the write phase; the write phase is one transaction, so an
interrupted run (even kill -9) leaves the inventory as it was, with the run still marked
``running``, which the next run records as ``interrupted``. A source that fails is not
touched at all (no upsert, no sweep): its bindings keep their state.

A failure that belongs to one source (an unreachable broker, a store that cannot be opened or
parsed, even a bug met on one source's data) is that source's failure: the other sources are
reconciled, the run is recorded as partial and names it (exit 4). Only the operator's own bad
input (an invalid export file: :class:`InvalidInputError`) stops the run before anything is
written (exit 3).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import traceback
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import bindparam, select

from nhictl.clock import Clock, iso
from nhictl.errors import ExitCode, InvalidInputError, NhictlError
from nhictl.merge import content_hash, dumps_sorted, merge
from nhictl.models import (
    EventType,
    SourceObservation,
    SourceRecord,
    Status,
    TokenKind,
    ValidationResult,
    binding_id,
)
from nhictl.secret import Secret, fingerprint
from nhictl.shard import Shard
from nhictl.sources.base import IncrementalSource, ObservingSource, Source, UnchangedRecord
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.tables import BINDINGS, SOURCE_OBSERVATIONS, SOURCE_READS
from nhictl.testhook import pause_point

_log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]  # phase, done, total


class Validator(Protocol):
    """Validates tokens live; results keyed like the items. Never raises for one token.

    Items: (binding id, token, workspace hint, the Slack user behind the token: a user
    token's user as last known, a bot token's installer; None when unknown)."""

    def validate_all(
        self,
        items: Sequence[tuple[str, Secret, str | None, str | None]],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, ValidationResult]: ...

    def stats(self) -> dict[str, Any]: ...


@dataclass
class SourceOutcome:
    name: str
    kind: str
    complete: bool = False
    records: int = 0
    error: str | None = None
    hint: str | None = None


@dataclass
class ReconcileReport:
    run_id: str
    sources: list[SourceOutcome] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    status_counts: dict[str, int] = field(default_factory=dict)
    inconclusive: list[tuple[str, str]] = field(default_factory=list)  # (binding, reason)
    validator_stats: dict[str, Any] = field(default_factory=dict)
    shard: str | None = None  # "K/N" for a sharded run

    @property
    def partial(self) -> bool:
        return any(not s.complete for s in self.sources) or bool(self.inconclusive)

    @property
    def exit_code(self) -> int:
        return ExitCode.PARTIAL if self.partial else ExitCode.OK


Collected = SourceRecord | UnchangedRecord


@dataclass
class _Collected:
    source: Source
    spec: str | None
    records: list[Collected]  # a sharded run: only its shard's
    observations: list[SourceObservation] = field(default_factory=list)
    # A sharded run: the connection ids of the whole source (what the sweep must not remove).
    present: set[str] | None = None

    @property
    def full(self) -> Iterator[SourceRecord]:
        """The records that are not :class:`UnchangedRecord` stubs."""
        return (r for r in self.records if isinstance(r, SourceRecord))


DIGEST_FORMAT = b"nhictl-record-digest-v1\x00"


def digest_salt(key: bytes, source: str, spec: str | None) -> bytes:
    """The secret an IncrementalSource keys its record digests with: the inventory key, the
    source and its spec (another spec of the same file means other bindings) and the
    digest format, so a new key or format re-merges every record once."""
    data = DIGEST_FORMAT + source.encode("utf-8", "surrogatepass") + b"\x00" + \
        (spec or "").encode("utf-8", "surrogatepass")
    return hashlib.blake2b(data, key=key[:64], digest_size=32).digest()


def known_digests(inv: Inventory, source: str) -> dict[str, str]:
    """{connection id: content_hash} of the source's live bindings, streamed."""
    query = select(BINDINGS.c.connection_id, BINDINGS.c.content_hash).where(
        BINDINGS.c.source == source, BINDINGS.c.status.notin_(_RETIRED),
        BINDINGS.c.content_hash.is_not(None))
    with inv.engine.connect() as conn:
        result = conn.execute(query, execution_options={"stream_results": True,
                                                        "yield_per": _BATCH})
        return {cid: digest for cid, digest in result}


_SHARED_LISTS = ("purpose", "declared_scopes", "missing_scopes")
_MAX_SHARED = 4096
_ONLY_STR = frozenset({str})


def _compact(records: Iterable[Collected]) -> list[Collected]:
    """The records, held until the write, with equal string lists (purposes, scopes) and
    empty metadata as one shared object each: a million records repeat a few dozen of them
    (a third of a record's memory). Nothing mutates a record after its source yields it."""
    shared: dict[tuple[str, tuple[str, ...]], list[str]] = {}
    empty: dict[str, Any] = {}
    out: list[Collected] = []
    for r in records:
        if isinstance(r, SourceRecord):
            for name in _SHARED_LISTS:
                value = getattr(r, name)
                if type(value) is list and _ONLY_STR.issuperset(map(type, value)):
                    key = (name, tuple(value))
                    same = shared.get(key)
                    if same is None and len(shared) < _MAX_SHARED:
                        shared[key] = same = value
                    if same is not None:
                        setattr(r, name, same)
            if type(r.metadata) is dict and not r.metadata:
                r.metadata = empty
        out.append(r)
    return out


def _collect(inv: Inventory, source: Source, spec: str | None, outcome: SourceOutcome,
             validating: bool) -> list[Collected] | None:
    """The source's records, or None when it failed (``outcome`` says why). An
    IncrementalSource returns stubs for records equal to their live binding's (none when
    validating: validation needs every token)."""
    try:
        records: list[Collected]
        if isinstance(source, IncrementalSource):
            known = {} if validating else known_digests(inv, source.name)
            records = _compact(source.collect_incremental(
                known, digest_salt(inv.key, source.name, spec)))
            # A stub stands for a live binding on record; any other is the source's bug.
            if any(type(r) is UnchangedRecord and r.connection_id not in known
                   for r in records):
                raise AssertionError("a record reported unchanged is not on record")
            del known
        else:
            records = _compact(source.collect())
    except InvalidInputError:
        raise  # the operator's own input (an export file): exit 3, nothing written
    except NhictlError as exc:
        outcome.error, outcome.hint = _without_prefix(exc.message, source.name), exc.hint
        return None
    except Exception as exc:  # a bug met on one source's data must not lose the others
        _log.debug("reading source %r failed", source.name, exc_info=True)
        # Where, not what: the exception's text could quote the data (even a token).
        outcome.error = f"internal error while reading it ({type(exc).__name__}{_where(exc)})"
        outcome.hint = "this is a bug in nhictl: please report it with this line"
        return None
    outcome.complete = True
    outcome.records = len(records)
    return records


def _where(exc: BaseException) -> str:
    frames = traceback.extract_tb(exc.__traceback__)
    if not frames:
        return ""
    last = frames[-1]
    return f" at {os.path.basename(last.filename)}:{last.lineno} in {last.name}"


def _without_prefix(message: str, name: str) -> str:
    """SourceError already says ``source 'x':``; the outcome carries the name itself."""
    return message.removeprefix(f"source {name!r}: ")


def _tokens_in_hand(collected: list[_Collected]) -> dict[str, Secret]:
    """The tokens records carry (not a dead record's), per binding id."""
    tokens: dict[str, Secret] = {}
    for c in collected:
        for r in c.full:
            if r.token is not None and not r.dead_reason:
                tokens[binding_id(c.source.name, r.connection_id)] = r.token
    return tokens


def _fetch_tokens(
    collected: list[_Collected], concurrency: int
) -> tuple[dict[str, Secret], dict[str, str], dict[str, str]]:
    """Tokens fetched on demand per binding id, dead reasons from holders, transient fetch
    failures."""
    tokens: dict[str, Secret] = {}
    dead: dict[str, str] = {}
    failed: dict[str, str] = {}
    on_demand: list[tuple[str, Source, SourceRecord]] = []
    for c in collected:
        for r in c.full:
            if r.token is None and r.token_on_demand and not r.dead_reason:
                on_demand.append((binding_id(c.source.name, r.connection_id), c.source, r))

    def fetch(item: tuple[str, Source, SourceRecord]) -> tuple[str, Any]:
        bid, source, record = item
        try:
            return bid, source.fetch_token(record)
        except NhictlError as exc:
            return bid, exc

    with ThreadPoolExecutor(max_workers=max(1, concurrency)) as pool:
        for bid, got in pool.map(fetch, on_demand):
            if isinstance(got, NhictlError):
                failed[bid] = f"token fetch failed: {got.message}"
            elif got.dead_reason:
                dead[bid] = got.dead_reason
            elif got.token is not None:
                tokens[bid] = got.token
    return tokens, dead, failed


def reconcile(
    inv: Inventory,
    sources: Sequence[tuple[Source, str | None]],
    *,
    clock: Clock,
    actor: str,
    command: str,
    validator: Validator | None = None,
    concurrency: int = 16,
    progress: ProgressCallback | None = None,
    allow_empty: bool = False,
    shard: Shard | None = None,
) -> ReconcileReport:
    """Run one reconcile over ``sources`` ((source, spec) pairs); see the module docstring.

    Sources are read before the run is recorded: invalid input (InvalidInputError from a
    source) aborts with nothing written, not even a run row. With ``shard``, every source is
    read whole but only that shard's bindings (``nhictl.shard``) are validated, written and
    swept.
    """
    outcomes: list[SourceOutcome] = []
    collected: list[_Collected] = []
    for source, spec in sources:
        outcome = SourceOutcome(name=source.name, kind=source.kind)
        outcomes.append(outcome)
        if progress:
            progress(f"collect {source.name}", 0, 1)
        records = _collect(inv, source, spec, outcome, validator is not None)
        if progress:
            progress(f"collect {source.name}", 1, 1)
        if records == [] and not allow_empty:
            on_record = _live_count(inv, source.name)
            if on_record:
                # One truncated export must not mark a whole source removed.
                outcome.complete = False
                outcome.error = (f"returned no connections while {on_record} are on record; "
                                 "nothing was marked removed")
                outcome.hint = "if the source really is empty now, run again with --allow-empty"
                records = None
        if records is not None:
            seen = source.observations() if isinstance(source, ObservingSource) else []
            collected.append(_Collected(source, spec, records, seen))
    if shard is not None:
        for c in collected:
            _keep_shard(inv, c, shard)
    run_id = repo.begin_run(inv, "reconcile", now=clock(), actor=actor, command=command)
    report = ReconcileReport(run_id=run_id, sources=outcomes,
                             shard=str(shard) if shard else None)
    # Records of other providers (file exports) are skipped, and counted in the run record.
    skipped = sum(int(getattr(c.source, "skipped_other_providers", 0)) for c in collected)
    if skipped:
        report.counts["skipped_other_providers"] = skipped

    fetched, holder_dead, fetch_failed = _fetch_tokens(collected, concurrency)
    # Fingerprints of records' own tokens are taken as each is written (no map of them all).
    fetched_fps = {bid: fingerprint(inv.key, tok) for bid, tok in fetched.items()}
    results: dict[str, ValidationResult] = {}
    if validator is not None:
        tokens = _tokens_in_hand(collected) | fetched
        hints, revoked = _workspace_hints(inv, collected)
        # A token nhictl revoked stays revoked: calling Slack with it again would only add
        # noise to the workspace's logs (a reconnect brings a new token, and is validated).
        people = _people(inv, collected)
        items = [(bid, tok, hints.get(bid), people.get(bid)) for bid, tok in tokens.items()
                 if bid not in revoked or revoked[bid] != fingerprint(inv.key, tok)]
        report.counts["not_revalidated_revoked"] = len(tokens) - len(items)
        if progress:
            progress("validate", 0, len(items))
        cb = (lambda done, total: progress("validate", done, total)) if progress else None
        results = validator.validate_all(items, cb)
        report.validator_stats = validator.stats()
        for bid, reason in fetch_failed.items():
            results[bid] = ValidationResult(outcome="inconclusive", error=None, detail=reason)
        for bid, reason in holder_dead.items():
            results[bid] = ValidationResult(outcome="dead", error=reason)
    for bid, res in results.items():
        if res.outcome == "inconclusive":
            report.inconclusive.append((bid, res.detail or res.error or "unknown"))
    report.inconclusive.sort()

    now = iso(clock())
    pause_point("before-write")
    with repo.write_transaction(inv) as conn:
        for c in collected:
            _write_source(conn, c, report, _Tokens(inv.key, fetched_fps), results, now,
                          run_id, actor, shard)
            _write_observations(conn, c, now, run_id)
            pause_point("write")  # rows written, not committed: a crash test kills here
        report.status_counts = repo.status_counts(conn)
        report.counts["validated"] = sum(1 for r in results.values() if r.outcome == "ok")
        report.counts["dead"] = sum(1 for r in results.values() if r.outcome == "dead")
        report.counts["inconclusive"] = len(report.inconclusive)
        run_outcome = "partial" if report.partial else "ok"
        failed = [f"{s.name}: {s.error}" for s in report.sources if not s.complete]
        counts: dict[str, Any] = dict(report.counts)
        if report.shard:
            counts["shard"] = report.shard  # the run record says which shard it wrote
        repo.finish_run(conn, run_id, now=clock(), outcome=run_outcome,
                        counts=counts, detail="; ".join(failed) or None)
    return report


def _live_count(inv: Inventory, source: str) -> int:
    from sqlalchemy import func

    with inv.engine.connect() as conn:
        return int(conn.execute(
            select(func.count()).select_from(BINDINGS).where(
                BINDINGS.c.source == source,
                BINDINGS.c.status.notin_([Status.REMOVED.value, Status.REVOKED.value]))
        ).scalar_one())


def _workspace_hints(
    inv: Inventory, collected: list[_Collected]
) -> tuple[dict[str, str | None], dict[str, str]]:
    """The workspace each token is expected in, so the limiter can pace per workspace; and
    the fingerprints of bindings revoked through nhictl."""
    hints: dict[str, str | None] = {}
    revoked: dict[str, str] = {}
    known: dict[str, str | None] = {}
    with inv.engine.connect() as conn:
        rows = conn.execute(select(BINDINGS.c.id, BINDINGS.c.workspace_id, BINDINGS.c.status,
                                   BINDINGS.c.token_fingerprint))
        for bid, workspace, status, fp in rows:
            known[bid] = workspace
            if status == Status.REVOKED.value and fp:
                revoked[bid] = fp
    for c in collected:
        for r in c.full:
            bid = binding_id(c.source.name, r.connection_id)
            hints[bid] = known.get(bid) or r.source_team_id
    return hints, revoked


def _people(inv: Inventory, collected: list[_Collected]) -> dict[str, str]:
    """The Slack user behind each token, for users.info: a user token's user as last
    validated (else as its source recorded it), a bot token's installer where the source
    records it (slack_sdk stores, an export's ``installer_user_id``)."""
    with inv.engine.connect() as conn:
        validated = {bid: user for bid, user in conn.execute(
            select(BINDINGS.c.id, BINDINGS.c.slack_user_id).where(
                BINDINGS.c.last_validated_at.is_not(None),
                BINDINGS.c.token_kind == TokenKind.USER.value))}
    out: dict[str, str] = {}
    for c in collected:
        for r in c.full:
            bid = binding_id(c.source.name, r.connection_id)
            if r.token_kind == TokenKind.BOT.value:
                person = r.metadata.get("installer_user_id")
            else:
                person = validated.get(bid) or r.source_slack_user_id
            if isinstance(person, str) and person:
                out[bid] = person
    return out


def _keep_shard(inv: Inventory, c: _Collected, shard: Shard) -> None:
    """Keep only the shard's records (the whole source's ids stay, for the sweep)."""
    name = c.source.name
    with inv.engine.connect() as conn:  # workspaces learnt from Slack decide first
        learnt = {bid: ws for bid, ws in conn.execute(
            select(BINDINGS.c.id, BINDINGS.c.workspace_id).where(
                BINDINGS.c.source == name, BINDINGS.c.workspace_id.is_not(None)))}
    c.present = {r.connection_id for r in c.records}
    c.records = [r for r in c.records if shard.holds(
        learnt.get(binding_id(name, r.connection_id)) or r.source_team_id or r.enterprise_id,
        name, r.connection_id)]


_BATCH = 2000  # rows looked up, written or swept at a time: memory stays bounded
_RETIRED = (Status.REMOVED.value, Status.REVOKED.value)
_COLUMNS = [col.name for col in BINDINGS.columns]


class _Writer:
    """Buffered writes of one source: new rows, changed rows, stamps of unchanged rows and
    events, each flushed every ``_BATCH`` rows in the order they were made."""

    def __init__(self, conn: Any, now: str, run_id: str, actor: str) -> None:
        self.conn, self.now, self.run_id, self.actor = conn, now, run_id, actor
        self.inserts: list[tuple[Any, ...]] = []
        self.updates: list[dict[str, Any]] = []
        self.stamps: list[tuple[str, str, str]] = []
        self.events: list[tuple[Any, ...]] = []

    def event(self, bid: str, etype: str, details: dict[str, Any]) -> None:
        # ``repo.event_row`` as a value tuple in ``repo.EVENT_KEYS`` order.
        self.events.append((self.now, self.run_id, bid, etype, self.actor,
                            dumps_sorted(details)))

    def flush(self, force: bool = False) -> None:
        if self.inserts and (force or len(self.inserts) >= _BATCH):
            repo.insert_tuples(self.conn, BINDINGS, _COLUMNS, self.inserts)
            self.inserts.clear()
        if self.updates and (force or len(self.updates) >= _BATCH):
            columns = [k for k in _COLUMNS if k != "id"]
            stmt = BINDINGS.update().where(BINDINGS.c.id == bindparam("b_id")).values(
                {k: bindparam(k) for k in columns})
            self.conn.execute(stmt, [{"b_id": r["id"], **{k: r.get(k) for k in columns}}
                                     for r in self.updates])
            self.updates.clear()
        if self.stamps and (force or len(self.stamps) >= _BATCH):
            _stamp(self.conn, self.stamps)
            self.stamps.clear()
        if self.events and (force or len(self.events) >= _BATCH):
            repo.append_events(self.conn, self.events)
            self.events.clear()


def _stamp(conn: Any, stamps: list[tuple[str, str, str]]) -> None:
    """``last_seen_at`` and ``run_id`` of unchanged rows ((when, run, id) per row, one when
    and run per batch): one statement per batch, by primary key."""
    now, run_id = stamps[0][0], stamps[0][1]
    conn.execute(BINDINGS.update().where(BINDINGS.c.id.in_([bid for _, _, bid in stamps]))
                 .values(last_seen_at=now, run_id=run_id))


def _lookup(conn: Any, ids: list[str]) -> dict[str, Any]:
    """Narrow rows (status, hash, fingerprint) of these binding ids, by id."""
    rows = conn.execute(select(BINDINGS.c.id, BINDINGS.c.status, BINDINGS.c.content_hash,
                               BINDINGS.c.token_fingerprint).where(BINDINGS.c.id.in_(ids)))
    return {row[0]: row for row in rows.all()}  # one fetchall, not a fetch per row


def _full_rows(conn: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
    if not ids:
        return {}
    rows = conn.execute(select(BINDINGS).where(BINDINGS.c.id.in_(ids)))
    return {row.id: dict(row._mapping) for row in rows}


class _Tokens:
    """A record's token fingerprint, taken once as it is written: from the record's own
    token (none for a record its holder says is dead) or from one fetched on demand."""

    def __init__(self, key: bytes, fetched: dict[str, str]) -> None:
        self.key, self.fetched = key, fetched

    def fingerprint(self, bid: str, record: SourceRecord) -> str | None:
        if record.token is not None and not record.dead_reason:
            return fingerprint(self.key, record.token)
        return self.fetched.get(bid)


def _write_source(
    conn: Any,
    c: _Collected,
    report: ReconcileReport,
    tokens: _Tokens,
    results: dict[str, ValidationResult],
    now: str,
    run_id: str,
    actor: str,
    shard: Shard | None = None,
) -> None:
    """Merge the source's records into its bindings, sweep the ones it no longer has, and
    record the complete read (``source_reads``: when every binding it holds was seen).

    Records are handled ``_BATCH`` at a time. A stub (:class:`UnchangedRecord`) costs
    nothing. The others' rows are looked up narrow (status, content hash, fingerprint); a
    row whose source said the same as last time (equal ``content_hash``), with no
    validation result and nothing another command reset, is not written (the read says it
    was seen); the others are read whole and merged. A read with a partial record (some
    bindings of a connection not read this time) is not a read of every binding: it is not
    recorded, and its unchanged rows are stamped one by one instead. The sweep streams the
    source's live rows. Memory holds one batch, never the source's whole table.
    """
    name = c.source.name
    out = _Writer(conn, now, run_id, actor)
    stamp = any(r.partial for r in c.full)
    for start in range(0, len(c.records), _BATCH):
        batch = c.records[start:start + _BATCH]
        todo: list[tuple[SourceRecord, str]] = [
            (r, binding_id(name, r.connection_id)) for r in batch
            if isinstance(r, SourceRecord)]
        report.counts["unchanged"] += len(batch) - len(todo)
        narrow = _lookup(conn, [bid for _, bid in todo]) if todo else {}
        to_merge: list[tuple[SourceRecord, str, str, str | None]] = []
        for record, bid in todo:
            fp = tokens.fingerprint(bid, record)
            digest = record.content_digest or content_hash(record, source_spec=c.spec,
                                                           fingerprint=fp)
            known = narrow.get(bid)
            if (known is not None and known.content_hash == digest and bid not in results
                    and known.status not in _RETIRED and not record.partial
                    and (fp is None or known.token_fingerprint == fp)):
                if stamp:
                    out.stamps.append((now, run_id, bid))
                report.counts["unchanged"] += 1
            else:
                to_merge.append((record, bid, digest, fp))
        previous_rows = _full_rows(conn, [bid for _, bid, _, _ in to_merge if bid in narrow])
        for record, bid, digest, fp in to_merge:
            previous = previous_rows.get(bid)
            m = merge(previous, record, source=name, source_spec=c.spec,
                      fingerprint=fp, validation=results.get(bid),
                      now=now, run_id=run_id, bid=bid)
            m.row["content_hash"] = digest
            for etype, details in m.events:
                out.event(bid, etype, details)
                report.counts[etype] += 1
            if m.is_new:
                out.inserts.append(tuple(map(m.row.get, _COLUMNS)))
            else:
                out.updates.append(m.row)
                if not m.events:
                    report.counts["unchanged"] += 1
        out.flush()
        report.counts["seen"] += len(batch)
    out.flush(force=True)
    _sweep(conn, c, report, out, shard)
    out.flush(force=True)
    if not stamp:
        _record_read(conn, name, str(shard) if shard else "", now, run_id)


def _record_read(conn: Any, source: str, scope: str, now: str, run_id: str) -> None:
    """Upsert the source's complete read of ``scope`` (portable: delete, then insert)."""
    conn.execute(SOURCE_READS.delete().where(SOURCE_READS.c.source == source,
                                             SOURCE_READS.c.scope == scope))
    conn.execute(SOURCE_READS.insert().values(source=source, scope=scope, read_at=now,
                                              run_id=run_id))


def _sweep(conn: Any, c: _Collected, report: ReconcileReport, out: _Writer,
           shard: Shard | None) -> None:
    """Mark removed the source's live bindings it no longer reports (a sharded run: only
    its shard's, by the rule reconcile used to pick the records)."""
    name = c.source.name
    present = c.present if c.present is not None else {r.connection_id for r in c.records}
    # Parts ("<id>#...") of a connection its holder could not read in full this time are
    # still there, not removed.
    unread = tuple({r.connection_id + "#" for r in c.full if r.partial})
    query = select(BINDINGS.c.id, BINDINGS.c.connection_id, BINDINGS.c.status,
                   BINDINGS.c.workspace_id).where(
        BINDINGS.c.source == name, BINDINGS.c.status.notin_(_RETIRED))
    gone: list[tuple[str, str]] = []
    # Read first, write after: the result is not streamed over rows being updated.
    for bid, connection_id, status, workspace in conn.execute(query):
        if connection_id in present:
            continue
        if unread and str(connection_id).startswith(unread):
            continue
        if shard is not None and not shard.holds(workspace, name, connection_id):
            continue
        gone.append((bid, status))
    for start in range(0, len(gone), _BATCH):
        ids = [bid for bid, _ in gone[start:start + _BATCH]]
        rows = _full_rows(conn, ids)
        for bid, status in gone[start:start + _BATCH]:
            out.updates.append({**rows[bid], "status": Status.REMOVED.value,
                                "status_reason": "no longer present in its source",
                                "status_changed_at": out.now, "run_id": out.run_id})
            out.event(bid, EventType.REMOVED.value, {"from": status})
            report.counts["removed"] += 1
        out.flush()


def _write_observations(conn: Any, c: _Collected, now: str, run_id: str) -> None:
    """Replace what is known about this source's holder with what this read noticed."""
    conn.execute(SOURCE_OBSERVATIONS.delete().where(
        SOURCE_OBSERVATIONS.c.source == c.source.name))
    if c.observations:
        conn.execute(SOURCE_OBSERVATIONS.insert(), [
            {"source": c.source.name, "kind": o.kind, "subject": o.subject,
             "details": json.dumps(o.details, sort_keys=True), "observed_at": now,
             "run_id": run_id}
            for o in c.observations])


def summary_line(report: ReconcileReport) -> str:
    c = report.counts
    parts = [f"{c['seen']} seen", f"{c['discovered']} new", f"{c['changed']} changed",
             f"{c['removed']} removed"]
    if report.validator_stats or c["validated"] or c["inconclusive"]:
        parts += [f"{c['validated']} validated", f"{c['dead']} dead",
                  f"{c['inconclusive']} inconclusive"]
    drift = [f"{c[key]} {label}" for key, label in (
        ("status_changed", "status changes"), ("scope_changed", "scope changes"),
        ("identity_changed", "identity changes"), ("reappeared", "reappeared")) if c[key]]
    return ", ".join(parts) + ("; " + ", ".join(drift) if drift else "")


def as_json(report: ReconcileReport, generated_at: str) -> str:
    """``reconcile -o json`` (schema ``reconcile``): the names the JSON log's
    ``reconcile finished`` line uses too (``counts``, ``statuses``, ``partial``...)."""
    return json.dumps({
        "schema_version": 1,
        "generated_at": generated_at,
        "run_id": report.run_id,
        "counts": dict(report.counts),
        "statuses": report.status_counts,
        "partial": report.partial,
        "failed_sources": [s.name for s in report.sources if not s.complete],
        "sources": [s.__dict__ for s in report.sources],
        "inconclusive": [{"binding_id": b, "reason": r} for b, r in report.inconclusive],
        **({"shard": report.shard} if report.shard else {}),
    }, indent=2)
