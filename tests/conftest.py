"""Shared test fixtures: an isolated environment, the real CLI (in-process and as a
subprocess), and sample exports carrying fake tokens generated at test time.

* ``inventory_db`` is the test's inventory location on one engine: every test that uses it
  (and so ``nhictl_env``, ``cli``, ``cli_subprocess``, ``initialized``) runs twice, as
  ``[sqlite]`` (a file in ``tmp_path``) and ``[postgresql]`` (a fresh database in a cluster
  this test process starts; see ``tests/engines.py``). Without PostgreSQL on the machine the
  second case skips with the reason, except under ``CI=true``, where that fails the run.
  ``@pytest.mark.sqlite_only("why")`` keeps a test about the SQLite file itself on SQLite;
  ``@pytest.mark.engine_neutral("why")`` keeps one whose subject does not depend on the
  engine (help, argument/input validation, output formats, network clients) on SQLite
  unless ``pytest --all-engines``; in an engine_neutral module, ``both_engines`` on a test
  keeps it twinned. The store, reconcile, lock, crash, shard, migration and concurrency
  tests stay on both engines.
* ``cli(*args, stdin=None)`` runs ``nhictl.cli.main.run(argv)`` in-process and returns a
  :class:`CliResult` (exit code, stdout, stderr). ``NHICTL_DB`` is the test's inventory.
* ``cli_subprocess(*args, stdin=None)`` runs ``python -m nhictl`` for true end-to-end tests.
* ``token_export`` writes the generated sample dataset WITH fake tokens (mode 0600) and
  returns its path and every token in it, for secret-leak scans.
"""

from __future__ import annotations

import gc
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.engines import (
    ENGINES,
    InventoryDb,
    PgServer,
    in_ci,
    postgres_unavailable,
    watch_cluster,
)

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / "fixtures"
BROKEN = FIXTURES / "broken"
SAMPLE_JSON = FIXTURES / "sample-export.json"
SAMPLE_CSV = FIXTURES / "sample-export.csv"
NOW = "2026-11-29T12:00:00Z"

# Variables that would make a test depend on the machine running it.
_ISOLATE = (
    "NHICTL_DB", "NHICTL_CONFIG", "NHICTL_SLACK_API_URL", "NHICTL_QUIET", "NHICTL_VERBOSE",
    "NHICTL_LOG_FORMAT", "NHICTL_NO_COLOR", "NHICTL_LOCK_TIMEOUT", "NHICTL_ACTOR",
    "NHICTL_KEY_FILE", "NHICTL_KEY", "NHICTL_NOW", "NHICTL_ALLOW_INSECURE_HTTP", "NO_COLOR",
    "COLUMNS", "LINES",
)


@dataclass
class CliResult:
    code: int
    out: str
    err: str

    @property
    def output(self) -> str:
        return self.out + self.err

    def json(self) -> Any:
        return json.loads(self.out)

    def __repr__(self) -> str:  # readable assertion failures
        return f"CliResult(code={self.code}, out={self.out[:800]!r}, err={self.err[:800]!r})"


Cli = Callable[..., CliResult]


# -- engines ---------------------------------------------------------------------------------


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--all-engines", action="store_true", default=False,
        help="also run the tests marked engine_neutral on PostgreSQL (a full cross-engine "
             "run; by default they run on SQLite only)")


def pytest_configure(config: pytest.Config) -> None:
    """Markers are in pyproject.toml (sqlite_only, engine_neutral, both_engines, postgresql,
    engine_specific)."""
    reason = postgres_unavailable()
    if reason and in_ci():  # CI must run the PostgreSQL half, never skip it
        raise pytest.UsageError(f"CI=true but PostgreSQL is not available: {reason}")


def _sqlite_only(definition: pytest.Function, all_engines: bool) -> bool:
    """Whether this inventory test runs on SQLite alone: ``sqlite_only`` (about the SQLite
    file itself), or ``engine_neutral`` (what it tests does not depend on the engine: help,
    argument and input validation, output formats, network clients) unless the test itself
    says ``both_engines`` (a store-facing test in an otherwise engine-neutral module) or the
    run asks for ``--all-engines``."""
    if definition.get_closest_marker("sqlite_only") is not None:
        return True
    if all_engines or definition.get_closest_marker("engine_neutral") is None:
        return False
    return not any(m.name == "both_engines" for m in definition.own_markers)


def pytest_collection_finish(session: pytest.Session) -> None:
    """Move everything alive after collection (every imported module, the test functions,
    hypothesis's strategies: some 100k objects) out of the collector's sight: the
    ``gc.collect()`` after each in-process command then scans only what tests created
    since, not the whole heap again (it was ~40 % of the suite's CPU time). nhictl's
    modules are imported first: commands import most of them lazily, on first use."""
    import importlib
    import pkgutil

    import nhictl

    for module in pkgutil.walk_packages(nhictl.__path__, "nhictl."):
        if not module.name.endswith("__main__"):
            importlib.import_module(module.name)
    gc.collect()
    gc.freeze()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Every test that uses the inventory runs once per engine (``[sqlite]``,
    ``[postgresql]``), except those marked ``sqlite_only`` or ``engine_neutral``."""
    if "db_engine" not in metafunc.fixturenames:
        return
    for name in ("sqlite_only", "engine_specific", "engine_neutral"):
        mark = metafunc.definition.get_closest_marker(name)
        if mark is not None and not (mark.args and str(mark.args[0]).strip()):
            raise pytest.UsageError(f"{metafunc.definition.nodeid}: {name} needs a reason")
    if metafunc.definition.get_closest_marker("engine_specific"):
        return  # db_engine stays "sqlite": the test points NHICTL_DB where it means to
    all_engines = bool(metafunc.config.getoption("--all-engines"))
    engines = ("sqlite",) if _sqlite_only(metafunc.definition, all_engines) else ENGINES
    metafunc.parametrize("db_engine", [
        pytest.param(e, marks=[pytest.mark.postgresql] if e == "postgresql" else [], id=e)
        for e in engines], indirect=True)


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """One throwaway cluster per test process (each xdist worker starts its own: ~1.5 s,
    nothing shared to coordinate or leak), started on first use and stopped at the end."""
    reason = postgres_unavailable()
    if reason:
        if in_ci():
            pytest.fail(f"CI=true but PostgreSQL is not available: {reason}")
        pytest.skip(f"PostgreSQL not available: {reason}")
    import psycopg

    from tools.pgcluster import pg_cluster

    with pg_cluster() as cluster:
        watchdog = watch_cluster(cluster)
        try:
            with psycopg.connect(cluster.url(), autocommit=True) as admin:
                yield PgServer(cluster=cluster, admin=admin)
        finally:
            cluster.stop()
            assert watchdog.stdin is not None
            watchdog.stdin.close()
            watchdog.wait(timeout=60)


@pytest.fixture
def db_engine(request: pytest.FixtureRequest) -> str:
    """The engine of this case (parametrized by ``pytest_generate_tests``)."""
    return str(getattr(request, "param", "sqlite"))


NewInventoryDb = Callable[[str], InventoryDb]


@pytest.fixture
def new_inventory_db(
    db_engine: str, tmp_path: Path, request: pytest.FixtureRequest,
    monkeypatch: pytest.MonkeyPatch,
) -> NewInventoryDb:
    """Make another empty inventory location on this case's engine:
    ``new_inventory_db("other")`` is ``tmp_path/other.db`` on SQLite, a new database on
    PostgreSQL (dropped after the test). On PostgreSQL ``NHICTL_KEY_FILE`` is set (the
    key of a database inventory is a file the operator names); every inventory of the test
    shares ``tmp_path/data/inventory.db.key`` there."""

    def make(name: str) -> InventoryDb:
        if db_engine == "sqlite":
            path = tmp_path / f"{name}.db"
            return InventoryDb("sqlite", str(path), path, path.with_name(path.name + ".key"))
        server: PgServer = request.getfixturevalue("pg_server")
        database, url = server.new_database()
        request.addfinalizer(lambda: server.drop_database(database))
        key = tmp_path / "data" / "inventory.db.key"
        monkeypatch.setenv("NHICTL_KEY_FILE", str(key))
        return InventoryDb("postgresql", url, None, key)

    return make


@pytest.fixture
def inventory_db(db_engine: str, tmp_path: Path, new_inventory_db: NewInventoryDb) -> InventoryDb:
    """This test's inventory: ``tmp_path/data/inventory.db`` on SQLite, a fresh database on
    PostgreSQL; the key file is ``tmp_path/data/inventory.db.key`` on both."""
    if db_engine == "sqlite":
        path = tmp_path / "data" / "inventory.db"
        return InventoryDb("sqlite", str(path), path, path.with_name(path.name + ".key"))
    return new_inventory_db("inventory")


@pytest.fixture
def nhictl_env(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inventory_db: InventoryDb
) -> Path:
    """An isolated environment: cwd is ``tmp_path`` (no stray nhictl.toml), NHICTL_DB is the
    test's inventory (``inventory_db``), a fixed actor and a fixed clock. Returns
    ``tmp_path/data/inventory.db``: the SQLite file, or on PostgreSQL the path it would
    have (no file is there; the key file sits next to it on both engines)."""
    for var in _ISOLATE:
        monkeypatch.delenv(var, raising=False)
    for var, value in inventory_db.env().items():
        monkeypatch.setenv(var, value)
    monkeypatch.setenv("NHICTL_ACTOR", "tester")
    monkeypatch.setenv("NHICTL_NOW", NOW)
    monkeypatch.chdir(tmp_path)
    return tmp_path / "data" / "inventory.db"


def run_in_process(
    argv: Sequence[str], stdin: str | None, monkeypatch: pytest.MonkeyPatch
) -> CliResult:
    from nhictl.cli.main import run

    out, err = io.StringIO(), io.StringIO()
    with monkeypatch.context() as m:
        m.setattr(sys, "stdout", out)
        m.setattr(sys, "stderr", err)
        m.setattr(sys, "stdin", io.StringIO(stdin or ""))
        m.setattr(sys, "argv", ["nhictl", *argv])
        try:
            run(list(argv))
            code = 0
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    # Engines opened by the command close their SQLite connections (and checkpoint) now,
    # not at some later collection, so file-level comparisons are deterministic.
    gc.collect()
    return CliResult(code, out.getvalue(), err.getvalue())


@pytest.fixture
def cli(nhictl_env: Path, monkeypatch: pytest.MonkeyPatch) -> Cli:
    """Run the real entry point in-process: ``cli("inventory", "list", stdin=None)``."""

    def invoke(*argv: str, stdin: str | None = None) -> CliResult:
        return run_in_process([str(a) for a in argv], stdin, monkeypatch)

    return invoke


@pytest.fixture
def cli_subprocess(nhictl_env: Path) -> Cli:
    """Run ``python -m nhictl`` in a child process (stdout/stderr are pipes, not TTYs)."""

    def invoke(*argv: str, stdin: str | None = None) -> CliResult:
        env = dict(os.environ)
        env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
        proc = subprocess.run(
            [sys.executable, "-m", "nhictl", *[str(a) for a in argv]],
            input=stdin or "",
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        return CliResult(proc.returncode, proc.stdout, proc.stderr)

    return invoke


@pytest.fixture
def initialized(cli: Cli, nhictl_env: Path) -> Path:
    """An inventory created with ``nhictl init``; returns the db path."""
    result = cli("init")
    assert result.code == 0, result
    return nhictl_env


# -- exports ---------------------------------------------------------------------------------


def write_export(
    path: Path, records: Iterable[dict[str, Any]], *, fmt: str = "json", mode: int = 0o600
) -> Path:
    """Write an export file as ``json`` (array), ``connections`` ({"connections": [...]}),
    ``jsonl`` or ``csv`` (union of keys as columns), then chmod it."""
    rows = [dict(r) for r in records]
    if fmt == "json":
        text = json.dumps(rows, indent=2)
    elif fmt == "connections":
        text = json.dumps({"connections": rows})
    elif fmt == "jsonl":
        text = "".join(json.dumps(r) + "\n" for r in rows)
    elif fmt == "csv":
        import csv

        columns: list[str] = []
        for r in rows:
            columns += [k for k in r if k not in columns]
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=columns, lineterminator="\r\n")
        writer.writeheader()
        for r in rows:
            writer.writerow({k: " ".join(v) if isinstance(v, list) else v for k, v in r.items()})
        text = buf.getvalue()
    else:
        raise ValueError(fmt)
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def sample_records() -> list[dict[str, Any]]:
    """The committed sample export (no tokens)."""
    data: list[dict[str, Any]] = json.loads(SAMPLE_JSON.read_text(encoding="utf-8"))
    return data


@dataclass
class TokenExport:
    path: Path
    connections: list[dict[str, Any]]
    tokens: list[str]  # every access and refresh token in the file


@pytest.fixture
def token_export(tmp_path: Path) -> TokenExport:
    """The generated sample dataset with fresh fake tokens, written with mode 0600."""
    from nhictl.sandbox.dataset import generate

    connections = generate().export(with_tokens=True)
    tokens = sorted({str(c[k]) for c in connections for k in ("access_token", "refresh_token")
                     if c.get(k)})
    assert tokens, "the dataset should carry tokens"
    (tmp_path / "exports").mkdir()
    path = write_export(tmp_path / "exports" / "with-tokens.json", connections)
    return TokenExport(path=path, connections=connections, tokens=tokens)


def secret_needles(tokens: Iterable[str], width: int = 12) -> set[bytes]:
    """Every token and every ``width``-character substring of it, as bytes."""
    needles: set[bytes] = set()
    for token in tokens:
        raw = token.encode("utf-8")
        needles.add(raw)
        needles.update(raw[i:i + width] for i in range(max(1, len(raw) - width + 1)))
    return needles


_BLOCK = 6  # every needle of 11+ bytes holds a 6-byte block aligned in the haystack


def find_secrets(haystack: bytes | str, tokens: Iterable[str]) -> list[bytes]:
    """Every needle of ``secret_needles(tokens)`` found in ``haystack``, sorted.

    A needle at offset p, of length >= 2*_BLOCK - 1, holds the haystack's block at the first
    multiple of _BLOCK at or after p, and that block is a substring of a token. So when no
    aligned block of the haystack is a token's substring, only shorter needles can be in it;
    otherwise every needle is searched (the answer is the plain search's, in both cases).
    One pass over a multi-megabyte WAL instead of one search per needle (thousands)."""
    data = haystack.encode("utf-8") if isinstance(haystack, str) else haystack
    needles = secret_needles(tokens)
    short = [n for n in needles if len(n) < 2 * _BLOCK - 1]
    blocks = {raw[i:i + _BLOCK] for raw in (t.encode("utf-8") for t in tokens)
              for i in range(len(raw) - _BLOCK + 1)}
    if any(data[q:q + _BLOCK] in blocks for q in range(0, len(data), _BLOCK)):
        short = list(needles)
    return sorted(n for n in short if n in data)


# -- database inspection ---------------------------------------------------------------------


def db_dump(db: Path) -> list[str]:
    """A logical dump of every table (schema and rows), read-only."""
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.iterdump())
    finally:
        conn.close()


def db_rows(db: Path, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return list(conn.execute(sql, params).fetchall())
    finally:
        conn.close()


def db_files(db: Path) -> dict[str, bytes]:
    """The database file and its -wal/-shm companions, by name, with their bytes."""
    assert db.is_file(), f"{db} is not an SQLite inventory (a test for sqlite_only?)"
    return {p.name: p.read_bytes() for p in db.parent.glob(db.name + "*")
            if not p.name.endswith(".key")}


def stored_bytes(inventory: InventoryDb) -> dict[str, bytes]:
    """What the inventory holds, as bytes to scan for secrets: the SQLite file and its
    companions (free pages and the WAL included), or on PostgreSQL a dump of every row."""
    if inventory.path is not None:
        return db_files(inventory.path)
    return {"dump": "\n".join(inventory.dump()).encode("utf-8")}


@pytest.fixture
def open_dir() -> Iterator[Path]:
    """A 0755 directory made under umask 022, as an app's /srv/app is (pytest's own tmp dirs
    are 0700, which would hide a store's loose mode behind its parent)."""
    old = os.umask(0o022)
    path = Path(tempfile.mkdtemp(prefix="nhictl-open-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        os.umask(old)
        shutil.rmtree(path)
