"""Scoped locks of a PostgreSQL inventory: advisory locks on one dedicated session.

Each lock is ``pg_advisory_lock(namespace, hash of its scope)`` (``_shared`` for shared
holders) taken on a connection of its own, in autocommit, held for the command's duration:
when the process dies, even by SIGKILL, the server ends the session and the locks with it.

Waiters must be able to name the holder, on another machine: each holder writes a row per
scope into ``lock_holders`` (migration 3) with its pid, host, command, start time and the
server pid of its lock session. A row is live exactly while that server pid holds the
advisory lock (``pg_locks``, visible to every role), so rows a killed holder left behind are
recognised without guessing and removed by the next holder, which reports them. (A table,
not ``application_name``: that is cut at 63 bytes and hidden from other roles.)
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import uuid
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from sqlalchemy import text

from nhictl.errors import InvalidInputError, LockedError
from nhictl.store.lock import LOCK_HINT, Holder, Scope, deadline_loop, locked_message

# Advisory lock namespaces (the first key of the two-int form): 'nhic' and the next value.
SCOPE_NS = 0x6E686963
RUN_NS = SCOPE_NS + 1

_HOLDERS_OF = """
SELECT h.pid, h.host, h.command, h.started_at, h.scopes FROM lock_holders h
WHERE h.scope = :scope AND h.backend_pid IN ({live}) ORDER BY h.started_at
"""
_LIVE = """
SELECT l.pid FROM pg_locks l
WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 2
  AND l.classid = CAST(:ns AS oid) AND l.objid = CAST(:key AS oid)
  AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
"""
_STALE = """
DELETE FROM lock_holders WHERE scope = :scope AND backend_pid NOT IN ({live})
RETURNING mode, pid, host, command, started_at, scopes
"""


def session_factory(location: str, password: str | None) -> Callable[[], Any]:
    """Opens the lock session: a connection of an engine of its own (disposed at release,
    which ends the session and with it every advisory lock), in autocommit."""

    from nhictl.store.engine import _engine_for

    engine, _ = _engine_for(location, password)  # refuses a missing psycopg at once

    def connect() -> Any:
        return engine.connect().execution_options(isolation_level="AUTOCOMMIT")

    return connect


def lock_key(value: str) -> int:
    """A non-negative int4 from a scope or run id (an oid in ``pg_locks`` as it is)."""
    return int.from_bytes(hashlib.sha256(value.encode()).digest()[:4], "big") & 0x7FFFFFFF


def _holder(row: Any) -> Holder:
    try:
        scopes = json.loads(row.scopes or "[]")
    except ValueError:
        scopes = []
    return Holder.from_json({"pid": row.pid, "host": row.host, "command": row.command,
                             "started_at": row.started_at, "scopes": scopes}) or Holder(
        pid=None, command="", started_at="")


class PgLocks:
    """The advisory locks one command holds on a PostgreSQL inventory."""

    def __init__(self, connect: Callable[[], Any], holder: Holder) -> None:
        self.holder = holder
        self.took_over: list[Holder] = []
        self._conn = connect()
        self._id = uuid.uuid4().hex
        self._runs: set[str] = set()
        self._table = bool(self._conn.execute(
            text("SELECT to_regclass('lock_holders') IS NOT NULL")).scalar())
        self._backend_pid = int(self._conn.execute(text("SELECT pg_backend_pid()")).scalar())

    def _try(self, scope: Scope) -> bool:
        fn = "pg_try_advisory_lock" if scope.exclusive else "pg_try_advisory_lock_shared"
        return bool(self._conn.execute(text(f"SELECT {fn}(:ns, :key)"),
                                       {"ns": SCOPE_NS, "key": lock_key(scope.key)}).scalar())

    def acquire(self, scopes: Sequence[Scope], timeout: float,
                sleep: Callable[[float], None], monotonic: Callable[[], float]) -> None:
        deadline = monotonic() + max(0.0, timeout)
        for scope in scopes:
            if not deadline_loop(lambda s=scope: self._try(s),  # type: ignore[misc]
                                 deadline - monotonic(), sleep, monotonic):
                raise LockedError(locked_message(scope, self._holders_of(scope), timeout),
                                  hint=LOCK_HINT)
            if self._table:
                self._record(scope)

    def _params(self, scope: Scope) -> dict[str, Any]:
        return {"scope": scope.key, "ns": SCOPE_NS, "key": lock_key(scope.key)}

    def _holders_of(self, scope: Scope) -> list[Holder]:
        if not self._table:
            return []
        rows = self._conn.execute(text(_HOLDERS_OF.format(live=_LIVE)), self._params(scope))
        return [_holder(r) for r in rows]

    def _record(self, scope: Scope) -> None:
        # One statement: a holder that locked after it began is not visible to it yet.
        for row in self._conn.execute(text(_STALE.format(live=_LIVE)), self._params(scope)):
            stale = _holder(row)
            if row.mode == "exclusive" and stale not in self.took_over:
                self.took_over.append(stale)
        h = self.holder
        self._conn.execute(text(
            "INSERT INTO lock_holders (scope, holder, mode, backend_pid, pid, host, command, "
            "started_at, scopes) VALUES (:scope, :holder, :mode, :backend_pid, :pid, :host, "
            ":command, :started_at, :scopes)"), {
            "scope": scope.key, "holder": self._id, "mode": scope.mode,
            "backend_pid": self._backend_pid, "pid": h.pid, "host": h.host,
            "command": h.command, "started_at": h.started_at,
            "scopes": json.dumps(list(h.scopes))})

    def hold_run(self, run_id: str) -> None:
        got = self._conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"),
                                 {"ns": RUN_NS, "key": lock_key(run_id)}).scalar()
        if not got:
            raise InvalidInputError(f"run {run_id} is already held by another process")
        self._runs.add(run_id)

    @contextlib.contextmanager
    def run_is_dead(self, run_id: str) -> Iterator[bool]:
        if run_id in self._runs:  # advisory locks are re-entrant within one session
            yield False
            return
        params = {"ns": RUN_NS, "key": lock_key(run_id)}
        if not self._conn.execute(text("SELECT pg_try_advisory_lock(:ns, :key)"),
                                  params).scalar():
            yield False
            return
        try:
            yield True
        finally:
            self._conn.execute(text("SELECT pg_advisory_unlock(:ns, :key)"), params)

    def release(self) -> None:
        try:
            if self._table:
                with contextlib.suppress(Exception):
                    self._conn.execute(text("DELETE FROM lock_holders WHERE holder = :h"),
                                       {"h": self._id})
            with contextlib.suppress(Exception):
                self._conn.execute(text("SELECT pg_advisory_unlock_all()"))
        finally:
            self._conn.close()
            self._conn.engine.dispose()
