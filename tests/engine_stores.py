"""One inventory on each engine, for the lock, crash and concurrency tests.

``store_for(request, tmp_path)`` gives a :class:`Store` on SQLite (a file in ``tmp_path``)
or on PostgreSQL (a fresh database of the module's ``pg`` cluster, tools/pgcluster.py; the
case is skipped with the reason when the machine has no PostgreSQL). Each module declares:

    pg = pg_fixture()
    @pytest.fixture(params=ENGINES)
    def store(request, tmp_path): yield from store_for(request, tmp_path)
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import create_engine, text

from tools.pgcluster import Cluster, find_binaries, pg_cluster

REPO = Path(__file__).resolve().parent.parent
_BIN, _WHY_NOT = find_binaries()
ENGINES = [
    pytest.param("sqlite"),
    pytest.param("postgresql", marks=pytest.mark.skipif(
        _BIN is None, reason=f"no PostgreSQL here: {_WHY_NOT}")),
]


def pg_fixture() -> Any:
    @pytest.fixture(scope="module")
    def pg() -> Iterator[Cluster]:
        if _BIN is None:
            pytest.skip(f"no PostgreSQL here: {_WHY_NOT}")
        with pg_cluster() as cluster:
            yield cluster

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
