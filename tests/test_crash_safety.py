"""Crash safety: ``nhictl reconcile`` killed with SIGKILL at several points.

Afterwards the database passes ``PRAGMA integrity_check``, the killed run is recorded as
``interrupted`` once the next run starts, no binding is lost, duplicated or half-written, no
prior event is changed, and the next run completes normally.

Kill points are chosen by polling observable state with a deadline (the run table, the
sandbox's request count, the WAL file's size), never by sleeping for "long enough", or by
stopping the process at a named point (``NHICTL_TEST_PAUSE``). The last tests run on both
engines (SQLite and a real PostgreSQL server).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.dataset import generate
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.engine_stores import (
    ENGINES,
    Store,
    assert_consistent,
    export,
    kill,
    paused,
    pg_fixture,
    runs,
    store_for,
)

DEADLINE_S = 20.0
SMALL = 200
BIG = 5000


def _write_private(path: Path, text: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _env(tmp_path: Path, db: Path, api_url: str | None = None) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NHICTL_")}
    env.update(NHICTL_DB=str(db), NHICTL_CONFIG=str(tmp_path / "nhictl.toml"), NO_COLOR="1")
    if api_url:
        env["NHICTL_SLACK_API_URL"] = api_url
    return env


def _nhictl(env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[bytes]:
    return subprocess.Popen([sys.executable, "-m", "nhictl", *args], env=env, cwd=cwd,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _run_ok(env: dict[str, str], cwd: Path, *args: str) -> int:
    proc = _nhictl(env, cwd, *args)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode in (0, 4), err.decode()
    return proc.returncode


def _poll(condition: Callable[[], bool], proc: subprocess.Popen[bytes]) -> bool:
    """True once ``condition`` holds; False if the process ended first."""
    deadline = time.monotonic() + DEADLINE_S
    while time.monotonic() < deadline:
        if condition():
            return True
        if proc.poll() is not None:
            return condition()
        time.sleep(0.005)
    raise AssertionError("condition not reached before the deadline")


def _kill(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)


def _query(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(db, timeout=10)
    try:
        return conn.execute(sql, params).fetchall()
    finally:
        conn.close()


def _running(db: Path) -> list[tuple[Any, ...]]:
    try:
        return _query(db, "SELECT id, command FROM runs WHERE outcome = 'running'")
    except sqlite3.OperationalError:
        return []


def _snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    return {
        "bindings": _query(db, "SELECT * FROM bindings ORDER BY id"),
        "events": _query(db, "SELECT * FROM events ORDER BY seq"),
    }


def _assert_consistent(db: Path) -> None:
    assert _query(db, "PRAGMA integrity_check") == [("ok",)]
    assert _query(db, "PRAGMA foreign_key_check") == []
    (total, distinct), = _query(
        db, "SELECT count(*), count(DISTINCT source || char(0) || connection_id) FROM bindings")
    assert total == distinct, "a binding was duplicated"
    orphans = _query(db, "SELECT count(*) FROM events e WHERE e.binding_id IS NOT NULL AND "
                         "NOT EXISTS (SELECT 1 FROM bindings b WHERE b.id = e.binding_id)")
    assert orphans == [(0,)], "an event points at a binding that was not written"


@pytest.fixture
def small(tmp_path: Path) -> Iterator[tuple[Path, Path, dict[str, Any]]]:
    data = generate(SMALL)
    scenario = data.scenario
    scenario["faults"] = []
    scenario["latency_ms"] = 40
    for team in scenario["teams"]:
        team["rate_limits"] = {"auth.test": 60000, "users.info": 60000}
    export = tmp_path / "small.json"
    _write_private(export, json.dumps(data.export()))
    _write_private(tmp_path / "nhictl.toml",
                   '[slack]\nrate_limits = { "auth.test" = 60000, "users.info" = 60000 }\n')
    db = tmp_path / "inv.db"
    yield db, export, scenario


def test_kill_during_collect_and_validation(
    tmp_path: Path, small: tuple[Path, Path, dict[str, Any]]
) -> None:
    db, export, scenario = small
    with SlackSandbox(World.from_dict(scenario)) as slack:
        env = _env(tmp_path, db, slack.url)
        _run_ok(env, tmp_path, "init")
        assert _run_ok(env, tmp_path, "reconcile", "-s", f"file:{export}", "--no-validate") == 0
        before = _snapshot(db)
        assert len(before["bindings"]) == SMALL and before["events"]

        reconcile = ("reconcile", "-s", f"file:{export}", "--concurrency", "8")
        begun = 0
        # at start-up / collect, early in validation, late in validation
        for calls in (None, 10, SMALL // 2):
            base = slack.count("auth.test")
            proc = _nhictl(env, tmp_path, *reconcile)
            try:
                if calls is not None:
                    threshold = base + calls
                    reached = _poll(lambda t=threshold: slack.count("auth.test") >= t, proc)
                    assert reached and proc.poll() is None, "the run ended before the kill point"
            finally:
                _kill(proc)
            assert proc.returncode == -signal.SIGKILL
            _assert_consistent(db)
            assert _snapshot(db) == before, "a killed run changed the inventory"
            running = _running(db)
            assert len(running) <= 1
            begun += len(running)
        assert begun >= 2  # the two kills during validation had recorded their run

        assert _run_ok(env, tmp_path, *reconcile) == 0
    _assert_consistent(db)
    assert _running(db) == []
    outcomes = dict(_query(db, "SELECT outcome, count(*) FROM runs GROUP BY outcome"))
    assert outcomes.get("interrupted") == begun
    assert outcomes.get("ok") == 2
    after = _snapshot(db)
    assert after["events"][: len(before["events"])] == before["events"], "an event changed"
    assert len(after["bindings"]) == SMALL
    statuses = dict(_query(db, "SELECT status, count(*) FROM bindings GROUP BY status"))
    assert "unvalidated" not in statuses and statuses.get("active", 0) > SMALL // 2


def test_kill_during_the_write_phase(
    tmp_path: Path, small: tuple[Path, Path, dict[str, Any]]
) -> None:
    db, export, _ = small
    big = tmp_path / "big.json"
    _write_private(big, json.dumps(generate(BIG, seed=11).export(with_tokens=False)))
    wal = Path(str(db) + "-wal")
    env = _env(tmp_path, db)
    _run_ok(env, tmp_path, "init")
    _run_ok(env, tmp_path, "reconcile", "-s", f"file:{export}", "--no-validate")
    before = _snapshot(db)
    big_cmd = ("reconcile", "-s", f"file:{big}", "--no-validate")

    def big_count() -> int:
        return int(_query(db, "SELECT count(*) FROM bindings WHERE source_spec LIKE ?",
                          f"%{big.name}")[0][0])

    killed_mid_write = 0
    # right after the run is recorded (merging), then once the transaction spills to the WAL
    for wal_growth in (None, 256 * 1024, 1024 * 1024):
        proc = _nhictl(env, tmp_path, *big_cmd)
        try:
            assert _poll(lambda: bool(_running(db)), proc)
            if wal_growth is not None:
                start = wal.stat().st_size if wal.exists() else 0
                _poll(lambda s=start, g=wal_growth: wal.exists() and wal.stat().st_size >= s + g,
                      proc)
        finally:
            _kill(proc)
        _assert_consistent(db)
        written = big_count()
        assert written in (0, BIG), f"half a run was written ({written} of {BIG})"
        if _running(db):
            killed_mid_write += 1
            assert written == 0
            assert _snapshot(db) == before
        else:  # the kill came after the commit: the whole run is there, nothing else changed
            assert written == BIG
            now = _snapshot(db)
            assert now["events"][: len(before["events"])] == before["events"]
            before = now
    assert killed_mid_write >= 1

    assert _run_ok(env, tmp_path, *big_cmd) == 0
    _assert_consistent(db)
    assert _running(db) == []
    assert big_count() == BIG
    after = _snapshot(db)
    assert after["events"][: len(before["events"])] == before["events"]
    small_rows = [r for r in after["bindings"] if r in before["bindings"]]
    assert len(small_rows) >= SMALL  # the earlier source's bindings were not touched
    interrupted = _query(db, "SELECT count(*) FROM runs WHERE outcome = 'interrupted'")[0][0]
    assert interrupted == killed_mid_write


pg = pg_fixture()
NOW = "2026-11-29T12:00:00Z"


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    for s in store_for(request, tmp_path):
        s.env["NHICTL_NOW"] = NOW
        code, _, err = s.run("init")
        assert code == 0, err
        yield s


def _store_snapshot(store: Store) -> dict[str, list[tuple[Any, ...]]]:
    return {"bindings": store.sql("SELECT * FROM bindings ORDER BY id"),
            "events": store.sql("SELECT * FROM events ORDER BY seq")}


@pytest.mark.parametrize("point", ["before-write", "write"])
def test_a_run_killed_mid_write_leaves_nothing_half_written_and_is_recorded(
    store: Store, point: str
) -> None:
    small, big = export(store.tmp, "small.json", 50), export(store.tmp, "big.json", 3000)
    assert store.run("reconcile", "-s", small, "--no-validate")[0] == 0
    before = _store_snapshot(store)
    killed = paused(store, point, "reconcile", "-s", big, "--no-validate")
    (run_id,), = store.sql("SELECT id FROM runs WHERE outcome = 'running'")
    kill(killed)  # validated / 3000 bindings and their events written, not committed
    assert_consistent(store)
    assert _store_snapshot(store) == before, "a killed run changed the inventory"
    assert runs(store)[run_id] == "running"  # until the next run looks

    code, _, err = store.run("reconcile", "-s", big, "--no-validate")
    assert code == 0, err
    assert (f"recorded run {run_id} as interrupted (pid {killed.pid} on "
            f"{socket.gethostname()}, `nhictl reconcile -s {big}") in err
    outcomes = runs(store)
    assert outcomes[run_id] == "interrupted" and sorted(outcomes.values()) == [
        "interrupted", "ok", "ok"]
    (detail, host), = store.sql("SELECT detail, host FROM runs WHERE id = :r", r=run_id)
    assert detail and host == socket.gethostname()
    after = _store_snapshot(store)
    assert after["events"][: len(before["events"])] == before["events"]
    assert len(after["bindings"]) == 3050
    assert_consistent(store)


