"""Creating, opening, refusing and migrating the inventory, and its fingerprint key."""

from __future__ import annotations

import os
import sqlite3
import stat
from pathlib import Path

import pytest

from nhictl.errors import (
    InvalidInputError,
    NotInitializedError,
    SchemaVersionError,
)
from nhictl.store import engine as engine_mod
from nhictl.store import migrations
from nhictl.store.engine import KEY_BYTES, open_inventory
from tests.conftest import Cli
from tests.engines import InventoryDb


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def schema_version(db: Path) -> str:
    conn = sqlite3.connect(db)
    try:
        return str(conn.execute("select value from meta where key='schema_version'").fetchone()[0])
    finally:
        conn.close()


def foreign_db(path: Path, *, meta_version: str | None) -> Path:
    """A plain sqlite file (rollback journal, as another tool would leave it)."""
    conn = sqlite3.connect(path)
    if meta_version is None:
        conn.execute("create table things (x integer)")
        conn.execute("insert into things values (1)")
    else:
        conn.execute("create table meta (key text primary key, value text)")
        conn.execute("insert into meta values ('schema_version', ?)", (meta_version,))
    conn.commit()
    conn.close()
    return path


def snapshot(path: Path) -> tuple[bytes, int, list[str]]:
    names = sorted(n for n in os.listdir(path.parent) if not n.endswith(".lock"))
    return path.read_bytes(), path.stat().st_mtime_ns, names


# -- creation --------------------------------------------------------------------------------


def test_init_creates_private_dirs_db_and_key(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                              ) -> None:
    monkeypatch.delenv("NHICTL_KEY_FILE", raising=False)
    db = tmp_path / "a" / "b" / "inventory.db"
    inv, action = open_inventory(str(db), create=True)
    try:
        assert action == "created"
        assert db.is_file() and mode(db) == 0o600
        assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700
        key = db.with_name("inventory.db.key")
        assert key.is_file() and mode(key) == 0o600
        assert key.read_bytes() == inv.key and len(inv.key) == KEY_BYTES
        assert schema_version(db) == str(migrations.SCHEMA_VERSION)
    finally:
        inv.dispose()


def test_init_twice_is_idempotent_and_keeps_the_key(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    first, action1 = open_inventory(str(db), create=True)
    first.dispose()
    second, action2 = open_inventory(str(db), create=True)
    second.dispose()
    assert (action1, action2) == ("created", "current")
    assert first.key == second.key
    reader, action3 = open_inventory(str(db))
    reader.dispose()
    assert action3 == "opened" and reader.key == first.key


def test_cli_init_reports_and_is_idempotent(cli: Cli, nhictl_env: Path,
                                            inventory_db: InventoryDb) -> None:
    first = cli("init")
    assert first.code == 0, first
    assert "created" in first.err and first.out == ""
    key = nhictl_env.with_name(nhictl_env.name + ".key").read_bytes()
    again = cli("init")
    assert again.code == 0 and "current" in again.err, again
    assert nhictl_env.with_name(nhictl_env.name + ".key").read_bytes() == key
    assert mode(nhictl_env.parent) == 0o700  # the key's directory, on both engines
    if inventory_db.path is not None:
        assert mode(inventory_db.path) == 0o600


def test_key_file_location_can_be_overridden(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    key = tmp_path / "keys" / "k.bin"
    monkeypatch.setenv("NHICTL_KEY_FILE", str(key))
    inv, _ = open_inventory(str(tmp_path / "inv.db"), create=True)
    inv.dispose()
    assert key.read_bytes() == inv.key and mode(key) == 0o600
    assert not (tmp_path / "inv.db.key").exists()


# -- refusing ----------------------------------------------------------------------------------


@pytest.mark.parametrize("create", [True, False])
def test_newer_schema_is_refused_and_left_untouched(tmp_path: Path, create: bool) -> None:
    db = foreign_db(tmp_path / "inv.db", meta_version="99")
    before = snapshot(db)
    with pytest.raises(SchemaVersionError) as err:
        open_inventory(str(db), create=create)
    assert err.value.exit_code == 3
    assert "99" in err.value.message and "newer" in err.value.message
    assert snapshot(db) == before  # bytes, mtime, and no -wal/-shm/.key created


@pytest.mark.sqlite_only("a foreign SQLite file, byte for byte untouched")
def test_cli_refuses_newer_schema_with_exit_3(cli: Cli, nhictl_env: Path) -> None:
    nhictl_env.parent.mkdir()
    db = foreign_db(nhictl_env, meta_version=str(migrations.SCHEMA_VERSION + 1))
    before = snapshot(db)
    for argv in (["init"], ["inventory", "list"], ["events"],
                 ["reconcile", "--no-validate", "--source", "file:x.json"]):
        result = cli(*argv)
        assert result.code == 3, (argv, result)
        assert "newer" in result.err and "Traceback" not in result.err
        assert snapshot(db) == before, argv


def test_newer_schema_of_a_real_inventory_is_refused_untouched(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    inv, _ = open_inventory(str(db), create=True)
    inv.dispose()
    conn = sqlite3.connect(db)
    conn.execute("update meta set value=? where key='schema_version'",
                 (str(migrations.SCHEMA_VERSION + 1),))
    conn.commit()
    conn.close()
    before = snapshot(db)
    with pytest.raises(SchemaVersionError):
        open_inventory(str(db), create=True)
    assert snapshot(db) == before


@pytest.mark.parametrize("create", [True, False])
def test_foreign_sqlite_file_is_refused_untouched(tmp_path: Path, create: bool) -> None:
    db = foreign_db(tmp_path / "app.db", meta_version=None)
    before = snapshot(db)
    with pytest.raises(SchemaVersionError, match="not an nhictl inventory"):
        open_inventory(str(db), create=create)
    assert snapshot(db) == before


def test_meta_without_version_is_refused(tmp_path: Path) -> None:
    db = foreign_db(tmp_path / "x.db", meta_version="banana")
    with pytest.raises(SchemaVersionError, match="no schema version"):
        open_inventory(str(db))


@pytest.mark.sqlite_only("foreign and garbage files given as --db")
def test_cli_foreign_and_garbage_files_exit_3(cli: Cli, tmp_path: Path) -> None:
    app_db = foreign_db(tmp_path / "app.db", meta_version=None)
    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(b"this is not sqlite at all\n" * 10)
    for db in (app_db, garbage):
        before = db.read_bytes()
        result = cli("--db", str(db), "init")
        assert result.code == 3, result
        assert str(db.name) in result.err and "Traceback" not in result.err
        assert len(result.err.strip().splitlines()) <= 2
        assert db.read_bytes() == before


@pytest.mark.parametrize("argv", [
    ["inventory", "list"],
    ["inventory", "show", "b-0"],
    ["events"],
    ["hash"],
    ["reconcile", "--no-validate", "--source", "file:x.json"],
])
def test_commands_before_init_exit_3_with_hint(cli: Cli, nhictl_env: Path,
                                               argv: list[str], inventory_db: InventoryDb) -> None:
    result = cli(*argv, stdin="xoxp-fake-token\n")
    assert result.code == 3, result
    assert "nhictl init" in result.err
    assert not nhictl_env.exists() and not nhictl_env.parent.exists()  # no file, no key
    assert inventory_db.is_sqlite or inventory_db.tables() == []  # an empty database stays so


def test_empty_file_is_not_initialized(tmp_path: Path) -> None:
    db = tmp_path / "empty.db"
    db.touch()
    with pytest.raises(NotInitializedError):
        open_inventory(str(db))


def test_missing_key_means_not_initialized(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    inv, _ = open_inventory(str(db), create=True)
    inv.dispose()
    (tmp_path / "inv.db.key").unlink()
    with pytest.raises(NotInitializedError) as err:
        open_inventory(str(db))
    assert err.value.hint and "nhictl init" in err.value.hint


def test_loose_or_wrong_size_key_is_refused(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    inv, _ = open_inventory(str(db), create=True)
    inv.dispose()
    key = tmp_path / "inv.db.key"
    key.chmod(0o644)
    with pytest.raises(InvalidInputError) as err:
        open_inventory(str(db))
    assert err.value.hint == f"chmod 600 {key}"
    key.chmod(0o600)
    key.write_bytes(b"short")
    with pytest.raises(InvalidInputError, match="32-byte key"):
        open_inventory(str(db))


@pytest.mark.parametrize("where", ["dir", "file-as-parent"])
@pytest.mark.sqlite_only("file system locations given as --db")
def test_unwritable_locations_exit_3_not_70(cli: Cli, tmp_path: Path, where: str) -> None:
    if where == "dir":
        target = tmp_path / "adir"
        target.mkdir()
    else:
        (tmp_path / "plain").write_text("x")
        target = tmp_path / "plain" / "inv.db"
    result = cli("--db", str(target), "init")
    assert result.code == 3, result
    assert "cannot create inventory" in result.err


def test_url_database_needs_an_explicit_key_file(tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NHICTL_KEY_FILE", raising=False)
    with pytest.raises(InvalidInputError, match="NHICTL_KEY_FILE"):
        engine_mod.key_path_for("postgresql://db/inv", None)
    url = f"sqlite:///{tmp_path / 'u.db'}"
    inv, action = open_inventory(url, create=True)
    inv.dispose()
    assert action == "created" and (tmp_path / "u.db.key").is_file()


def test_wal_mode_is_enabled_on_created_inventories(tmp_path: Path) -> None:
    db = tmp_path / "inv.db"
    inv, _ = open_inventory(str(db), create=True)
    inv.dispose()
    conn = sqlite3.connect(db)
    assert conn.execute("pragma journal_mode").fetchone()[0] == "wal"
    conn.close()


# -- migrations ------------------------------------------------------------------------------


def test_older_schema_is_migrated_by_init_and_refused_by_readers(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "inv.db"
    inv, _ = open_inventory(str(db), create=True)
    inv.dispose()
    calls: list[int] = []

    def add_column(conn: object) -> None:
        from sqlalchemy import text

        calls.append(1)
        conn.execute(text("CREATE TABLE extra_v2 (x INTEGER)"))  # type: ignore[attr-defined]

    current = migrations.SCHEMA_VERSION
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, (current + 1, "test step", add_column)])
    monkeypatch.setattr(engine_mod, "SCHEMA_VERSION", current + 1)

    with pytest.raises(SchemaVersionError) as err:
        open_inventory(str(db))
    assert err.value.hint and "nhictl init" in err.value.hint

    inv, action = open_inventory(str(db), create=True)
    inv.dispose()
    assert action == "migrated" and calls == [1]
    assert schema_version(db) == str(current + 1)
    inv, action = open_inventory(str(db), create=True)
    inv.dispose()
    assert action == "current" and calls == [1]


def test_a_failing_migration_leaves_the_old_version(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "inv.db"
    inv, _ = open_inventory(str(db), create=True)
    inv.dispose()

    def broken(conn: object) -> None:
        from sqlalchemy import text

        conn.execute(text("CREATE TABLE half_done (x INTEGER)"))  # type: ignore[attr-defined]
        raise RuntimeError("migration bug")

    current = migrations.SCHEMA_VERSION
    monkeypatch.setattr(migrations, "MIGRATIONS",
                        [*migrations.MIGRATIONS, (current + 1, "broken", broken)])
    monkeypatch.setattr(engine_mod, "SCHEMA_VERSION", current + 1)
    with pytest.raises(RuntimeError):
        open_inventory(str(db), create=True)
    assert schema_version(db) == str(current)
    conn = sqlite3.connect(db)
    names = {r[0] for r in conn.execute("select name from sqlite_master")}
    conn.close()
    assert "half_done" not in names
