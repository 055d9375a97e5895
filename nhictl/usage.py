"""Token-use evidence: JSON Lines exported by the app or the broker.

One event per line::

    {"time": "2026-03-01T10:00:00Z", "connection_id": "conn_1", "source": "prod-pipes",
     "action": "message_posted", "channel_id": "C123", "scopes": ["chat:write"]}

A line names its binding by ``binding_id``, ``token_fingerprint`` (``hmac-sha256:...`` as
``nhictl hash`` prints it) or ``connection_id`` (with ``source`` when connection ids repeat
across sources). ``scopes`` lists the scopes the action exercised; without it they are
inferred from the action (:data:`ACTION_SCOPES`). Every line is validated before anything is
written; then one transaction inserts new events (deduplicated by a content hash, so ingesting
a file twice changes nothing), raises ``last_used_at`` and adds to ``used_scopes``. Lines for
unknown bindings are counted and reported, never fatal.
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, select
from sqlalchemy.exc import SQLAlchemyError

from nhictl.clock import iso, parse_time
from nhictl.errors import InputFileError, InvalidInputError
from nhictl.fsutil import MAX_USAGE_BYTES, read_input_text
from nhictl.jsonin import JsonProblem, loads_strict
from nhictl.models import EventType
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.tables import BINDINGS, USAGE

# Scopes an action exercises when the line does not say. ``channel_selected`` and
# ``channels_listed`` need groups:read instead for a private channel ("private": true, or a
# channel id starting with G).
ACTION_SCOPES: dict[str, tuple[str, ...]] = {
    "token_requested": (),
    "token_refreshed": (),
    "message_posted": ("chat:write",),
    "message_updated": ("chat:write",),
    "message_deleted": ("chat:write",),
    "message_posted_custom": ("chat:write", "chat:write.customize"),
    "webhook_posted": ("incoming-webhook",),
    "channel_selected": ("channels:read",),
    "channels_listed": ("channels:read",),
    "dm_opened": ("im:write",),
    "dm_sent": ("chat:write", "im:write"),
    "signed_in": ("openid",),
    "user_looked_up": ("users:read",),
    "email_looked_up": ("users:read.email",),
}
_CHANNEL_ACTIONS = frozenset({"channel_selected", "channels_listed"})
_REF_KEYS = ("binding_id", "token_fingerprint", "connection_id")
_FORBIDDEN = ("token", "access_token", "refresh_token", "bot_token")
MAX_REF_CHARS = 512  # binding ids, fingerprints, connection ids, sources, actions


@dataclass(frozen=True)
class UsageEvent:
    line: int
    at: str
    action: str
    ref_kind: str
    ref: str
    source: str | None = None
    channel_id: str | None = None
    scopes: tuple[str, ...] = ()
    event_id: str | None = None


@dataclass
class UsageReport:
    path: str
    lines: int = 0
    events: int = 0
    matched: int = 0
    inserted: int = 0
    duplicates: int = 0
    unknown: int = 0
    unknown_refs: list[str] = field(default_factory=list)
    bindings_updated: int = 0

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in (
            "path", "lines", "events", "matched", "inserted", "duplicates", "unknown",
            "unknown_refs", "bindings_updated")}


def inferred_scopes(action: str, channel_id: str | None, private: bool) -> tuple[str, ...]:
    if action in _CHANNEL_ACTIONS and (private or (channel_id or "").startswith("G")):
        return ("groups:read",)
    return ACTION_SCOPES.get(action, ())


def _opt_str(obj: dict[str, Any], key: str, fail: Any) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        fail(f"{key!r} must be a non-empty string")
    if len(str(value).strip()) > MAX_REF_CHARS:
        fail(f"{key!r} is longer than {MAX_REF_CHARS} characters")
    return str(value).strip()


def parse_line(text: str, n: int, path: str, now: datetime | None = None) -> UsageEvent:
    def fail(message: str) -> None:
        raise InputFileError(path, f"line {n}", message)

    try:
        obj = loads_strict(text)  # no NaN, no lone surrogate, bounded depth and strings
    except JsonProblem as exc:
        detail = exc.message.removeprefix("invalid JSON: ")
        raise InputFileError(path, f"line {n}", exc.message if detail == exc.message
                             else f"not JSON ({detail})") from None
    if not isinstance(obj, dict):
        fail("each line must be a JSON object")
    for key in _FORBIDDEN:
        if key in obj:
            fail(f"field {key!r} looks like a credential; usage evidence must not carry tokens")
    raw_time = obj.get("time")
    if not isinstance(raw_time, str):
        fail("'time' is required (ISO 8601)")
    try:
        moment = parse_time(str(raw_time))
        if moment.year < 1000:  # would not be stored as ISO 8601 (``1-01-01T...``)
            raise ValueError("out of range")
        at = iso(moment)
    except (ValueError, OverflowError):
        raise InputFileError(path, f"line {n}", f"'time' is not ISO 8601: {raw_time!r}") from None
    if now is not None and moment > now + timedelta(days=1):
        # A future "last use" would hide dormancy until that date.
        fail(f"'time' {raw_time[:40]!r} is in the future")
    action = _opt_str(obj, "action", fail)
    if action is None:
        fail("'action' is required")
    ref_kind = next((k for k in _REF_KEYS if obj.get(k) is not None), None)
    if ref_kind is None:
        fail("one of 'binding_id', 'token_fingerprint' or 'connection_id' is required")
    ref = _opt_str(obj, str(ref_kind), fail)
    channel_id = _opt_str(obj, "channel_id", fail)
    private = obj.get("private", obj.get("is_private", False))
    if not isinstance(private, bool):
        fail("'private' must be true or false")
    scopes_raw = obj.get("scopes")
    if scopes_raw is None:
        scopes = inferred_scopes(str(action), channel_id, bool(private))
    elif isinstance(scopes_raw, list) and all(isinstance(s, str) and s for s in scopes_raw):
        scopes = tuple(sorted({s.strip() for s in scopes_raw}))
    else:
        fail("'scopes' must be a list of scope names")
        scopes = ()
    event_id = obj.get("id", obj.get("event_id"))
    return UsageEvent(
        line=n, at=at, action=str(action), ref_kind=str(ref_kind), ref=str(ref),
        source=_opt_str(obj, "source", fail), channel_id=channel_id, scopes=scopes,
        event_id=str(event_id) if event_id is not None else None,
    )


def parse_usage_file(
    path: str | Path, now: datetime | None = None
) -> tuple[int, list[UsageEvent]]:
    """(lines read, events); any malformed line raises InputFileError naming it."""
    p = Path(path)
    text = read_input_text(p, "usage file", MAX_USAGE_BYTES)
    lines = text.split("\n")  # not splitlines(): JSON strings may hold U+2028, U+0085
    if lines[-1] == "":
        lines.pop()
    events = [parse_line(line, n, str(p), now) for n, line in enumerate(lines, 1)
              if line.strip()]
    return len(lines), events


def usage_key(binding_id: str, ev: UsageEvent) -> str:
    content = json.dumps([binding_id, ev.at, ev.action, ev.channel_id, list(ev.scopes),
                          ev.event_id])
    return "u-" + hashlib.sha256(content.encode()).hexdigest()[:32]


class _Resolver:
    def __init__(self, conn: Connection) -> None:
        self.ids: dict[str, str] = {}
        self.by_conn: dict[str, list[str]] = defaultdict(list)
        self.by_src_conn: dict[tuple[str, str], str] = {}
        self.by_fp: dict[str, list[str]] = defaultdict(list)
        self._conn = conn
        self._recorded: dict[str, str] | None = None
        cols = (BINDINGS.c.id, BINDINGS.c.source, BINDINGS.c.connection_id,
                BINDINGS.c.token_fingerprint)
        for bid, source, conn_id, fp in conn.execute(select(*cols)):
            self.ids[bid] = source
            self.by_conn[conn_id].append(bid)
            self.by_src_conn[(source, conn_id)] = bid
            if fp:
                self.by_fp[fp].append(bid)

    def _recorded_name(self, spec: str) -> str:
        from nhictl.errors import UsageError
        from nhictl.sources.registry import place_of_spec, recorded_names

        if self._recorded is None:
            self._recorded = recorded_names(self._conn)
        try:
            return self._recorded.get(place_of_spec(spec), spec)
        except UsageError:
            return spec

    def resolve(self, ev: UsageEvent) -> str | None:
        if ev.ref_kind == "binding_id":
            return ev.ref if ev.ref in self.ids else None
        if ev.ref_kind == "token_fingerprint":
            found = self.by_fp.get(ev.ref, [])
            return found[0] if len(found) == 1 else None
        if ev.source is not None:
            bid = self.by_src_conn.get((ev.source, ev.ref))
            if bid is None and ":" in ev.source:  # an ad-hoc source, however spelled
                bid = self.by_src_conn.get((self._recorded_name(ev.source), ev.ref))
            return bid
        found = self.by_conn.get(ev.ref, [])
        return found[0] if len(found) == 1 else None


def ingest_usage(inv: Inventory, path: str | Path, *, now: datetime, actor: str) -> UsageReport:
    """Validate the whole file, then record it in one transaction (idempotent)."""
    lines, events = parse_usage_file(path, now)
    report = UsageReport(path=str(path), lines=lines, events=len(events))
    try:
        with inv.engine.begin() as conn:
            _write(conn, events, report, now=now, actor=actor)
    except SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot record usage in {inv.location}: {exc}") from exc
    return report


def _write(
    conn: Connection, events: list[UsageEvent], report: UsageReport, *, now: datetime, actor: str
) -> None:
    resolver = _Resolver(conn)
    rows: dict[str, dict[str, Any]] = {}
    unknown: set[str] = set()
    for ev in events:
        bid = resolver.resolve(ev)
        if bid is None:
            report.unknown += 1
            shared = resolver.by_fp.get(ev.ref, []) if ev.ref_kind == "token_fingerprint" else []
            # A fingerprint two bindings share cannot be attributed: say so, it is the
            # token_shared investigation's first clue.
            unknown.add(f"{ev.ref_kind}={ev.ref}" + (
                f" (ambiguous: {', '.join(sorted(shared))})" if len(shared) > 1 else ""))
            continue
        report.matched += 1
        key = usage_key(bid, ev)
        rows[key] = {"key": key, "binding_id": bid, "source": resolver.ids[bid], "at": ev.at,
                     "action": ev.action, "channel_id": ev.channel_id,
                     "scopes": json.dumps(list(ev.scopes))}
    report.unknown_refs = sorted(unknown)[:20]
    existing: set[str] = set()
    keys = list(rows)
    for i in range(0, len(keys), 500):
        chunk = keys[i:i + 500]
        existing |= {k for (k,) in conn.execute(select(USAGE.c.key).where(USAGE.c.key.in_(chunk)))}
    new = [r for k, r in rows.items() if k not in existing]
    report.duplicates = report.matched - len(new)
    report.inserted = len(new)
    if not new:
        return
    conn.execute(USAGE.insert(), new)
    per_binding: dict[str, tuple[str, set[str]]] = {}
    for r in new:
        last, scopes = per_binding.get(r["binding_id"], ("", set()))
        per_binding[r["binding_id"]] = (max(last, r["at"]), scopes | set(json.loads(r["scopes"])))
    for bid, (last, scopes) in per_binding.items():
        current = repo.get_binding(conn, bid)
        if current is None:
            continue
        old_last = current.get("last_used_at")
        new_last = max(old_last, last) if old_last else last
        used = sorted(set(current.get("used_scopes") or []) | scopes)
        if new_last != old_last or used != sorted(current.get("used_scopes") or []):
            conn.execute(BINDINGS.update().where(BINDINGS.c.id == bid)
                         .values(last_used_at=new_last, used_scopes=json.dumps(used)))
            report.bindings_updated += 1
    repo.append_events(conn, [repo.event_row(
        at=iso(now), run_id=None, binding_id=None, type=EventType.USAGE_INGESTED.value,
        actor=actor, details={k: v for k, v in report.as_dict().items() if k != "unknown_refs"},
    )])
