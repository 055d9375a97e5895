"""The inventory engines the suite runs on: SQLite (a file in ``tmp_path``) and PostgreSQL
(a throwaway cluster per test process from ``tools/pgcluster.py``, one fresh database per
test).

:class:`InventoryDb` is one test's inventory location on either engine, with read-only
helpers to inspect it through SQLAlchemy (``rows``, ``scalar``, ``dump``), so a test that
only reads rows runs on both engines; tests about the SQLite file itself are marked
``@pytest.mark.sqlite_only("why")``.
"""

from __future__ import annotations

import itertools
import os
import subprocess
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENGINES = ("sqlite", "postgresql")


def postgres_unavailable() -> str | None:
    """Why no PostgreSQL cluster can start on this machine (None when one can)."""
    from tools.pgcluster import find_binaries

    return find_binaries()[1]


def in_ci() -> bool:
    return os.environ.get("CI", "").lower() in ("1", "true", "yes")


@dataclass
class PgServer:
    """One running cluster and an admin connection that makes and drops test databases."""

    cluster: Any  # tools.pgcluster.Cluster
    admin: Any  # psycopg.Connection (autocommit)
    names: Iterator[int] = field(default_factory=itertools.count)

    def new_database(self) -> tuple[str, str]:
        name = f"t{os.getpid()}_{next(self.names)}"
        # FILE_COPY: an empty database in ~25 ms, three times faster than the default
        # WAL_LOG strategy (fsync is off in the throwaway cluster; measured on PG 15).
        self.admin.execute(f'CREATE DATABASE "{name}" STRATEGY FILE_COPY')
        return name, self.cluster.url(name)

    def drop_database(self, name: str) -> None:
        # FORCE: a test may leave a pooled connection open; the database goes regardless.
        self.admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# Runs in its own process: blocks until the test process that started the cluster is gone
# (its end of the pipe closes, however it ended, even SIGKILL), then stops the cluster and
# removes its directory, so a killed or timed-out run leaves no server behind.
_WATCHDOG = """
import shutil, subprocess, sys
sys.stdin.buffer.read()
subprocess.run([*sys.argv[3:], sys.argv[1], "-D", sys.argv[2], "-m", "immediate", "-w", "stop"],
               capture_output=True, check=False)
shutil.rmtree(sys.argv[2].rsplit("/", 1)[0], ignore_errors=True)
"""


def watch_cluster(cluster: Any) -> subprocess.Popen[bytes]:
    """Start the watchdog of ``cluster``; closing the returned process's stdin (or dying)
    lets it stop the cluster."""
    return subprocess.Popen(
        [sys.executable, "-c", _WATCHDOG, str(cluster.bin_dir / "pg_ctl"),
         str(cluster.data_dir), *cluster.prefix],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True)  # not killed with the test process's group


def _sqlalchemy_url(url: str) -> str:
    return url.replace("postgresql://", "postgresql+psycopg://", 1) \
        if url.startswith("postgresql://") else url


@dataclass
class InventoryDb:
    """Where one test's inventory lives, on one engine.

    ``url`` is what ``NHICTL_DB``/``--db`` takes (a file path on SQLite, a
    ``postgresql://`` URL on PostgreSQL); ``path`` is the SQLite file (None on
    PostgreSQL); ``key_path`` is the fingerprint key file (next to the SQLite file, or
    ``NHICTL_KEY_FILE`` on PostgreSQL).
    """

    engine: str
    url: str
    path: Path | None
    key_path: Path

    @property
    def is_sqlite(self) -> bool:
        return self.engine == "sqlite"

    def env(self) -> dict[str, str]:
        """The variables a child process needs to open this inventory."""
        env = {"NHICTL_DB": self.url}
        if not self.is_sqlite:
            env["NHICTL_KEY_FILE"] = str(self.key_path)
        return env

    def _connect(self) -> Any:
        from sqlalchemy import create_engine
        from sqlalchemy.pool import NullPool

        if self.path is not None:  # read-only: inspecting never creates or converts a file
            return create_engine(f"sqlite:///file:{self.path}?mode=ro&uri=true",
                                 poolclass=NullPool)
        return create_engine(_sqlalchemy_url(self.url), poolclass=NullPool)

    def rows(self, sql: str, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Run one read-only SQL statement (``:name`` parameters) on either engine."""
        from sqlalchemy import text

        engine = self._connect()
        try:
            with engine.connect() as conn:
                return [tuple(r) for r in conn.execute(text(sql), dict(params or {}))]
        finally:
            engine.dispose()

    def scalar(self, sql: str, params: Mapping[str, Any] | None = None) -> Any:
        rows = self.rows(sql, params)
        return rows[0][0] if rows else None

    def tables(self) -> list[str]:
        from sqlalchemy import inspect

        engine = self._connect()
        try:
            return sorted(inspect(engine).get_table_names())
        finally:
            engine.dispose()

    def dump(self) -> list[str]:
        """A logical dump on either engine: every table's columns and rows, in a stable
        order (for "nothing was written" comparisons)."""
        from sqlalchemy import MetaData, select

        engine = self._connect()
        try:
            meta = MetaData()
            meta.reflect(engine)
            lines: list[str] = []
            with engine.connect() as conn:
                for table in sorted(meta.tables.values(), key=lambda t: t.name):
                    lines.append(f"{table.name}({', '.join(c.name for c in table.columns)})")
                    rows = [repr(tuple(r)) for r in conn.execute(select(table))]
                    lines += [f"  {r}" for r in sorted(rows)]
            return lines
        finally:
            engine.dispose()
