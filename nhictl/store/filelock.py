"""Scoped locks of a SQLite inventory: ``flock`` on small files next to it.

* ``<db>.lock``: the inventory lock (``LOCK_SH`` for reconcile, ``LOCK_EX`` for the rest);
* ``<db>.<scope>-<digest>.lock``: one file per source (or source shard);
* ``<db>.run-<run id>.lock``: held by a run for as long as its process lives.

(Files beside the inventory, mode 0600, like its ``-wal`` and ``.key``: no directory to
create or to permission separately.)

A file held exclusively carries its holder as JSON (pid, host, command, start time and every
scope that holder holds), so a waiter can name it; a waiter blocked by shared holders finds
them through the exclusive files that list its scope. The kernel drops a flock when its
process dies (even by SIGKILL), so a file whose content outlived its holder is simply
locked again: the stale content is replaced and reported in ``took_over``. Lock files are
never deleted while they could be waited on (deleting races with a waiter that opened it);
a run's file is removed once its run is over.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from nhictl.errors import InvalidInputError, LockedError
from nhictl.store.lock import (
    INVENTORY,
    LOCK_HINT,
    Holder,
    Scope,
    deadline_loop,
    lock_path_for,
    locked_message,
    pid_alive,
)

MAX_HOLDER_BYTES = 4096


def scope_path(db: Path, key: str) -> Path:
    if key == INVENTORY:
        return lock_path_for(db)
    safe = re.sub(r"[^A-Za-z0-9_-]+", "_", key)[:60]
    digest = hashlib.sha256(key.encode()).hexdigest()[:12]
    return db.with_name(f"{db.name}.{safe}-{digest}.lock")


def run_path(db: Path, run_id: str) -> Path:
    return db.with_name(f"{db.name}.run-" + re.sub(r"[^A-Za-z0-9_-]+", "_", run_id)[:80]
                        + ".lock")


def _scope_files(db: Path) -> list[Path]:
    """The per-scope and per-run lock files of ``db`` (not ``<db>.lock`` itself)."""
    prefix, inventory = db.name + ".", lock_path_for(db).name
    try:
        names = os.listdir(db.parent)
    except OSError:
        return []
    return [db.parent / n for n in sorted(names)
            if n.startswith(prefix) and n.endswith(".lock") and n != inventory]


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, MAX_HOLDER_BYTES, 0)
    except OSError:
        return None
    if not raw.strip():
        return None
    try:
        return Holder.from_json(json.loads(raw.decode("utf-8", "replace")))
    except ValueError:
        return None


def read_file_holder(db: Path) -> Holder | None:
    """The holder recorded in ``<db>.lock``, if any (held or stale; for tests)."""
    try:
        fd = os.open(lock_path_for(db), os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _open(path: Path, create: bool = True) -> int:
    try:
        flags = os.O_RDWR | os.O_CLOEXEC | (os.O_CREAT if create else 0)
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        if not create and exc.errno == errno.ENOENT:
            raise
        raise InvalidInputError(
            f"cannot open lock file {path}: {exc.strerror or exc}",
            hint="check the inventory directory's permissions",
        ) from None
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)
    return fd


def _try_flock(fd: int, exclusive: bool) -> bool:
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise InvalidInputError(f"cannot lock the inventory: {exc.strerror or exc}") from None
    return True


def _held_exclusively_by_other(path: Path) -> Holder | None:
    """The holder written in ``path`` when someone holds it exclusively right now."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except OSError:
        return None
    try:
        if _try_flock(fd, exclusive=False):
            return None  # free or only shared: not an exclusive holder
        return _read_holder(fd)
    finally:
        os.close(fd)


class FileLocks:
    """The flocks one command holds on a SQLite inventory."""

    def __init__(self, db: Path, holder: Holder) -> None:
        self.db = db
        self.holder = holder
        self.took_over: list[Holder] = []
        self._held: list[tuple[int, Scope]] = []
        self._runs: dict[str, int] = {}

    def acquire(self, scopes: Sequence[Scope], timeout: float,
                sleep: Callable[[float], None], monotonic: Callable[[], float]) -> None:
        deadline = monotonic() + max(0.0, timeout)
        payload = json.dumps(self.holder.as_json()).encode() + b"\n"
        for scope in scopes:
            path = scope_path(self.db, scope.key)
            fd = _open(path)
            if not deadline_loop(lambda fd=fd, s=scope: _try_flock(fd, s.exclusive),  # type: ignore[misc]
                                 deadline - monotonic(), sleep, monotonic):
                error = LockedError(locked_message(scope, self._holders_of(scope, fd), timeout)
                                    + self._inherited_note(fd), hint=LOCK_HINT)
                os.close(fd)
                raise error
            self._held.append((fd, scope))
            stale = _read_holder(fd)
            if stale is not None and stale.pid != os.getpid() and stale not in self.took_over:
                self.took_over.append(stale)  # its process is gone: it wrote this, then died
            try:
                os.ftruncate(fd, 0)
                if scope.exclusive:
                    os.pwrite(fd, payload, 0)
                    os.fsync(fd)
            except OSError as exc:
                raise InvalidInputError(
                    f"cannot write lock file {path}: {exc.strerror or exc}") from None

    def _holders_of(self, scope: Scope, fd: int) -> list[Holder]:
        own = _read_holder(fd)
        if own is not None:
            return [own]
        found: list[Holder] = []  # shared holders: found through their exclusive files
        for entry in _scope_files(self.db):
            holder = _held_exclusively_by_other(entry)
            if holder is not None and scope.key in holder.scopes and holder not in found:
                found.append(holder)
        return found

    @staticmethod
    def _inherited_note(fd: int) -> str:
        holder = _read_holder(fd)
        if holder is not None and holder.pid is not None and not pid_alive(holder.pid):
            return "; that pid is gone, so a child process may have inherited the lock"
        return ""

    def hold_run(self, run_id: str) -> None:
        fd = _open(run_path(self.db, run_id))
        if not _try_flock(fd, exclusive=True):  # a fresh id: nobody else can hold it
            os.close(fd)
            raise InvalidInputError(f"run {run_id} is already held by another process")
        self._runs[run_id] = fd

    @contextlib.contextmanager
    def run_is_dead(self, run_id: str) -> Iterator[bool]:
        if run_id in self._runs:
            yield False
            return
        path = run_path(self.db, run_id)
        try:
            fd = _open(path, create=False)
        except OSError:
            yield True  # never held (an older nhictl) or already recorded: no process has it
            return
        try:
            if not _try_flock(fd, exclusive=True):
                yield False
                return
            yield True
            with contextlib.suppress(OSError):
                path.unlink()  # recorded: its file is done with (we hold it, it is dead)
        finally:
            os.close(fd)

    def release(self) -> None:
        for run_id, fd in self._runs.items():
            with contextlib.suppress(OSError):
                run_path(self.db, run_id).unlink()  # over: its row says how it ended
            os.close(fd)
        self._runs.clear()
        for fd, scope in reversed(self._held):
            if scope.exclusive:  # a finished holder leaves no name behind
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._held.clear()
