"""One inventory on each engine, for the lock, crash and concurrency tests.

``store_for(request, tmp_path)`` gives a :class:`Store` on SQLite (a file in ``tmp_path``)
or on PostgreSQL (a fresh database of the module's ``pg`` cluster, tools/pgcluster.py; the
case is skipped with the reason when the machine has no PostgreSQL). Each module declares:

    pg = pg_fixture()
    @pytest.fixture(params=ENGINES)
    def store(request, tmp_path): yield from store_for(request, tmp_path)
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from nhictl.sandbox.dataset import generate
from tools.pgcluster import Cluster, find_binaries

REPO = Path(__file__).resolve().parent.parent
_BIN, _WHY_NOT = find_binaries()
ENGINES = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.skipif(
        _BIN is None, reason=f"no PostgreSQL here: {_WHY_NOT}")),
]


def pg_fixture() -> Any:
    """The session's cluster (``pg_server`` in tests/conftest.py): one per test process,
    not one per module (initdb and a server start cost seconds of CPU each)."""

    @pytest.fixture(scope="module")
    def pg(pg_server: Any) -> Cluster:
        cluster: Cluster = pg_server.cluster
        return cluster

    return pg


@dataclass
class Store:
    engine: str  # sqlite | postgresql
    location: str  # the --db value: a path or a URL
    tmp: Path
    env: dict[str, str] = field(default_factory=dict)  # for a child nhictl

    def sql(self, statement: str, **params: Any) -> list[tuple[Any, ...]]:
        url = (f"sqlite:///{self.location}" if self.engine == "sqlite"
               else self.location.replace("postgresql://", "postgresql+psycopg://", 1))
        engine = create_engine(url)
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(statement), params)]
        finally:
            engine.dispose()

    def connect(self) -> Callable[[], Any] | None:
        """The lock session factory :func:`nhictl.store.lock.hold` needs on PostgreSQL."""
        if self.engine == "sqlite":
            return None
        from nhictl.store.pglock import session_factory

        return session_factory(self.location, None)

    def nhictl(self, *args: str, env: dict[str, str] | None = None,
               stdin: int | None = subprocess.DEVNULL) -> subprocess.Popen[str]:
        """``python -m nhictl ARGS`` on this inventory (stderr piped, text)."""
        return subprocess.Popen([sys.executable, "-m", "nhictl", *args],
                                env={**self.env, **(env or {})}, cwd=self.tmp, text=True,
                                stdin=stdin, stdout=subprocess.PIPE, stderr=subprocess.PIPE)

    def run(self, *args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        proc = self.nhictl(*args, env=env)
        out, err = proc.communicate(timeout=120)
        return proc.returncode, out, err


def store_for(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Store]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("NHICTL_", "PG")) and k not in ("NO_COLOR", "COLUMNS")}
    env.update(NO_COLOR="1", NHICTL_CONFIG=str(tmp_path / "nhictl.toml"),
               PYTHONPATH=str(REPO) + os.pathsep + env.get("PYTHONPATH", ""))
    (tmp_path / "nhictl.toml").write_text("")
    if request.param == "sqlite":
        location = str(tmp_path / "data" / "inv.db")
        env["NHICTL_DB"] = location
        yield Store("sqlite", location, tmp_path, env)
        return
    cluster: Cluster = request.getfixturevalue("pg")
    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    url = cluster.create_database(name)
    env.update(NHICTL_DB=url, NHICTL_KEY_FILE=str(tmp_path / "keys" / "inv.key"))
    try:
        yield Store("postgresql", url, tmp_path, env)
    finally:
        cluster.drop_database(name)


def init(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    """Create the inventory in-process (tables, and the lock_holders table on PG)."""
    from nhictl.store.engine import open_inventory

    if "NHICTL_KEY_FILE" in store.env:
        monkeypatch.setenv("NHICTL_KEY_FILE", store.env["NHICTL_KEY_FILE"])
    inv, _ = open_inventory(store.location, create=True)
    inv.dispose()


# Child processes stopped at exact points (NHICTL_TEST_PAUSE, nhictl/testhook.py).

def export(tmp: Path, name: str, n: int, seed: int = 7,
            drop: int = 0) -> str:
    records = generate(n, seed=seed).export(with_tokens=False)[drop:]
    path = tmp / name
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(records, fh)
    return f"file:{path}"


def paused(store: Store, point: str, *args: str) -> subprocess.Popen[str]:
    """A child nhictl stopped at ``point`` (it waits for a line on stdin)."""
    proc = store.nhictl(*args, env={"NHICTL_TEST_PAUSE": point}, stdin=subprocess.PIPE)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if line.startswith(f"nhictl-test: paused at {point}"):
            return proc
    proc.wait(timeout=60)
    raise AssertionError(f"the run ended before {point}: {''.join(seen)}")


def resume(proc: subprocess.Popen[str]) -> tuple[int, str]:
    assert proc.stdin is not None
    proc.stdin.write("\n")
    proc.stdin.flush()
    _, err = proc.communicate(timeout=120)
    return proc.returncode, err


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL


def runs(store: Store) -> dict[str, str]:
    return dict(store.sql("SELECT id, outcome FROM runs"))  # type: ignore[arg-type]


def assert_consistent(store: Store) -> None:
    """No binding twice, no event without its binding, one discovery per binding."""
    if store.engine == "sqlite":
        assert store.sql("PRAGMA integrity_check") == [("ok",)]
    (total, distinct), = store.sql(
        "SELECT count(*), count(DISTINCT source || '|' || connection_id) FROM bindings")
    assert total == distinct, "a binding was duplicated"
    (orphans,), = store.sql("SELECT count(*) FROM events e WHERE e.binding_id IS NOT NULL "
                            "AND NOT EXISTS (SELECT 1 FROM bindings b WHERE b.id = e.binding_id)")
    assert orphans == 0, "an event points at a binding that was not written"
    discovered = Counter(r[0] for r in store.sql(
        "SELECT binding_id FROM events WHERE type = 'discovered'"))
    bindings = {r[0] for r in store.sql("SELECT id FROM bindings")}
    assert set(discovered) == bindings and set(discovered.values()) <= {1}
