"""One writer at a time: an advisory lock file next to the inventory.

    with write_lock(Path("inventory.db"), timeout=0.0, command="nhictl reconcile"):
        ...  # the only nhictl process changing this inventory

The lock is ``<db>.lock`` (mode 0600) held with ``fcntl.flock``; it holds the holder's pid,
command and start time as JSON so a second writer can say who it waited for. The kernel drops
a flock when its process dies (even by SIGKILL), so a lock file left by a dead process is
simply taken over: its stale content is replaced and reported in :attr:`LockInfo.took_over`.
The file itself is never deleted (deleting a lock file races with a waiter that opened it).

Readers never take the lock: SQLite in WAL mode lets them read during a write.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nhictl.errors import InvalidInputError, LockedError

POLL_S = 0.05
MAX_HOLDER_BYTES = 4096


@dataclass(frozen=True)
class Holder:
    """Who holds (or held) a lock, as written in the lock file."""

    pid: int | None
    command: str
    started_at: str

    def describe(self) -> str:
        pid = f"pid {self.pid}" if self.pid is not None else "unknown pid"
        return f"{pid}, `{self.command or '?'}`, started {self.started_at or '?'}"


@dataclass(frozen=True)
class LockInfo:
    path: Path
    holder: Holder
    took_over: Holder | None  # a stale holder (dead process) whose lock file was reused


def lock_path_for(db_path: Path) -> Path:
    return db_path.with_name(db_path.name + ".lock")


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


def _read_holder(fd: int) -> Holder | None:
    try:
        raw = os.pread(fd, MAX_HOLDER_BYTES, 0)
    except OSError:
        return None
    if not raw.strip():
        return None
    try:
        data: Any = json.loads(raw.decode("utf-8", "replace"))
    except ValueError:
        return None
    if not isinstance(data, dict):
        return None
    pid = data.get("pid")
    return Holder(
        pid=pid if isinstance(pid, int) and not isinstance(pid, bool) else None,
        command=str(data.get("command") or "")[:200],
        started_at=str(data.get("started_at") or "")[:40],
    )


def read_holder(db_path: Path) -> Holder | None:
    """The holder recorded in the lock file, if any (held or stale; for messages and tests)."""
    try:
        fd = os.open(lock_path_for(db_path), os.O_RDONLY)
    except OSError:
        return None
    try:
        return _read_holder(fd)
    finally:
        os.close(fd)


def _open_lock_file(path: Path) -> int:
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot open lock file {path}: {exc.strerror or exc}",
            hint="check the inventory directory's permissions",
        ) from None
    with contextlib.suppress(OSError):
        os.fchmod(fd, 0o600)
    return fd


def _try_flock(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise InvalidInputError(f"cannot lock the inventory: {exc.strerror or exc}") from None
    return True


def _locked_error(path: Path, fd: int, timeout: float) -> LockedError:
    holder = _read_holder(fd)
    who = holder.describe() if holder else "another process (no details recorded yet)"
    waited = f" (waited {timeout:g} s)" if timeout > 0 else ""
    stale = ""
    if holder is not None and holder.pid is not None and not pid_alive(holder.pid):
        stale = "; that pid is gone, so a child process may have inherited the lock"
    return LockedError(
        f"the inventory is locked by another nhictl: {who}{waited}{stale}",
        hint="wait for it to finish, or pass --lock-timeout SECONDS to wait longer",
    )


@contextlib.contextmanager
def write_lock(
    db_path: Path,
    timeout: float = 0.0,
    command: str = "nhictl",
    *,
    sleep: Callable[[float], None] = time.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> Iterator[LockInfo]:
    """Hold the inventory's write lock; wait up to ``timeout`` seconds, else LockedError."""
    path = lock_path_for(Path(db_path))
    fd = _open_lock_file(path)
    try:
        deadline = monotonic() + max(0.0, timeout)
        while not _try_flock(fd):
            remaining = deadline - monotonic()
            if remaining <= 0:
                raise _locked_error(path, fd, timeout)
            sleep(min(POLL_S, remaining))
        previous = _read_holder(fd)
        took_over = previous if previous is not None and previous.pid != os.getpid() else None
        holder = Holder(
            pid=os.getpid(),
            command=command[:200],
            started_at=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        )
        payload = json.dumps(
            {"pid": holder.pid, "command": holder.command, "started_at": holder.started_at}
        ).encode()
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, payload + b"\n", 0)
            os.fsync(fd)
        except OSError as exc:
            raise InvalidInputError(
                f"cannot write lock file {path}: {exc.strerror or exc}"
            ) from None
        try:
            yield LockInfo(path=path, holder=holder, took_over=took_over)
        finally:
            # Empty the file before unlocking, so a finished run leaves no holder behind.
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
