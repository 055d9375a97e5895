"""Scoped locks on both engines (flocks on SQLite, advisory locks on PostgreSQL): reconciles
of different sources or shards at once, the same one refused naming its holder, commands that
rewrite across sources exclusive, a SIGKILLed holder's locks released and reported, and a
run's own lock telling a dead run from a live one."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from nhictl.errors import ExitCode, LockedError
from nhictl.store.lock import Locks, Scope, hold, inventory_scope, reconcile_scopes
from tests.engine_stores import ENGINES, REPO, Store, init, pg_fixture, store_for

pg = pg_fixture()

HOLD_SCRIPT = """
import json, sys
from nhictl.store.lock import Scope, hold
location, scopes, command = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
connect = None
if location.startswith("postgres"):
    from nhictl.store.pglock import session_factory
    connect = session_factory(location, None)
with hold(location, [Scope(k, e) for k, e in scopes], command=command, connect=connect) as h:
    h.hold_run("r-held-by-child")
    print("locked", flush=True)
    sys.stdin.readline()
"""


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path,
          monkeypatch: pytest.MonkeyPatch) -> Iterator[Store]:
    for s in store_for(request, tmp_path):
        Path(tmp_path / "data").mkdir(exist_ok=True)
        init(s, monkeypatch)
        yield s


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def monotonic(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def _hold(store: Store, scopes: list[Scope], command: str = "nhictl test",
          timeout: float = 0.0, fake: FakeTime | None = None
          ) -> contextlib.AbstractContextManager[Locks]:
    extra: dict[str, Any] = {}
    if fake is not None:
        extra = {"sleep": fake.sleep, "monotonic": fake.monotonic}
    return hold(store.location, scopes, timeout=timeout, command=command,
                connect=store.connect(), **extra)


def _refused(store: Store, scopes: list[Scope], command: str = "nhictl waiter") -> str:
    fake = FakeTime()
    with pytest.raises(LockedError) as err, _hold(store, scopes, command, fake=fake):
        pytest.fail("acquired a held lock")
    assert fake.sleeps == []  # --lock-timeout 0: no wait
    assert err.value.exit_code == ExitCode.PARTIAL == 4
    assert err.value.hint and "--lock-timeout" in err.value.hint
    return err.value.message


def _me(command: str) -> str:
    return f"pid {os.getpid()} on {socket.gethostname()}, `{command}`, started 20"


def test_reconciles_of_different_sources_run_at_once(store: Store) -> None:
    with (_hold(store, reconcile_scopes(["a"], None), "nhictl reconcile -s a"),
          _hold(store, reconcile_scopes(["b"], None), "nhictl reconcile -s b") as second):
        assert second.took_over == []


def test_the_same_source_twice_is_refused_naming_the_holder(store: Store) -> None:
    with _hold(store, reconcile_scopes(["a", "b"], None), "nhictl reconcile -s a -s b"):
        message = _refused(store, reconcile_scopes(["b"], None))
    assert message.startswith("source b is locked by another nhictl: ")
    assert _me("nhictl reconcile -s a -s b") in message
    with _hold(store, reconcile_scopes(["b"], None)):  # released with its holder
        pass


def test_shards_of_one_source_run_at_once_but_never_twice_or_with_the_whole(
    store: Store
) -> None:
    one, two = reconcile_scopes(["a"], (1, 4)), reconcile_scopes(["a"], (2, 4))
    with _hold(store, one, "nhictl reconcile --shard 1/4"), _hold(store, two):
        message = _refused(store, reconcile_scopes(["a"], (1, 4)))
        assert message.startswith("source a shard 1/4 is locked by another nhictl")
        assert _me("nhictl reconcile --shard 1/4") in message
        # the whole source sweeps every shard: it waits for the shard runs (named)
        message = _refused(store, reconcile_scopes(["a"], None))
        assert message.startswith("source a is locked by another nhictl: pid")
        assert "(and 1 other)" in message
    with _hold(store, reconcile_scopes(["a"], None), "nhictl reconcile -s a"):
        assert _me("nhictl reconcile -s a") in _refused(store, two)


def test_commands_across_sources_exclude_reconciles_both_ways(store: Store) -> None:
    with _hold(store, reconcile_scopes(["a"], None), "nhictl reconcile -s a"):
        message = _refused(store, [inventory_scope(exclusive=True)])
        assert message.startswith("the inventory is locked by another nhictl: ")
        assert _me("nhictl reconcile -s a") in message  # a shared holder, named
    with _hold(store, [inventory_scope(exclusive=True)], "nhictl review apply r.csv"):
        message = _refused(store, reconcile_scopes(["a"], None))
        assert _me("nhictl review apply r.csv") in message
        _refused(store, [inventory_scope(exclusive=True)])


def test_waits_up_to_the_timeout_then_fails(store: Store) -> None:
    fake = FakeTime()
    with (_hold(store, reconcile_scopes(["a"], None)),
          pytest.raises(LockedError, match=r"waited 2 s"),
          _hold(store, reconcile_scopes(["a"], None), timeout=2.0, fake=fake)):
        pytest.fail("acquired a held lock")
    assert sum(fake.sleeps) == pytest.approx(2.0)


def test_a_waiter_gets_the_lock_when_the_holder_releases(store: Store) -> None:
    fake = FakeTime()
    first = _hold(store, reconcile_scopes(["a"], None))
    first.__enter__()

    def sleep(seconds: float) -> None:
        fake.sleep(seconds)
        if len(fake.sleeps) == 3:
            first.__exit__(None, None, None)

    with hold(store.location, reconcile_scopes(["a"], None), timeout=10.0, command="waiter",
              connect=store.connect(), sleep=sleep, monotonic=fake.monotonic) as got:
        assert got.took_over == []  # released cleanly: nothing stale
    assert len(fake.sleeps) == 3


def _child(store: Store, scopes: list[Scope], command: str) -> subprocess.Popen[str]:
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_SCRIPT, store.location,
         json.dumps([[s.key, s.exclusive] for s in scopes]), command],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_a_killed_holder_releases_its_locks_and_the_next_one_reports_it(store: Store) -> None:
    proc = _child(store, reconcile_scopes(["a"], None), "nhictl reconcile -s a")
    try:
        message = _refused(store, reconcile_scopes(["a"], None))
        assert f"pid {proc.pid} on {socket.gethostname()}, `nhictl reconcile -s a`" in message
        with _hold(store, [Scope("x")]) as other, other.run_is_dead("r-held-by-child") as dead:
            assert not dead  # the child's run lock: a live run
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    # the kernel (SQLite) or the server (PostgreSQL) ended the holder's locks with it
    with _hold(store, reconcile_scopes(["a"], None), "nhictl reconcile -s a") as locks:
        assert [h.pid for h in locks.took_over] == [proc.pid]
        assert locks.took_over[0].command == "nhictl reconcile -s a"
        with locks.run_is_dead("r-held-by-child") as dead:
            assert dead
    with _hold(store, reconcile_scopes(["a"], None)) as locks:
        assert locks.took_over == []  # reported once


def test_a_run_lock_tells_a_live_run_from_a_dead_one(store: Store) -> None:
    with _hold(store, [inventory_scope(False)]) as mine:
        mine.hold_run("r-1")
        with mine.run_is_dead("r-1") as dead:
            assert not dead  # our own run
        with _hold(store, [inventory_scope(False)]) as other:
            with other.run_is_dead("r-1") as dead:
                assert not dead
            with other.run_is_dead("r-never-held") as dead:
                assert dead
    with _hold(store, [inventory_scope(False)]) as later, later.run_is_dead("r-1") as dead:
        assert dead  # its holder ended
