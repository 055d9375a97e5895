"""The slack-store source against stores written by slack_sdk's own classes."""

from __future__ import annotations

import hashlib
import importlib
import os
import secrets
import sqlite3
import stat
import sys
import time
import types
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_sdk.oauth.installation_store import FileInstallationStore, Installation
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from sqlalchemy import create_engine

from nhictl.clock import iso
from nhictl.errors import ConfigError, SourceError
from nhictl.models import SourceRecord
from nhictl.sources.base import Source
from nhictl.sources.slack_store import SlackStoreSource

T0 = 1_700_000_000.0
USER_EXPIRES = 1_800_000_000
BOT_EXPIRES = 1_750_000_000
KINDS = ["sqlite", "sqlalchemy", "dir"]


def sqlalchemy_store_class() -> type:
    """slack_sdk's own SQLAlchemyInstallationStore.

    Its module imports ``AsyncEngine`` from ``sqlalchemy.ext.asyncio`` (typing only), which
    SQLAlchemy 2.1 refuses without greenlet; the sync store never touches it, so a stand-in is
    provided for the duration of that one import when greenlet is absent.
    """
    name = "slack_sdk.oauth.installation_store.sqlalchemy"
    try:
        module = importlib.import_module(name)
    except ImportError:
        saved = sys.modules.get("sqlalchemy.ext.asyncio")
        stub = types.ModuleType("sqlalchemy.ext.asyncio")
        stub.AsyncEngine = object  # type: ignore[attr-defined]
        sys.modules["sqlalchemy.ext.asyncio"] = stub
        try:
            module = importlib.import_module(name)
        finally:
            if saved is None:
                del sys.modules["sqlalchemy.ext.asyncio"]
            else:
                sys.modules["sqlalchemy.ext.asyncio"] = saved
    store_class: type = module.SQLAlchemyInstallationStore
    return store_class


def fake(prefix: str) -> str:
    return prefix + "fake" + secrets.token_hex(8)


@dataclass
class Built:
    store: str  # the store option, e.g. "sqlite:/tmp/x.db"
    root: Path  # directory holding only the store
    tokens: dict[str, str]  # label -> token


def installations(tokens: dict[str, str]) -> list[Installation]:
    """Chronological: first install, a second user, a re-install, an org install, a bot-only."""
    for label, prefix in (
        ("u1_old", "xoxp-"),
        ("bot_old", "xoxb-"),
        ("u2", "xoxp-"),
        ("bot_mid", "xoxb-"),
        ("u1_new", "xoxp-"),
        ("bot_new", "xoxb-"),
        ("u1_refresh", "xoxe-1-"),
        ("u3", "xoxp-"),
        ("org_bot", "xoxb-"),
        ("org_refresh", "xoxe-1-"),
        ("t2_bot", "xoxb-"),
    ):
        tokens[label] = fake(prefix)
    t1: dict[str, Any] = {"app_id": "A111", "team_id": "T1", "team_name": "Acme"}
    bot: dict[str, Any] = {"bot_id": "B1", "bot_user_id": "UB1"}
    return [
        Installation(
            **t1, **bot, user_id="U1", user_token=tokens["u1_old"],
            user_scopes="chat:write,channels:read", bot_token=tokens["bot_old"],
            bot_scopes="chat:write,channels:history", installed_at=T0,
            incoming_webhook_channel_id="C1", incoming_webhook_url="https://hooks.example/x",
        ),
        Installation(
            **t1, **bot, user_id="U2", user_token=tokens["u2"], user_scopes=["chat:write"],
            bot_token=tokens["bot_mid"], bot_scopes="chat:write", installed_at=T0 + 50,
        ),
        Installation(
            **t1, **bot, user_id="U1", user_token=tokens["u1_new"], user_scopes="chat:write",
            user_refresh_token=tokens["u1_refresh"], user_token_expires_at=USER_EXPIRES,
            bot_token=tokens["bot_new"], bot_scopes="chat:write", installed_at=T0 + 100,
            incoming_webhook_channel_id="C2",
        ),
        Installation(
            app_id="A111", enterprise_id="E1", enterprise_name="Org", team_id=None,
            is_enterprise_install=True, user_id="U3", user_token=tokens["u3"],
            user_scopes="chat:write", bot_token=tokens["org_bot"], bot_id="B2",
            bot_user_id="UB2", bot_scopes="chat:write", bot_refresh_token=tokens["org_refresh"],
            bot_token_expires_at=BOT_EXPIRES, installed_at=T0 + 200,
        ),
        Installation(
            app_id="A111", team_id="T2", team_name="Beta", user_id="U4",
            bot_token=tokens["t2_bot"], bot_id="B3", bot_user_id="UB3",
            bot_scopes="chat:write,users:read", installed_at=T0 + 300,
        ),
    ]  # fmt: skip


def private(root: Path) -> None:
    for dirpath, _dirs, files in os.walk(root):
        for f in files:
            os.chmod(Path(dirpath, f), 0o600)


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    """Stores are written as apps write them: under the usual umask 022."""
    old = os.umask(0o022)
    yield
    os.umask(old)


def build(kind: str, tmp_path: Path, client_id: str | None = None,
          tables: dict[str, str] | None = None) -> Built:
    """A store written by slack_sdk's own class, files left with the modes it gave them."""
    root = tmp_path / "store"
    root.mkdir()
    tokens: dict[str, str] = {}
    items = installations(tokens)
    if kind == "sqlite":
        db = root / "installations.db"
        s3 = SQLite3InstallationStore(database=str(db), client_id="111.222")
        for item in items:
            s3.save(item)
        store = f"sqlite:{db}"
    elif kind == "sqlalchemy":
        db = root / "alchemy.db"
        engine = create_engine(f"sqlite:///{db}")
        sa = sqlalchemy_store_class()(client_id="111.222", engine=engine, **(tables or {}))
        sa.create_tables()
        for item in items:
            sa.save(item)
        engine.dispose()
        store = f"sqlalchemy:sqlite:///{db}"
    else:
        fs = FileInstallationStore(base_dir=str(root), client_id=client_id)
        for item in items:
            fs.save(item)
        store = f"dir:{root}"
    return Built(store, root, tokens)


def by_id(records: list[SourceRecord]) -> dict[str, SourceRecord]:
    return {r.connection_id: r for r in records}


def snapshot(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.mark.parametrize("kind", KINDS)
def test_collects_newest_user_and_bot_tokens(kind: str, tmp_path: Path) -> None:
    built = build(kind, tmp_path)
    source = SlackStoreSource("bolt", built.store, tenant="acme", default_purpose=["notify"])
    assert isinstance(source, Source)
    records = by_id(list(source.collect()))
    assert sorted(records) == [
        "A111:-:T1:U1:user",
        "A111:-:T1:U2:user",
        "A111:-:T1:bot",
        "A111:-:T2:bot",
        "A111:E1:-:U3:user",
        "A111:E1:-:bot",
    ]
    tok = built.tokens

    u1 = records["A111:-:T1:U1:user"]  # the re-install wins
    assert u1.token is not None and u1.token.reveal() == tok["u1_new"]
    assert (u1.token_kind, u1.owner_id, u1.source_slack_user_id) == ("user", "U1", "U1")
    assert (u1.source_team_id, u1.tenant, u1.purpose) == ("T1", "acme", ["notify"])
    assert u1.declared_scopes == ["chat:write"]
    assert u1.token_expires_at == iso(datetime.fromtimestamp(USER_EXPIRES, UTC))
    assert u1.token_expires_at.endswith("Z")
    assert u1.has_refresh_token is True
    assert u1.channel_id == "C2"
    assert u1.owner_email is None
    meta = u1.metadata
    assert (meta["app_id"], meta["team_name"], meta["enterprise_id"]) == ("A111", "Acme", None)
    assert (meta["bot_id"], meta["is_enterprise_install"]) == ("B1", False)
    assert meta["incoming_webhook_channel_id"] == "C2"
    assert meta["installed_at"] == u1.created_at
    assert u1.created_at is not None and u1.created_at.endswith("Z")

    u2 = records["A111:-:T1:U2:user"]
    assert u2.token is not None and u2.token.reveal() == tok["u2"]
    assert (u2.token_expires_at, u2.has_refresh_token, u2.channel_id) == (None, False, None)

    bot = records["A111:-:T1:bot"]  # newest bot of the workspace
    assert bot.token is not None and bot.token.reveal() == tok["bot_new"]
    assert (bot.token_kind, bot.source_slack_user_id, bot.owner_id) == ("bot", "UB1", "U1")
    assert bot.declared_scopes == ["chat:write"]
    assert bot.token_expires_at is None and bot.has_refresh_token is False

    org_user = records["A111:E1:-:U3:user"]
    assert org_user.source_team_id is None
    assert org_user.metadata["enterprise_id"] == "E1"
    assert org_user.metadata["is_enterprise_install"] is True
    org_bot = records["A111:E1:-:bot"]
    assert org_bot.token is not None and org_bot.token.reveal() == tok["org_bot"]
    assert org_bot.token_expires_at == iso(datetime.fromtimestamp(BOT_EXPIRES, UTC))
    assert org_bot.has_refresh_token is True
    assert (org_bot.owner_id, org_bot.source_slack_user_id) == ("U3", "UB2")

    t2 = records["A111:-:T2:bot"]  # bot-only install: no user binding, installer owns the bot
    assert (t2.owner_id, t2.declared_scopes) == ("U4", ["chat:write", "users:read"])
    assert t2.token is not None and t2.token.reveal() == tok["t2_bot"]

    if kind != "sqlite":  # SQLite3InstallationStore stamps installed_at itself
        assert u1.created_at == iso(datetime.fromtimestamp(T0 + 100, UTC))
        assert bot.created_at == iso(datetime.fromtimestamp(T0 + 100, UTC))
    for record in records.values():
        assert source.fetch_token(record).token == record.token
        text = repr(record) + str(record.metadata) + source.describe()
        assert not any(t in text for t in tok.values())
        assert "hooks.example" not in str(record.metadata)


@pytest.mark.parametrize("kind", KINDS)
def test_store_is_byte_for_byte_unchanged(kind: str, tmp_path: Path) -> None:
    built = build(kind, tmp_path)
    before = snapshot(built.root)
    source = SlackStoreSource("bolt", built.store)
    assert len(list(source.collect())) == 6
    assert source.check().startswith("ok: 3 user and 3 bot tokens")
    assert snapshot(built.root) == before  # same files, same bytes: no -wal, -journal, tables


def test_file_store_with_client_id_level(tmp_path: Path) -> None:
    built = build("dir", tmp_path, client_id="111.222")
    records = by_id(list(SlackStoreSource("bolt", built.store).collect()))
    assert len(records) == 6
    assert records["A111:-:T1:bot"].metadata["client_id"] == "111.222"


def test_sqlite_path_also_reads_a_sqlalchemy_store(tmp_path: Path) -> None:
    built = build("sqlalchemy", tmp_path)
    path = built.store.removeprefix("sqlalchemy:sqlite:///")
    records = by_id(list(SlackStoreSource("bolt", f"sqlite:{path}").collect()))
    assert records["A111:-:T1:U1:user"].token_expires_at == iso(
        datetime.fromtimestamp(USER_EXPIRES, UTC)
    )


def test_sqlite_tie_on_installed_at_is_broken_by_row_id(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SQLite3InstallationStore(database=str(db), client_id="c")
    first, second = fake("xoxp-"), fake("xoxp-")
    for token in (first, second):  # same second: the default current_timestamp ties
        store.save(Installation(app_id="A", team_id="T", user_id="U", user_token=token))
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE slack_installations SET installed_at = '2024-01-01 00:00:00'")
    conn.close()
    db.chmod(0o600)
    (record,) = SlackStoreSource("s", f"sqlite:{db}").collect()
    assert record.token is not None and record.token.reveal() == second
    assert record.created_at == "2024-01-01T00:00:00Z"


def test_older_layout_without_optional_columns(tmp_path: Path) -> None:
    """A pre-3.8 table (no refresh/expiry/token_type columns, no slack_bots) still reads."""
    db = tmp_path / "old.db"
    store = SQLite3InstallationStore(database=str(db), client_id="c")
    user, bot = fake("xoxp-"), fake("xoxb-")
    store.save(
        Installation(
            app_id="A", team_id="T", user_id="U", user_token=user, user_scopes="chat:write",
            bot_token=bot, bot_id="B", bot_user_id="UB", bot_scopes="chat:write",
        )
    )  # fmt: skip
    keep = (
        "id, client_id, app_id, enterprise_id, team_id, team_name, bot_token, bot_id, "
        "bot_user_id, bot_scopes, user_id, user_token, user_scopes, is_enterprise_install, "
        "installed_at"
    )
    with sqlite3.connect(db) as conn:
        conn.execute(f"CREATE TABLE old AS SELECT {keep} FROM slack_installations")
        conn.execute("DROP TABLE slack_installations")
        conn.execute("DROP TABLE slack_bots")
        conn.execute("ALTER TABLE old RENAME TO slack_installations")
    conn.close()
    db.chmod(0o600)
    records = by_id(list(SlackStoreSource("s", f"sqlite:{db}").collect()))
    assert sorted(records) == ["A:-:T:U:user", "A:-:T:bot"]  # bot from the installation row
    assert records["A:-:T:bot"].token is not None
    assert records["A:-:T:bot"].token.reveal() == bot
    assert records["A:-:T:U:user"].token_expires_at is None
    assert records["A:-:T:U:user"].has_refresh_token is False


@pytest.mark.parametrize("kind", KINDS)
def test_store_with_default_modes_is_read_and_its_exposure_noted(kind: str,
                                                                  tmp_path: Path) -> None:
    """slack_sdk leaves its files 0644 under umask 022: read them, note the exposure."""
    built = build(kind, tmp_path)
    files = [p for p in sorted(built.root.rglob("*")) if p.is_file()]
    assert {stat.S_IMODE(p.stat().st_mode) for p in files} == {0o644}  # as slack_sdk wrote
    source = SlackStoreSource("bolt", built.store)
    assert len(list(source.collect())) == 6
    (seen,) = source.observations()
    assert (seen.kind, seen.subject) == ("store_file_exposed", str(
        built.root if kind == "dir" else files[0]))
    details = seen.details
    assert details["modes"] == {"0644": len(files)} and details["files_exposed"] == len(files)
    assert details["readable_by"] == ["group", "others"] and details["writable_by"] == []
    assert details["store"] == kind
    assert "warning: " in source.check() and "mode 0644" in source.check()

    private(built.root)
    assert len(list(source.collect())) == 6
    assert source.observations() == []  # fixed by the app: nothing to report
    assert source.check().endswith("tokens readable")


def test_sqlite_journal_files_are_examined_too(tmp_path: Path) -> None:
    built = build("sqlite", tmp_path)
    private(built.root)
    db = Path(built.store.removeprefix("sqlite:"))
    wal = Path(f"{db}-wal")
    wal.write_bytes(b"")
    wal.chmod(0o640)
    source = SlackStoreSource("bolt", built.store)
    list(source.collect())
    (seen,) = source.observations()
    assert seen.details["examples"] == [str(wal.resolve())]
    assert seen.details["readable_by"] == ["group"] and seen.details["modes"] == {"0640": 1}


@pytest.mark.parametrize(
    "store",
    ["sqlite:{d}/missing.db", "sqlalchemy:sqlite:///{d}/missing.db", "dir:{d}/missing"],
)
def test_missing_store_is_a_source_error(store: str, tmp_path: Path) -> None:
    source = SlackStoreSource("bolt", store.format(d=tmp_path))
    with pytest.raises(SourceError, match="not found") as info:
        list(source.collect())
    assert info.value.exit_code == 4
    assert list(tmp_path.iterdir()) == []  # nothing was created


@pytest.mark.parametrize("scheme", ["sqlite:", "sqlalchemy:sqlite:///"])
def test_sqlite_file_that_is_not_a_store(scheme: str, tmp_path: Path) -> None:
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE notes (id integer)")
    conn.close()
    other.chmod(0o600)
    before = snapshot(tmp_path)
    with pytest.raises(SourceError, match="not a slack_sdk installation store"):
        list(SlackStoreSource("x", f"{scheme}{other}").collect())
    assert snapshot(tmp_path) == before  # no tables created

    garbage = tmp_path / "garbage.db"
    garbage.write_text("this is not a database at all, just text " * 20)
    garbage.chmod(0o600)
    with pytest.raises(SourceError):
        list(SlackStoreSource("x", f"{scheme}{garbage}").collect())


def test_dir_that_is_not_a_store(tmp_path: Path) -> None:
    (tmp_path / "random").mkdir()
    (tmp_path / "random" / "file.txt").write_text("hi")
    with pytest.raises(SourceError, match="not a slack_sdk FileInstallationStore"):
        list(SlackStoreSource("x", f"dir:{tmp_path}").collect())
    empty = tmp_path / "empty"
    empty.mkdir()
    assert list(SlackStoreSource("x", f"dir:{empty}").collect()) == []


def test_corrupt_json_in_dir_store(tmp_path: Path) -> None:
    built = build("dir", tmp_path)
    target = next(built.root.rglob("installer-U1-latest"))
    target.write_text('{"user_id": ')
    target.chmod(0o600)
    with pytest.raises(SourceError, match="not valid JSON"):
        list(SlackStoreSource("x", built.store).collect())


@pytest.mark.parametrize(
    "store",
    ["", "sqlite:", "mysql:/x", "file:/x", "dir", "sqlalchemy:not a url", "sqlalchemy:nope://h/d"],
)
def test_invalid_store_spec_is_a_config_error(store: str) -> None:
    with pytest.raises(ConfigError) as info:
        SlackStoreSource("bad", store)
    assert info.value.exit_code == 3


def test_sqlalchemy_url_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    built = build("sqlalchemy", tmp_path)
    monkeypatch.setenv("NHICTL_TEST_STORE_URL", built.store.removeprefix("sqlalchemy:"))
    source = SlackStoreSource("env", "sqlalchemy:${NHICTL_TEST_STORE_URL}")
    assert len(list(source.collect())) == 6
    monkeypatch.delenv("NHICTL_TEST_STORE_URL")
    with pytest.raises(ConfigError, match="NHICTL_TEST_STORE_URL"):
        list(source.collect())


def test_describe_hides_database_password() -> None:
    password = secrets.token_hex(6)
    source = SlackStoreSource(
        "pg", f"slack-store:sqlalchemy:postgresql://app:{password}@db.internal/slack"
    )
    assert password not in source.describe()
    assert "db.internal" in source.describe()
    assert source.kind == "slack-store"
    assert source.spec == f"slack-store:sqlalchemy:postgresql://app:{password}@db.internal/slack"


def test_store_being_written_is_read_consistently(tmp_path: Path) -> None:
    """An app holding an open connection does not stop a read, and nothing is left behind."""
    built = build("sqlite", tmp_path)
    db = Path(built.store.removeprefix("sqlite:"))
    app = sqlite3.connect(db)
    try:
        app.execute("SELECT count(*) FROM slack_installations").fetchone()
        assert len(list(SlackStoreSource("bolt", built.store).collect())) == 6
    finally:
        app.close()
    assert sorted(p.name for p in built.root.iterdir()) == ["installations.db"]


@pytest.fixture
def new_york(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """A local time zone far from UTC, so a naive timestamp read as local time shows."""
    monkeypatch.setenv("TZ", "America/New_York")
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.usefixtures("new_york")
@pytest.mark.parametrize("kind", KINDS)
def test_naive_store_timestamps_are_utc(kind: str, tmp_path: Path) -> None:
    built = build(kind, tmp_path)
    records = by_id(list(SlackStoreSource("bolt", built.store).collect()))
    assert records["A111:-:T1:U1:user"].token_expires_at == "2027-01-15T08:00:00Z"
    if kind != "sqlite":
        assert records["A111:-:T2:bot"].created_at == "2023-11-14T22:18:20Z"


def test_odd_characters_in_the_store_path(tmp_path: Path) -> None:
    odd = tmp_path / "a dir?#%x"
    odd.mkdir()
    db = odd / "store?.db"
    store = SQLite3InstallationStore(database=str(db), client_id="c")
    store.save(Installation(app_id="A", team_id="T", user_id="U", user_token=fake("xoxp-")))
    db.chmod(0o600)
    (record,) = SlackStoreSource("s", f"sqlite:{db}").collect()
    assert record.connection_id == "A:-:T:U:user"
    assert sorted(p.name for p in odd.iterdir()) == ["store?.db"]


def test_unreachable_database_is_a_source_error_without_the_password() -> None:
    password = "pw" + secrets.token_hex(6)
    source = SlackStoreSource("pg", f"sqlalchemy:postgresql://app:{password}@127.0.0.1:1/slack")
    with pytest.raises(SourceError) as info:
        list(source.collect())
    text = f"{info.value} {info.value.hint}"
    assert password not in text
    assert info.value.exit_code == 4


@pytest.mark.parametrize("client_id", [None, "111.222"])
def test_file_store_whose_teams_were_all_uninstalled_is_empty(client_id: str | None,
                                                              tmp_path: Path) -> None:
    """Bolt's uninstall (``delete_all``: delete_bot + delete_installation) removes the files
    by glob and leaves each ``{enterprise}-{team}`` directory behind, empty."""
    built = build("dir", tmp_path, client_id=client_id)
    fs = FileInstallationStore(base_dir=str(built.root), client_id=client_id)
    fs.delete_installation(enterprise_id=None, team_id="T1", user_id="U2")  # one user leaves
    records = by_id(list(SlackStoreSource("bolt", built.store).collect()))
    assert "A111:-:T1:U2:user" not in records and "A111:-:T1:U1:user" in records
    for enterprise, team in ((None, "T1"), ("E1", None), (None, "T2")):
        fs.delete_all(enterprise_id=enterprise, team_id=team)
    left = sorted(p.relative_to(built.root).as_posix() for p in built.root.rglob("*"))
    prefix = f"{client_id}/" if client_id else ""
    assert left == ([client_id] if client_id else []) + [
        f"{prefix}E1-none", f"{prefix}none-T1", f"{prefix}none-T2"]  # empty team directories
    source = SlackStoreSource("bolt", built.store)
    assert list(source.collect()) == []
    assert source.observations() == []  # no file left to expose


@pytest.mark.parametrize("kind", ["sqlalchemy", "sqlite"])
def test_custom_sqlalchemy_table_names(kind: str, tmp_path: Path) -> None:
    names = {"installations_table_name": "acme_installs", "bots_table_name": "acme_bots"}
    built = build("sqlalchemy", tmp_path, tables=names)
    store = built.store
    if kind == "sqlite":
        store = "sqlite:" + built.store.removeprefix("sqlalchemy:sqlite:///")
    with pytest.raises(SourceError, match=r"no slack_installations table.*_table_name"):
        list(SlackStoreSource("bolt", store).collect())
    records = by_id(list(SlackStoreSource("bolt", store, **names).collect()))
    assert len(records) == 6
    bot = records["A111:-:T1:bot"]  # from acme_bots, the newest bot
    assert bot.token is not None and bot.token.reveal() == built.tokens["bot_new"]
    only_installs = SlackStoreSource("bolt", store, installations_table_name="acme_installs")
    assert len(list(only_installs.collect())) == 6  # no slack_bots: bots from installations


@pytest.mark.parametrize("bad", ["", "a b", "x;drop table y", "1abc", "t" * 64])
def test_table_names_must_be_plain(bad: str) -> None:
    with pytest.raises(ConfigError, match="installations_table_name"):
        SlackStoreSource("s", "sqlite:/x.db", installations_table_name=bad)
    with pytest.raises(ConfigError, match="not to a FileInstallationStore"):
        SlackStoreSource("s", "dir:/x", bots_table_name="b")


@pytest.mark.parametrize("kind", KINDS)
def test_enterprise_id_is_a_record_field(kind: str, tmp_path: Path) -> None:
    built = build(kind, tmp_path)
    records = by_id(list(SlackStoreSource("bolt", built.store).collect()))
    for cid in ("A111:E1:-:U3:user", "A111:E1:-:bot"):  # the org-wide install has no team
        assert (records[cid].enterprise_id, records[cid].source_team_id) == ("E1", None)
    assert records["A111:-:T1:bot"].enterprise_id is None
