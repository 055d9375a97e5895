"""The inventory write lock: one writer, a clear LockedError, stale locks taken over."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from nhictl.errors import ExitCode, LockedError
from nhictl.store.lock import lock_path_for, read_holder, write_lock

HOLD_SCRIPT = """
import sys
from pathlib import Path
from nhictl.store.lock import write_lock
with write_lock(Path(sys.argv[1]), 0.0, "nhictl reconcile --source file:x.json"):
    print("locked", flush=True)
    sys.stdin.readline()
"""


def _acquire(db: Path) -> None:
    with write_lock(db, 0.0, "me"):
        pass


class FakeTime:
    """A monotonic clock that only moves when ``sleep`` is called."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def test_lock_file_is_private_and_records_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    with write_lock(db, 0.0, "nhictl reconcile") as info:
        path = lock_path_for(db)
        assert info.path == path
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        holder = read_holder(db)
        assert holder is not None
        assert holder.pid == os.getpid()
        assert holder.command == "nhictl reconcile"
        assert holder.started_at.endswith("Z")
        assert info.took_over is None
    # released: the file stays (never unlinked) but names nobody
    assert path.exists()
    assert read_holder(db) is None


def test_second_writer_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    fake = FakeTime()
    with (
        write_lock(db, 0.0, "nhictl review apply r.csv"),
        pytest.raises(LockedError) as err,
        write_lock(db, 0.0, "nhictl reconcile", sleep=fake.sleep, monotonic=fake.monotonic),
    ):
        pytest.fail("acquired a held lock")
    assert fake.sleeps == []
    assert err.value.exit_code == ExitCode.PARTIAL == 4
    message = err.value.message
    assert f"pid {os.getpid()}" in message
    assert "nhictl review apply r.csv" in message
    assert "started 20" in message
    assert err.value.hint and "--lock-timeout" in err.value.hint


def test_waits_up_to_the_timeout_then_fails(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    fake = FakeTime()
    with (
        write_lock(db, 0.0, "holder"),
        pytest.raises(LockedError, match=r"waited 2 s"),
        write_lock(db, 2.0, "waiter", sleep=fake.sleep, monotonic=fake.monotonic),
    ):
        pytest.fail("acquired a held lock")
    assert sum(fake.sleeps) == pytest.approx(2.0)
    assert all(0 < s <= 0.05 + 1e-9 for s in fake.sleeps)


def test_waiter_gets_the_lock_when_the_holder_releases(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    fake = FakeTime()
    holder = write_lock(db, 0.0, "holder")
    holder.__enter__()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 3:
            holder.__exit__(None, None, None)

    with write_lock(db, 10.0, "waiter", sleep=sleep, monotonic=fake.monotonic) as info:
        assert info.took_over is None  # released cleanly: nothing stale
        got = read_holder(db)
        assert got is not None and got.command == "waiter"
    assert len(fake.sleeps) == 3


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_stale_lock_file_from_a_dead_process_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    dead = _dead_pid()
    stale = {"pid": dead, "command": "nhictl reconcile", "started_at": "2026-01-01T00:00:00Z"}
    lock_path_for(db).write_text(json.dumps(stale))
    with write_lock(db, 0.0, "nhictl reconcile") as info:
        assert info.took_over is not None
        assert info.took_over.pid == dead
        assert info.took_over.started_at == "2026-01-01T00:00:00Z"
        holder = read_holder(db)
        assert holder is not None and holder.pid == os.getpid()


def test_garbage_lock_file_is_taken_over(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    lock_path_for(db).write_bytes(b"\x00\xffnot json")
    with write_lock(db, 0.0, "x") as info:
        assert info.took_over is None
        assert read_holder(db) is not None


def test_lock_of_a_killed_process_is_released_by_the_kernel(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, str(db)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "locked"
        holder = rf"pid {proc.pid} on [^,]+, `nhictl reconcile --source"
        with pytest.raises(LockedError, match=holder):
            _acquire(db)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with write_lock(db, 0.0, "me") as info:
        assert info.took_over is not None and info.took_over.pid == proc.pid


def test_unwritable_directory_is_a_clear_input_error(tmp_path: Path) -> None:
    from nhictl.errors import InvalidInputError

    with pytest.raises(InvalidInputError, match="cannot open lock file"):
        _acquire(tmp_path / "missing-dir" / "inv.db")
