"""A PostgreSQL inventory: URLs, passwords (never shown), the key, errors, migrations.

The server is a real one from tools/pgcluster.py (skipped, with the reason, when the machine
has no PostgreSQL); the tests that need no server (refusals, a missing psycopg, a refused
connection) always run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import stat
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, inspect, select, text

from nhictl.store import engine as engine_mod
from nhictl.store import migrations, tables
from nhictl.store.engine import KEY_BYTES
from tests.cli.e2e import write_private
from tests.conftest import Cli
from tests.engines import PgServer
from tools.pgcluster import Cluster, find_binaries, free_port

_BIN, _WHY_NOT = find_binaries()
pytestmark = pytest.mark.engine_specific("about PostgreSQL itself; sets up its own databases")
needs_server = pytest.mark.skipif(_BIN is None, reason=f"no PostgreSQL here: {_WHY_NOT}")
AUTH_DB = "authdb"  # the one database whose logins need a password (scram-sha-256)
AUTH_ROLE = "pwuser"


@pytest.fixture(scope="session")
def pg(pg_server: PgServer) -> Cluster:
    """The session's cluster (tests/conftest.py): skipped with the reason without one."""
    cluster: Cluster = pg_server.cluster
    return cluster


def _sql(cluster: Cluster, *statements: str, database: str = "postgres") -> None:
    import psycopg

    with psycopg.connect(cluster.url(database), autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement.encode())


@pytest.fixture
def pg_url(pg: Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    name = "t_" + re.sub(r"[^a-z0-9]", "_", request.node.name.lower())[:50]
    url = pg.create_database(name)
    yield url
    pg.drop_database(name)


@pytest.fixture
def pg_env(nhictl_env: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """The CLI's environment on a fresh PostgreSQL database; the key file in tmp."""
    for var in ("NHICTL_KEY", "PGPASSWORD", "PGSERVICE", "PGPASSFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("NHICTL_DB", pg_url)
    monkeypatch.setenv("NHICTL_KEY_FILE", str(nhictl_env.parent / "keys" / "inventory.key"))
    return pg_url


def stamped_version(url: str) -> str | None:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            value = conn.execute(select(tables.META.c.value).where(
                tables.META.c.key == "schema_version")).scalar()
            return None if value is None else str(value)
    finally:
        engine.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


# -- no server needed ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", ["postgresql://alice:{}@127.0.0.1:{}/inv",
                                   "postgres://alice@127.0.0.1:{1}/inv?password={0}"])
def test_a_password_in_db_on_the_command_line_is_refused(cli: Cli, shape: str) -> None:
    secret = "Sup3r-" + secrets.token_hex(8)
    result = cli("--db", shape.format(secret, free_port()), "init")
    assert result.code == 2, result
    assert "visible in ps and shell history" in result.err
    assert "PGPASSWORD" in result.err and secret not in result.out + result.err
    assert "Traceback" not in result.err


def test_a_missing_psycopg_names_the_extra(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "psycopg", None)  # `import psycopg` now fails
    for scheme in ("postgresql", "postgres", "postgresql+psycopg"):
        result = cli("--db", f"{scheme}://alice@127.0.0.1:5432/inv", "init")
        assert result.code == 3, result
        assert "nhictl[postgresql]" in result.err and "psycopg" in result.err
        assert len(result.err.strip().splitlines()) == 1, result.err
        assert "Traceback" not in result.err


def test_a_refused_connection_is_one_line_exit_4(cli: Cli, monkeypatch: pytest.MonkeyPatch
                                                  ) -> None:
    secret = "Sup3r-" + secrets.token_hex(8)
    monkeypatch.setenv("NHICTL_DB", f"postgresql://alice:{secret}@127.0.0.1:{free_port()}/inv")
    monkeypatch.setenv("NHICTL_KEY", base64.b64encode(bytes(KEY_BYTES)).decode())
    for argv in (["init"], ["inventory", "list"], ["--log-format", "json", "check"]):
        result = cli(*argv)
        assert result.code == 4, (argv, result)
        assert "cannot reach inventory postgresql://***@127.0.0.1" in result.err
        assert "Connection refused" in result.err or "connection refused" in result.err
        assert secret not in result.out + result.err and "Traceback" not in result.err


def test_a_postgresql_url_without_key_says_what_to_set(cli: Cli, monkeypatch: pytest.MonkeyPatch
                                                      ) -> None:
    monkeypatch.delenv("NHICTL_KEY_FILE", raising=False)
    monkeypatch.delenv("NHICTL_KEY", raising=False)
    result = cli("--db", f"postgresql://alice@127.0.0.1:{free_port()}/inv", "init")
    assert result.code == 3, result
    assert "set NHICTL_KEY_FILE" in result.err and "NHICTL_KEY to the key itself" in result.err
    assert "head -c 32 /dev/urandom | base64" in result.err


@pytest.mark.parametrize("value", ["not base64!", base64.b64encode(b"short").decode(),
                                   base64.b64encode(bytes(33)).decode()])
def test_a_malformed_key_in_the_environment_is_refused_unshown(
        cli: Cli, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("NHICTL_KEY", value)
    result = cli("init")
    assert result.code == 3, result
    assert "NHICTL_KEY is not a base64-encoded 32-byte key" in result.err
    assert value not in result.err


def test_key_from_environment_and_key_file_together_are_refused(
        cli: Cli, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("NHICTL_KEY", base64.b64encode(bytes(KEY_BYTES)).decode())
    monkeypatch.setenv("NHICTL_KEY_FILE", str(tmp_path / "k"))
    result = cli("init")
    assert result.code == 3 and "set only one" in result.err, result


# -- against a real server ------------------------------------------------------------------


@needs_server
def test_init_creates_stamps_and_opens_a_postgresql_inventory(cli: Cli, pg_env: str) -> None:
    key = Path(os.environ["NHICTL_KEY_FILE"])
    result = cli("init")
    assert result.code == 0, result
    assert "inventory created: postgresql://" in result.err
    assert stamped_version(pg_env) == str(migrations.SCHEMA_VERSION)
    assert {"meta", "bindings", "runs", "events"} <= table_names(pg_env)
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and len(key.read_bytes()) == KEY_BYTES
    again = cli("init")
    assert again.code == 0 and "inventory current" in again.err, again
    listed = cli("inventory", "list", "-o", "json")
    assert listed.code == 0 and json.loads(listed.out)["bindings"] == [], listed


@needs_server
@pytest.mark.parametrize("scheme", ["postgres", "postgresql+psycopg"])
def test_every_postgresql_spelling_opens_the_same_inventory(
        cli: Cli, pg_env: str, scheme: str) -> None:
    assert cli("init").code == 0
    result = cli("--db", pg_env.replace("postgresql", scheme, 1), "inventory", "list")
    assert result.code == 0, result


@needs_server
def test_a_migration_commits_with_its_stamp_on_postgresql(
        pg_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    inv, _ = engine_mod.open_inventory(pg_env, create=True)
    inv.dispose()
    current = migrations.SCHEMA_VERSION

    def add_table(conn: object) -> None:
        conn.execute(text("CREATE TABLE extra_step (x INTEGER)"))  # type: ignore[attr-defined]

    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, (current + 1, "test step", add_table)])
    monkeypatch.setattr(engine_mod, "SCHEMA_VERSION", current + 1)
    inv, action = engine_mod.open_inventory(pg_env, create=True)
    inv.dispose()
    assert action == "migrated" and stamped_version(pg_env) == str(current + 1)
    assert "extra_step" in table_names(pg_env)


@needs_server
def test_a_failing_migration_leaves_the_previous_version_intact(
        cli: Cli, pg_env: str, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("init").code == 0
    current = migrations.SCHEMA_VERSION

    def broken(conn: object) -> None:
        # DDL first (PostgreSQL rolls DDL back too), then a real server error: BINDINGS
        # exists already.
        conn.execute(text("CREATE TABLE half_done (x INTEGER)"))  # type: ignore[attr-defined]
        conn.execute(text("ALTER TABLE bindings ADD COLUMN half_col TEXT"))  # type: ignore[attr-defined]
        tables.BINDINGS.create(conn)  # type: ignore[arg-type]

    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, (current + 1, "broken", broken)])
    monkeypatch.setattr(engine_mod, "SCHEMA_VERSION", current + 1)
    result = cli("init")
    assert result.code == 3, result
    assert "cannot open inventory postgresql://" in result.err and "Traceback" not in result.err
    assert stamped_version(pg_env) == str(current)
    assert "half_done" not in table_names(pg_env)
    engine = create_engine(pg_env.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        columns = {c["name"] for c in inspect(engine).get_columns("bindings")}
    finally:
        engine.dispose()
    assert "half_col" not in columns


@needs_server
def test_a_missing_database_is_one_line_exit_3(cli: Cli, pg_env: str) -> None:
    result = cli("--db", pg_env.rsplit("/", 1)[0] + "/no_such_db", "init")
    assert result.code == 3, result
    assert 'database "no_such_db" does not exist' in result.err and "createdb" in result.err
    assert "Traceback" not in result.err


@needs_server
def test_the_key_can_live_in_an_environment_variable(
        cli: Cli, pg_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv("NHICTL_KEY_FILE")
    key = secrets.token_bytes(KEY_BYTES)
    monkeypatch.setenv("NHICTL_KEY", base64.b64encode(key).decode())
    before = set(tmp_path.rglob("*"))
    assert cli("init").code == 0
    assert set(tmp_path.rglob("*")) == before  # no key file anywhere
    token = "xoxp-" + "1" * 12 + "-" + secrets.token_hex(12)
    on_pg = cli("hash", stdin=token)
    # The same key in a file, on a SQLite inventory: the same fingerprint.
    monkeypatch.delenv("NHICTL_KEY")
    key_file = tmp_path / "k"
    key_file.write_bytes(key)
    key_file.chmod(0o600)
    monkeypatch.setenv("NHICTL_KEY_FILE", str(key_file))
    monkeypatch.setenv("NHICTL_DB", str(tmp_path / "other.db"))
    assert cli("init").code == 0
    on_sqlite = cli("hash", stdin=token)
    assert on_pg.code == on_sqlite.code == 0 and on_pg.out == on_sqlite.out and on_pg.out
    # A rekey on PostgreSQL is a new NHICTL_KEY, not --new-key.
    monkeypatch.setenv("NHICTL_DB", pg_env)
    monkeypatch.delenv("NHICTL_KEY_FILE")
    monkeypatch.setenv("NHICTL_KEY", base64.b64encode(key).decode())
    result = cli("init", "--new-key")
    assert result.code == 2 and "set NHICTL_KEY to a new key" in result.err, result


@needs_server
def test_a_password_in_nhictl_db_is_never_shown(
        cli: Cli, pg_env: str, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
        token_export: object) -> None:
    secret = "Pg-" + secrets.token_hex(10)
    user_url = pg_env.replace("://nhictl@", f"://nhictl:{secret}@", 1)  # trust: not checked
    monkeypatch.setenv("NHICTL_DB", user_url)
    export = token_export.path  # type: ignore[attr-defined]
    runs = [
        cli("init"), cli("-v", "init"), cli("--log-format", "json", "init"),
        cli("reconcile", "--source", f"file:{export}", "--no-validate"),
        cli("--log-format", "json", "reconcile", "--source", f"file:{export}", "--no-validate"),
        cli("inventory", "list"), cli("check", "-o", "json"), cli("events"),
        cli("sources", "list"), cli("report", "evidence", "--since", "90d"),
        cli("--db", user_url.rsplit("/", 1)[0] + "/no_such_db", "inventory", "list"),
        cli("--log-format", "json", "inventory", "show", "no-such-binding"),
    ]
    monkeypatch.setenv("NHICTL_DB", user_url.rsplit("/", 1)[0] + "/no_such_db")
    runs.append(cli("--log-format", "json", "-v", "init"))
    monkeypatch.setenv("NHICTL_DB", re.sub(r":\d+/", f":{free_port()}/", user_url))
    runs.append(cli("-v", "check"))
    monkeypatch.setenv("NHICTL_DB", f"{pg_env}?password={secret}")  # libpq's other spelling
    runs.append(cli("--log-format", "json", "init"))
    assert [r.code for r in runs[:10]] == [0, 0, 0, 0, 0, 0, 0, 0, 0, 0], runs
    assert [r.code for r in runs[10:]] == [2, 2, 3, 4, 0], runs[10:]
    shown = "\n".join(r.out + r.err for r in runs)
    assert "postgresql://***@" in shown and "?password=***" in shown
    assert secret not in shown and "Traceback" not in shown


@pytest.fixture
def auth_url(pg: Cluster) -> Iterator[str]:
    """A database that asks for a password (scram), the rest of the cluster trusting."""
    password = "Pw-" + secrets.token_hex(8)
    _sql(pg, f"DROP DATABASE IF EXISTS {AUTH_DB}", f"CREATE DATABASE {AUTH_DB}",
         f"DROP ROLE IF EXISTS {AUTH_ROLE}",
         f"CREATE ROLE {AUTH_ROLE} LOGIN PASSWORD '{password}'",
         f"ALTER DATABASE {AUTH_DB} OWNER TO {AUTH_ROLE}")
    hba = pg.data_dir / "pg_hba.conf"
    original = hba.read_text()
    hba.write_text(f"host {AUTH_DB} all 127.0.0.1/32 scram-sha-256\n" + original)
    _sql(pg, "SELECT pg_reload_conf()")
    try:
        yield f"postgresql://{AUTH_ROLE}@127.0.0.1:{pg.port}/{AUTH_DB}#{password}"
    finally:
        hba.write_text(original)
        _sql(pg, "SELECT pg_reload_conf()", f"DROP DATABASE IF EXISTS {AUTH_DB} WITH (FORCE)",
             f"DROP ROLE IF EXISTS {AUTH_ROLE}")


@needs_server
def test_passwords_come_from_libpq_or_the_configured_variable(
        cli: Cli, nhictl_env: Path, auth_url: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    url, _, password = auth_url.partition("#")
    for var in ("NHICTL_KEY", "PGPASSWORD", "PGSERVICE", "PGPASSFILE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))  # no ~/.pgpass of the machine's
    monkeypatch.setenv("NHICTL_DB", url)
    monkeypatch.setenv("NHICTL_KEY_FILE", str(tmp_path / "inventory.key"))
    none = cli("init")
    assert none.code == 3 and "cannot log in to inventory" in none.err, none
    assert "PGPASSWORD" in none.err
    monkeypatch.setenv("PGPASSWORD", "wrong-" + secrets.token_hex(4))
    wrong = cli("init")
    assert wrong.code == 3 and "password authentication failed" in wrong.err, wrong
    monkeypatch.setenv("PGPASSWORD", password)
    assert cli("init").code == 0
    monkeypatch.delenv("PGPASSWORD")
    pgpass = write_private(tmp_path / "pgpass", "x")
    pgpass.write_text(f"127.0.0.1:*:{AUTH_DB}:{AUTH_ROLE}:{password}\n")
    monkeypatch.setenv("PGPASSFILE", str(pgpass))
    assert cli("inventory", "list").code == 0
    monkeypatch.delenv("PGPASSFILE")
    config = tmp_path / "nhictl.toml"
    config.write_text('[inventory]\npassword_env = "NHICTL_PG_PASSWORD"\n')
    unset = cli("--config", str(config), "inventory", "list")
    assert unset.code == 3 and "NHICTL_PG_PASSWORD is not set" in unset.err, unset
    monkeypatch.setenv("NHICTL_PG_PASSWORD", password)
    listed = cli("--config", str(config), "inventory", "list")
    assert listed.code == 0, listed
    shown = none.err + wrong.err + unset.err + listed.out + listed.err
    assert password not in shown


@needs_server
def test_the_readme_walkthrough_runs_on_postgresql(
        pg_env: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from nhictl.sandbox.slack_server import SlackSandbox
    from tests import test_readme_commands as readme
    from tests.cli.e2e import nhictl

    world, tokens = readme._world(tmp_path)
    with SlackSandbox(world) as slack:
        env = {"NHICTL_SLACK_API_URL": slack.url, "NHICTL_ACTOR": "secops"}
        for argv in readme.readme_commands():
            if argv[0] == "chmod":
                os.chmod(argv[2], int(argv[1], 8))
                continue
            if readme.FILLED in argv and not (tmp_path / readme.FILLED).exists():
                readme._fill(tmp_path / "q4-review.csv", tmp_path / readme.FILLED)
            result = nhictl(*argv[1:], env=env)
            expected = 1 if argv[1:3] == ["check", "--fail-on"] else 0
            assert result.code == expected, f"$ {' '.join(argv)}\n{result.err}"
        assert slack.count("auth.revoke") == 1
        assert slack.count("auth.revoke", tokens["bob"]) == 1


@needs_server
def test_listings_come_out_in_the_same_order_on_both_engines(
        cli: Cli, pg: Cluster, pg_env: str, monkeypatch: pytest.MonkeyPatch,
        tmp_path: Path) -> None:
    """A database collated like most servers (ICU en-US: ``alice`` < ``Bob``, NULL last)
    lists bindings in SQLite's order (bytes, NULL first)."""
    from nhictl.sandbox.dataset import generate

    _sql(pg, "DROP DATABASE IF EXISTS collated WITH (FORCE)",
         "CREATE DATABASE collated TEMPLATE template0 LOCALE_PROVIDER icu "
         "ICU_LOCALE 'en-US' LOCALE 'C'")
    connections = generate().export(with_tokens=False)
    for i, conn in enumerate(connections[:12]):  # mixed case, and owners without an email
        conn["owner_email"] = None if i % 4 == 0 else (
            conn["owner_email"].capitalize() if i % 2 else conn["owner_email"])
    export = write_private(tmp_path / "export.json", connections)
    outputs = []
    try:
        for db in (str(tmp_path / "inv.db"), pg.url("collated")):
            monkeypatch.setenv("NHICTL_DB", db)
            assert cli("init").code == 0
            assert cli("reconcile", "--source", f"file:{export}", "--no-validate").code == 0
            listed = cli("inventory", "list", "-o", "csv")
            review = cli("report", "access-review", "-o", "csv")
            assert listed.code == review.code == 0, (listed, review)
            outputs.append((listed.out.replace(db, "DB"), review.out))
    finally:
        _sql(pg, "DROP DATABASE IF EXISTS collated WITH (FORCE)")
    assert outputs[0] == outputs[1]


@needs_server
def test_a_nul_character_from_a_source_is_stored_not_fatal(
        cli: Cli, pg_env: str, tmp_path: Path) -> None:
    from nhictl.sandbox.dataset import generate

    connections = generate().export(with_tokens=False)[:3]
    connections[0]["owner_name"] = "Al\x00an"
    export = write_private(tmp_path / "export.json", connections)
    assert cli("init").code == 0
    result = cli("reconcile", "--source", f"file:{export}", "--no-validate")
    assert result.code == 0, result
    listed = json.loads(cli("inventory", "list", "-o", "json").out)["bindings"]
    assert "Al\ufffdan" in {b["owner_name"] for b in listed}


@needs_server
def test_a_read_only_server_is_exit_3_and_reads_still_work(
        cli: Cli, pg: Cluster, pg_env: str, token_export: object) -> None:
    assert cli("init").code == 0
    name = pg_env.rsplit("/", 1)[1]
    _sql(pg, f"ALTER DATABASE {name} SET default_transaction_read_only = on")
    export = token_export.path  # type: ignore[attr-defined]
    result = cli("reconcile", "--source", f"file:{export}", "--no-validate")
    assert result.code == 3, result
    assert "is read-only (a standby or a read-only transaction)" in result.err
    assert "Traceback" not in result.err
    assert cli("inventory", "list").code == 0


class _PgFailure(Exception):
    """Shaped like a psycopg error: the seam reads ``sqlstate`` (psycopg stays optional)."""

    def __init__(self, message: str, sqlstate: str | None) -> None:
        super().__init__(message)
        self.sqlstate = sqlstate


@pytest.mark.parametrize(("sqlstate", "message", "exit_code", "words"), [
    ("53100", "could not extend file: No space left on device", 4, "disk is full"),
    ("40001", "could not serialize access", 4, "serialization failure"),
    ("40P01", "deadlock detected", 4, "deadlock"),
    ("25006", "cannot execute INSERT in a read-only transaction", 3, "read-only"),
    ("57P01", "terminating connection due to administrator command", 4, "cannot reach"),
    ("53300", "sorry, too many clients already", 4, "cannot reach"),
    ("42501", "permission denied for table bindings", 3, "permission denied"),
    (None, 'connection to server at "db", port 5432 failed: FATAL:  password authentication '
           'failed for user "nhictl"', 3, "cannot log in"),
    (None, 'connection to server at "db" failed: timeout expired', 4, "cannot reach"),
])
def test_postgresql_failures_become_one_line_nhictl_errors(
        sqlstate: str | None, message: str, exit_code: int, words: str) -> None:
    error = engine_mod.storage_error("postgresql://***@db/inv", _PgFailure(message, sqlstate))
    assert error is not None and error.exit_code == exit_code
    assert words in error.message and "postgresql://***@db/inv" in error.message
    assert "\n" not in error.message
    assert engine_mod.storage_error("postgresql://***@db/inv",
                                    _PgFailure("division by zero", "22012")) is None
