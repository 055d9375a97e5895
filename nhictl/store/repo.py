"""Repository functions over the inventory (SQLAlchemy Core; portable SQL only)."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import uuid
from collections.abc import Iterable, Iterator, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Connection, Table, func, or_, select

from nhictl.clock import iso
from nhictl.errors import UsageError
from nhictl.store.engine import Inventory
from nhictl.store.ordering import sorted_like_sqlite
from nhictl.store.seen import SeenOverlay
from nhictl.store.tables import BINDINGS, EVENTS, RUNS

# json.dumps(..., sort_keys=True) without building an encoder per call (same text).
_dumps_sorted = json.JSONEncoder(sort_keys=True).encode
JSON_LIST_COLUMNS = ("purpose", "declared_scopes", "granted_scopes", "approved_scopes",
                     "missing_scopes", "used_scopes")


def new_run_id(now: datetime) -> str:
    return "r-" + now.strftime("%Y%m%dT%H%M%SZ") + "-" + uuid.uuid4().hex[:6]


def actor_name(explicit: str | None = None) -> str:
    if explicit:
        return explicit
    for var in ("NHICTL_ACTOR", "USER", "LOGNAME"):
        if os.environ.get(var):
            return os.environ[var]
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError):
        return "unknown"


def mark_interrupted(inv: Inventory, now: datetime) -> list[dict[str, Any]]:
    """Record as ``interrupted`` the runs still marked running whose process is gone; the
    runs recorded (id, pid, host, command, started_at).

    With the command's locks (``inv.locks``, set by the CLI) a run is gone when its own run
    lock is free (another host's live run holds its lock and is left alone); the run's lock
    is held while it is recorded, so two runs never both record it. Without locks the caller
    is the only writer, and every running run is gone.
    """
    locks = inv.locks
    with inv.engine.connect() as conn:
        running = [dict(r._mapping) for r in conn.execute(
            select(RUNS.c.id, RUNS.c.pid, RUNS.c.host, RUNS.c.command, RUNS.c.started_at)
            .where(RUNS.c.outcome == "running").order_by(RUNS.c.started_at))]
    recorded: list[dict[str, Any]] = []
    for run in running:
        with contextlib.ExitStack() as stack:
            if locks is not None and not stack.enter_context(locks.run_is_dead(run["id"])):
                continue  # its process still holds it: a live run (here or on another host)
            with inv.engine.begin() as conn:
                result = conn.execute(
                    RUNS.update()
                    .where(RUNS.c.id == run["id"], RUNS.c.outcome == "running")
                    .values(outcome="interrupted", ended_at=iso(now),
                            detail="process ended before the run")
                )
            if result.rowcount:
                recorded.append(run)
    return recorded


def write_transaction(inv: Inventory) -> contextlib.AbstractContextManager[Connection]:
    """A transaction that reads, then writes, while other writers may be at work (reconcile
    of another source): on SQLite it takes the write lock at BEGIN (IMMEDIATE), since a
    read snapshot cannot be upgraded once another writer committed after it began."""
    return inv.engine.execution_options(nhictl_write=True).begin()


def this_host() -> str:
    return socket.gethostname()[:100]


def begin_run(inv: Inventory, kind: str, *, now: datetime, actor: str, command: str) -> str:
    """Record a new run (``running``) after recording the interrupted ones; with locks the
    run holds its own lock from before its row exists until the command ends."""
    run_id = new_run_id(now)
    if inv.locks is not None:
        inv.locks.hold_run(run_id)
    interrupted = mark_interrupted(inv, now)
    if inv.locks is not None:
        inv.locks.note_interrupted(interrupted)
    with inv.engine.begin() as conn:
        conn.execute(
            RUNS.insert().values(
                id=run_id,
                kind=kind,
                command=command,
                actor=actor,
                pid=os.getpid(),
                host=this_host(),
                started_at=iso(now),
                outcome="running",
                counts="{}",
            )
        )
    return run_id


def finish_run(
    conn: Connection,
    run_id: str,
    *,
    now: datetime,
    outcome: str,
    counts: dict[str, Any],
    detail: str | None = None,
) -> None:
    conn.execute(
        RUNS.update()
        .where(RUNS.c.id == run_id)
        .values(ended_at=iso(now), outcome=outcome, counts=json.dumps(counts), detail=detail)
    )


def event_row(
    *,
    at: str,
    run_id: str | None,
    binding_id: str | None,
    type: str,
    actor: str,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "at": at,
        "run_id": run_id,
        "binding_id": binding_id,
        "type": type,
        "actor": actor,
        "details": _dumps_sorted(details or {}),
    }


EVENT_KEYS: tuple[str, ...] = ("at", "run_id", "binding_id", "type", "actor", "details")


def append_events(
    conn: Connection, rows: Sequence[dict[str, Any]] | Sequence[tuple[Any, ...]]
) -> None:
    """Append events: ``event_row`` dicts, or value tuples in ``EVENT_KEYS`` order."""
    if not rows:
        return
    if isinstance(rows[0], dict):
        dicts: Sequence[dict[str, Any]] = rows  # type: ignore[assignment]
        keys = list(dicts[0])
        insert_tuples(conn, EVENTS, keys, [tuple(r[k] for k in keys) for r in dicts])
    else:
        insert_tuples(conn, EVENTS, EVENT_KEYS, rows)  # type: ignore[arg-type]


def insert_tuples(
    conn: Connection, table: Table, keys: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """Insert rows given as value tuples (in ``keys`` order) with one driver executemany.

    The statement is compiled once for the connection's dialect and the values go to the
    driver as they are (no per-row parameter processing, which dominates 100,000 rows), so
    they must already be driver types (str, int, bool, None).
    """
    if not rows:
        return
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=list(keys))
    order = compiled.positiontup
    params: list[Any]
    if order is not None and list(order) == list(keys):
        params = list(rows)
    elif order is not None:
        at = [list(keys).index(k) for k in order]
        params = [tuple(r[i] for i in at) for r in rows]
    else:
        params = [dict(zip(keys, r, strict=True)) for r in rows]
    conn.exec_driver_sql(str(compiled), params)


# Scope and purpose lists repeat across bindings (a few distinct lists for 100,000 rows):
# each distinct JSON text is decoded once and every row gets its own copy of the list.
_LISTS: dict[str, list[Any]] = {}
_LISTS_MAX = 4096  # distinct texts kept; then the memo starts over (memory stays bounded)


def _decoded_list(text: str) -> Any:
    found = _LISTS.get(text)
    if found is None:
        value = json.loads(text)
        if not isinstance(value, list):
            return value
        if len(_LISTS) >= _LISTS_MAX:
            _LISTS.clear()
        _LISTS[text] = found = value
    return found.copy()  # a caller may change its row's list: never the memo's


def decode_binding(row: Any, seen: SeenOverlay) -> dict[str, Any]:
    """A bindings row as a dict with JSON columns decoded, and when it was last seen
    (``seen``: its source's complete reads, ``SeenOverlay.load``)."""
    return _decoded(dict(row._mapping), seen)


def _decoded(data: dict[str, Any], seen: SeenOverlay) -> dict[str, Any]:
    data = seen.apply(data)
    for col in JSON_LIST_COLUMNS:
        value = data.get(col)
        data[col] = _decoded_list(value) if value is not None else None
    metadata = data.pop("metadata_json", None)
    data["metadata"] = json.loads(metadata) if metadata and metadata != "{}" else {}
    return data


MAX_REF_CHARS = 512  # an id, name or filter typed on the command line


def resolve_binding_id(conn: Connection, prefix: str) -> str:
    """A unique binding id from a full id or a unique prefix; errors list the candidates."""
    text = prefix.strip()
    if not text:
        raise UsageError("empty binding id")
    if len(text) > MAX_REF_CHARS:  # SQLite refuses LIKE patterns over 50,000 bytes
        raise UsageError(f"a binding id of {len(text)} characters is not one; ids look like "
                         "b-0123456789", hint="see `nhictl inventory list`")
    if not text.startswith("b-"):
        text = "b-" + text
    escaped = text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows = conn.execute(
        select(BINDINGS.c.id).where(BINDINGS.c.id.like(escaped + "%", escape="\\")).limit(11)
    ).all()
    ids = [r[0] for r in rows]
    if text in ids:
        return text
    if not ids:
        raise UsageError(f"no binding matches {prefix!r}", hint="see `nhictl inventory list`")
    if len(ids) > 1:
        shown = ", ".join(ids[:10]) + (", ..." if len(ids) > 10 else "")
        raise UsageError(f"binding id prefix {prefix!r} is ambiguous: {shown}")
    return str(ids[0])


def iter_bindings(
    conn: Connection,
    *,
    status: Iterable[str] = (),
    tenant: str | None = None,
    workspace: str | None = None,
    owner: str | None = None,
    scope: str | None = None,
    source: str | None = None,
    batch: int = 5000,
) -> Iterator[dict[str, Any]]:
    for name, value in (("tenant", tenant), ("workspace", workspace), ("owner", owner),
                        ("scope", scope), ("source", source)):
        if value is not None and len(value) > MAX_REF_CHARS:
            raise UsageError(f"--{name}: longer than {MAX_REF_CHARS} characters")
    query = select(BINDINGS)
    statuses = list(status)
    if statuses:
        query = query.where(BINDINGS.c.status.in_(statuses))
    if tenant:
        query = query.where(BINDINGS.c.tenant == tenant)
    if source:
        query = query.where(BINDINGS.c.source == source)
    if workspace:
        query = query.where(
            or_(
                BINDINGS.c.workspace_id == workspace,
                func.lower(BINDINGS.c.workspace_name) == workspace.lower(),
            )
        )
    if owner:
        query = query.where(
            or_(
                BINDINGS.c.owner_id == owner,
                func.lower(BINDINGS.c.owner_email) == owner.lower(),
                BINDINGS.c.slack_user_id == owner,
            )
        )
    if scope:
        # JSON text lists: match the quoted scope name; exact check happens below.
        pattern = '%"' + scope.replace("%", "").replace("_", "\\_") + '"%'
        query = query.where(
            or_(
                BINDINGS.c.granted_scopes.like(pattern, escape="\\"),
                BINDINGS.c.declared_scopes.like(pattern, escape="\\"),
            )
        )
    query = query.order_by(*sorted_like_sqlite(BINDINGS.c.tenant, BINDINGS.c.owner_email,
                                               BINDINGS.c.id))
    # Per statement: Connection.execution_options would make every later statement on this
    # connection stream too (on PostgreSQL a server-side cursor, which an INSERT cannot be).
    seen = SeenOverlay.load(conn, source)
    result = conn.execute(query, execution_options={"stream_results": True, "yield_per": batch})
    keys = list(result.keys())
    for row in result:
        data = _decoded(dict(zip(keys, row, strict=True)), seen)  # (faster than row._mapping)
        if scope and scope not in (data["granted_scopes"] or data["declared_scopes"] or []):
            continue
        yield data


def get_binding(conn: Connection, binding_id: str) -> dict[str, Any] | None:
    row = conn.execute(select(BINDINGS).where(BINDINGS.c.id == binding_id)).first()
    return decode_binding(row, SeenOverlay.load(conn, row.source)) if row is not None else None


def iter_events(
    conn: Connection,
    *,
    binding_id: str | None = None,
    since: str | None = None,
    types: Iterable[str] = (),
    limit: int | None = None,
) -> Iterator[dict[str, Any]]:
    query = select(EVENTS)
    if binding_id:
        query = query.where(EVENTS.c.binding_id == binding_id)
    if since:
        query = query.where(EVENTS.c.at >= since)
    wanted = list(types)
    if wanted:
        query = query.where(EVENTS.c.type.in_(wanted))
    query = query.order_by(EVENTS.c.seq)
    if limit:
        query = query.limit(limit)
    for row in conn.execute(query):
        data = dict(row._mapping)
        data["details"] = json.loads(data["details"] or "{}")
        yield data


def latest_runs(conn: Connection, kind: str | None = None, limit: int = 10) -> list[dict[str, Any]]:
    query = select(RUNS)
    if kind:
        query = query.where(RUNS.c.kind == kind)
    rows = conn.execute(query.order_by(RUNS.c.started_at.desc()).limit(limit)).all()
    out = []
    for row in rows:
        data = dict(row._mapping)
        data["counts"] = json.loads(data["counts"] or "{}")
        out.append(data)
    return out


def status_counts(conn: Connection) -> dict[str, int]:
    rows = conn.execute(select(BINDINGS.c.status, func.count()).group_by(BINDINGS.c.status))
    return {str(s): int(n) for s, n in rows}
