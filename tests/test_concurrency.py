"""Several nhictl processes on one inventory, on both engines: reconciles of different
sources run at once, the same source or a command across sources is refused naming the
holder, a live run elsewhere is never recorded as interrupted; and (PostgreSQL) sharded
reconciles on several "hosts" at once end with the inventory one process would have made.
(A run killed mid-write: tests/test_crash_safety.py.)

Processes are stopped at exact points with ``NHICTL_TEST_PAUSE`` (nhictl/testhook.py): the
test reads the "paused at" line on stderr, then kills or resumes them; nothing sleeps.
"""

from __future__ import annotations

import socket
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.engine_stores import (
    ENGINES,
    Store,
    assert_consistent,
    export,
    paused,
    pg_fixture,
    resume,
    runs,
    store_for,
)

pg = pg_fixture()
NOW = "2026-11-29T12:00:00Z"


@pytest.fixture(params=ENGINES)
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    for s in store_for(request, tmp_path):
        s.env["NHICTL_NOW"] = NOW
        code, _, err = s.run("init")
        assert code == 0, err
        yield s


def test_reconciles_of_two_sources_at_once_and_the_live_one_is_not_interrupted(
    store: Store
) -> None:
    a, b = export(store.tmp, "a.json", 60), export(store.tmp, "b.json", 40, seed=3)
    # SQLite serializes write transactions (a paused one would block the other's); on
    # PostgreSQL the first run waits inside its open write transaction.
    point = "write" if store.engine == "postgresql" else "before-write"
    first = paused(store, point, "reconcile", "-s", a, "--no-validate")
    try:
        (running,), = store.sql("SELECT id FROM runs WHERE outcome = 'running'")
        code, _, err = store.run("reconcile", "-s", b, "--no-validate")
        assert code == 0, err
        assert "interrupted" not in err  # the first run is alive: its run lock is held
        assert runs(store)[running] == "running"
        holder = f"pid {first.pid} on {socket.gethostname()}, `nhictl reconcile -s {a}"
        code, _, err = store.run("reconcile", "-s", a, "--no-validate")  # the same source
        assert code == 4 and f"source {a} is locked" in err and holder in err, err
        code, _, err = store.run("check")  # rewrites across sources: waits for reconciles
        assert code == 4 and "the inventory is locked" in err and holder in err, err
        code, err = resume(first)
        assert code == 0, err
    finally:
        if first.poll() is None:
            first.kill()
            first.wait()
    assert sorted(runs(store).values()) == ["ok", "ok"]
    assert dict(store.sql("SELECT source, count(*) FROM bindings GROUP BY source")) == {
        a: 60, b: 40}
    assert_consistent(store)


SHARDS = 4


def _inventory(store: Store) -> tuple[list[tuple[Any, ...]], Counter[tuple[Any, ...]]]:
    """Bindings (minus the run that wrote them) and events (minus run and sequence)."""
    columns = [r[0] for r in store.sql(
        "SELECT column_name FROM information_schema.columns WHERE table_name = 'bindings' "
        "AND column_name <> 'run_id' ORDER BY column_name")]
    bindings = store.sql(f"SELECT {', '.join(columns)} FROM bindings ORDER BY id")
    events = Counter(store.sql("SELECT at, binding_id, type, actor, details FROM events"))
    return bindings, events


def _round(store: Store, specs: list[str], others: list[str]) -> None:
    """N shard "hosts" of ``specs`` and one host per other source, all inside their write
    transactions at once, then all let go."""
    procs = [paused(store, "write", "reconcile", *specs, "--no-validate",
                     "--shard", f"{k}/{SHARDS}") for k in range(1, SHARDS + 1)]
    procs += [paused(store, "write", "reconcile", "-s", spec, "--no-validate")
              for spec in others]
    try:
        for proc in procs:
            code, err = resume(proc)
            assert code == 0, err
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


@pytest.mark.parametrize("store", [ENGINES[1]], indirect=True)
def test_sharded_hosts_at_once_make_the_inventory_one_process_makes(
    store: Store, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    (tmp_path / "ref").mkdir()
    made = store_for(_Param(request, "postgresql"), tmp_path / "ref")
    reference = next(made)
    request.addfinalizer(lambda: next(made, None))  # drops its database
    reference.env["NHICTL_NOW"] = NOW
    reference.env["NHICTL_KEY_FILE"] = store.env["NHICTL_KEY_FILE"]  # same fingerprints
    assert reference.run("init")[0] == 0
    main = export(store.tmp, "main.json", 400)
    b, c = export(store.tmp, "b.json", 30, seed=3), export(store.tmp, "c.json", 20, seed=5)
    _round(store, ["-s", main], [b, c])
    assert reference.run("reconcile", "-s", main, "-s", b, "-s", c, "--no-validate")[0] == 0
    assert _inventory(store) == _inventory(reference)
    # round 2: 25 connections gone from the main source, 10 from b: swept once, by their shard
    main = export(store.tmp, "main.json", 400, drop=25)
    b = export(store.tmp, "b.json", 30, seed=3, drop=10)
    _round(store, ["-s", main], [b, c])
    assert reference.run("reconcile", "-s", main, "-s", b, "-s", c, "--no-validate")[0] == 0
    got, want = _inventory(store), _inventory(reference)
    assert got == want
    assert sum(1 for e in got[1].elements() if e[2] == "removed") == 35
    assert_consistent(store)
    outcomes = Counter(o for _, o in store.sql("SELECT id, outcome FROM runs"))
    assert outcomes == {"ok": 2 * (SHARDS + 2)}


class _Param:
    """A fixture request for a second store in the same test (its own database)."""

    def __init__(self, request: pytest.FixtureRequest, param: str) -> None:
        self.param = param
        self.node = type("Node", (), {"name": "ref_" + request.node.name})()  # own database
        self._request = request

    def getfixturevalue(self, name: str) -> Any:
        return self._request.getfixturevalue(name)
