"""Who may write to the inventory at the same time: scoped locks, on both engines.

    with hold("inventory.db", reconcile_scopes(["prod-pipes"], shard=None),
              timeout=0.0, command="nhictl reconcile -s prod-pipes") as locks:
        ...  # no other nhictl reconciles prod-pipes; nobody rewrites across sources

Two levels, the same on SQLite and PostgreSQL:

* the **inventory** lock: commands that rewrite across sources (init/migrate, check, review
  apply, revoke, sources forget, usage ingest) hold it exclusively; reconcile holds it
  shared, so several reconciles run at once;
* a **source** lock per source a reconcile writes (exclusive), and with ``--shard K/N`` the
  source lock shared plus an exclusive lock on that source's shard ``K/N``: two hosts
  reconciling different sources (or different shards of one source) both proceed, the same
  source (or shard) twice does not, and a whole-source run never overlaps a shard run.

Every holder describes itself (pid, host, command, start time) where a waiter can read it,
so a refusal names who holds the lock. A holder that dies (even by SIGKILL) releases its
locks: the kernel drops its flocks (SQLite, :mod:`nhictl.store.filelock`), the server ends
its session and with it the advisory locks (PostgreSQL, :mod:`nhictl.store.pglock`). The
next holder reports what it took over.

A run (a row in ``runs``) also holds a lock of its own for as long as its process lives:
:meth:`Locks.run_is_dead` is how the next run tells a dead run from another host's live one.

Readers never lock: SQLite's WAL and PostgreSQL's MVCC let them read during a write. The
short write transactions themselves are serialized by the database (SQLite's write lock with
its busy timeout, PostgreSQL's row locks).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

POLL_S = 0.05
INVENTORY = "inventory"


@dataclass(frozen=True)
class Scope:
    """A lock: ``key`` names what it protects; ``exclusive`` or shared."""

    key: str
    exclusive: bool = True

    @property
    def mode(self) -> str:
        return "exclusive" if self.exclusive else "shared"


def inventory_scope(exclusive: bool = True) -> Scope:
    return Scope(INVENTORY, exclusive)


def ledgers_scope() -> Scope:
    """[[ledgers]] collection: reconciles of different sources (or shards) run at once, and
    each would read the same Slack ledgers and move the same checkpoints; one at a time."""
    return Scope("ledgers", True)


def source_key(source: str) -> str:
    return f"source {source}"


def shard_key(source: str, shard: tuple[int, int]) -> str:
    return f"source {source} shard {shard[0]}/{shard[1]}"


def reconcile_scopes(sources: Sequence[str], shard: tuple[int, int] | None) -> list[Scope]:
    """The locks a reconcile of ``sources`` (optionally one shard of each) holds."""
    scopes = [inventory_scope(exclusive=False)]
    for name in sorted(set(sources)):  # one order for everyone: no lock-order deadlock
        if shard is None:
            scopes.append(Scope(source_key(name), True))
        else:
            scopes += [Scope(source_key(name), False), Scope(shard_key(name, shard), True)]
    return scopes


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as the holder recorded it."""

    pid: int | None
    command: str
    started_at: str
    host: str = ""
    scopes: tuple[str, ...] = ()

    def describe(self) -> str:
        pid = f"pid {self.pid}" if self.pid is not None else "unknown pid"
        where = f" on {self.host}" if self.host else ""
        return f"{pid}{where}, `{self.command or '?'}`, started {self.started_at or '?'}"

    def as_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "host": self.host, "command": self.command,
                "started_at": self.started_at, "scopes": list(self.scopes)}

    @classmethod
    def from_json(cls, data: Any) -> Holder | None:
        if not isinstance(data, dict):
            return None
        pid = data.get("pid")
        scopes = data.get("scopes")
        return cls(
            pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
            command=str(data.get("command") or "")[:200],
            started_at=str(data.get("started_at") or "")[:40],
            host=str(data.get("host") or "")[:100],
            scopes=tuple(str(s)[:300] for s in scopes[:50]) if isinstance(scopes, list) else (),
        )


def this_holder(command: str, scopes: Sequence[Scope]) -> Holder:
    return Holder(pid=os.getpid(), command=command[:200],
                  started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                  host=socket.gethostname()[:100], scopes=tuple(s.key for s in scopes))


@dataclass
class Locks:
    """The locks one command holds (what :func:`hold` yields)."""

    holder: Holder
    took_over: list[Holder] = field(default_factory=list)  # dead holders whose lock we took
    interrupted: list[dict[str, Any]] = field(default_factory=list)  # runs recorded as such
    backend: Any = None  # the engine-specific session (file descriptors, a PG connection)
    notify: Callable[[dict[str, Any]], None] | None = None  # told of each interrupted run

    def note_interrupted(self, runs: Sequence[dict[str, Any]]) -> None:
        for run in runs:
            self.interrupted.append(run)
            if self.notify is not None:
                self.notify(run)

    def hold_run(self, run_id: str) -> None:
        """Hold ``run_id``'s own lock until this command ends (taken before its row exists)."""
        if self.backend is not None:
            self.backend.hold_run(run_id)

    @contextlib.contextmanager
    def run_is_dead(self, run_id: str) -> Iterator[bool]:
        """True when no live process holds ``run_id``'s lock; the lock is then held by us
        until the block ends, so two runs never both record it."""
        if self.backend is None:  # a database without our locks: we are its only writer
            yield True
            return
        with self.backend.run_is_dead(run_id) as dead:
            yield dead


def deadline_loop(
    try_once: Callable[[], bool],
    timeout: float,
    sleep: Callable[[float], None],
    monotonic: Callable[[], float],
) -> bool:
    """Call ``try_once`` until it succeeds (True) or ``timeout`` seconds passed (False)."""
    deadline = monotonic() + max(0.0, timeout)
    while not try_once():
        remaining = deadline - monotonic()
        if remaining <= 0:
            return False
        sleep(min(POLL_S, remaining))
    return True


def locked_message(scope: Scope, holders: Sequence[Holder], timeout: float) -> str:
    what = "the inventory is" if scope.key == INVENTORY else f"{scope.key} is"
    if holders:
        who = holders[0].describe()
        if len(holders) > 1:
            who += f" (and {len(holders) - 1} other{'s' if len(holders) > 2 else ''})"
    else:
        who = "another process (no details recorded yet)"
    waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
    return f"{what} locked by another nhictl: {who}{waited}"


LOCK_HINT = "wait for it to finish, or pass --lock-timeout SECONDS to wait longer"


def file_location(location: str) -> Path | None:
    """The SQLite file of an inventory location (a path or a ``sqlite:///`` URL)."""
    if "://" not in location:
        return Path(location).expanduser()
    if location.startswith("sqlite:///") and "?" not in location:
        return Path(location.removeprefix("sqlite:///")).expanduser()
    return None


@contextlib.contextmanager
def hold(
    location: str | Path,
    scopes: Sequence[Scope],
    *,
    timeout: float = 0.0,
    command: str = "nhictl",
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
    connect: Callable[[], Any] | None = None,
) -> Iterator[Locks]:
    """Hold ``scopes`` (in order) for the block; wait up to ``timeout`` seconds in all, else
    LockedError (exit 4) naming a holder. ``connect`` opens the PostgreSQL lock session."""
    text = str(location)
    path = file_location(text)
    holder = this_holder(command, scopes)
    if path is not None:
        from nhictl.store.filelock import FileLocks

        backend: Any = FileLocks(path, holder)
    elif text.startswith("postgres"):  # postgresql://, postgres://, postgresql+psycopg://
        from sqlalchemy.exc import SQLAlchemyError

        from nhictl.errors import InvalidInputError
        from nhictl.store.pglock import PgLocks

        if connect is None:
            raise ValueError("a PostgreSQL lock session needs connect")
        try:
            backend = PgLocks(connect, holder)
        except SQLAlchemyError as exc:
            raise InvalidInputError("cannot open the inventory's lock session: "
                                    f"{getattr(exc, 'orig', None) or exc}") from None
    else:  # another SQLAlchemy URL: no lock of ours (the database is its own referee)
        yield Locks(holder=holder)
        return
    locks = Locks(holder=holder, backend=backend)
    try:
        backend.acquire(scopes, timeout, sleep, monotonic)
        locks.took_over = backend.took_over
        yield locks
    finally:
        backend.release()


# The single-lock interface of earlier versions (tests and tools hold the inventory with it).
def lock_path_for(db_path: Path) -> Path:
    """``<db>.lock``: the SQLite inventory's lock file."""
    return db_path.with_name(db_path.name + ".lock")


@dataclass(frozen=True)
class LockInfo:
    path: Path
    holder: Holder
    took_over: Holder | None


@contextlib.contextmanager
def write_lock(
    db_path: Path,
    timeout: float = 0.0,
    command: str = "nhictl",
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[LockInfo]:
    """Hold a SQLite inventory's lock exclusively (what every writer took before scopes)."""
    with hold(Path(db_path), [inventory_scope(True)], timeout=timeout, command=command,
              sleep=sleep, monotonic=monotonic) as locks:
        yield LockInfo(path=lock_path_for(Path(db_path)), holder=locks.holder,
                       took_over=locks.took_over[0] if locks.took_over else None)


def read_holder(db_path: Path) -> Holder | None:
    """The holder recorded for a SQLite inventory's exclusive lock, if any (tests)."""
    from nhictl.store.filelock import read_file_holder

    return read_file_holder(Path(db_path))


def pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, belongs to someone else
        return True
    except OSError:
        return False
    return True
