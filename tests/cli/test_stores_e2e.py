"""slack_sdk installation stores as apps really leave them, through the real CLI.

Three stores written by slack_sdk's own classes under umask 022 (files 0644): a
SQLite3InstallationStore, a FileInstallationStore holding an org-wide Enterprise Grid install,
and a SQLAlchemyInstallationStore with the app's own table names. They reconcile with every
binding right, ``nhictl check`` reports each exposed store, and a store that breaks later costs
only itself.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from slack_sdk.oauth.installation_store import FileInstallationStore, Installation
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from sqlalchemy import create_engine

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.store import open_inventory, repo
from tests.cli.e2e import nhictl
from tests.engines import InventoryDb
from tests.sources.test_slack_store import sqlalchemy_store_class


def _tok(prefix: str) -> str:
    return prefix + "FAKE" + secrets.token_hex(10)


def _entry(token: str, team: str, user: str, kind: str, **extra: Any) -> dict[str, Any]:
    return {"token": token, "team_id": team, "user_id": user, "kind": kind,
            "scopes": ["chat:write"], **extra}


def _stores(open_dir: Path, tmp_path: Path) -> tuple[World, dict[str, Path]]:
    t = {k: _tok(p) for k, p in (("u1", "xoxe.xoxp-1-"), ("b1", "xoxe.xoxb-1-"),
                                 ("u3", "xoxp-"), ("org_bot", "xoxb-"), ("t2_bot", "xoxb-"),
                                 ("u5", "xoxp-"), ("b5", "xoxb-"))}
    sqlite_db = open_dir / "sqlite" / "installations.db"
    sqlite_db.parent.mkdir()
    SQLite3InstallationStore(database=str(sqlite_db), client_id="111.222").save(Installation(
        app_id="A1", team_id="T1", team_name="Acme", user_id="U1", user_token=t["u1"],
        user_scopes="chat:write", user_refresh_token=_tok("xoxe-1-"),
        user_token_expires_in=43200, bot_token=t["b1"], bot_id="B1", bot_user_id="UB1",
        bot_scopes="chat:write", bot_refresh_token=_tok("xoxe-1-"),
        bot_token_expires_in=43200))
    files = open_dir / "files"
    fs = FileInstallationStore(base_dir=str(files))
    fs.save(Installation(
        app_id="A1", enterprise_id="E1", enterprise_name="Org", team_id=None,
        is_enterprise_install=True, user_id="U3", user_token=t["u3"], user_scopes="chat:write",
        bot_token=t["org_bot"], bot_id="B3", bot_user_id="UB3", bot_scopes="chat:write"))
    fs.save(Installation(app_id="A1", team_id="T2", team_name="Beta", user_id="U4",
                         bot_token=t["t2_bot"], bot_id="B4", bot_user_id="UB4",
                         bot_scopes="chat:write"))
    alchemy_db = tmp_path / "alchemy.db"  # under pytest's 0700 directories
    engine = create_engine(f"sqlite:///{alchemy_db}")
    sa = sqlalchemy_store_class()(client_id="111.222", engine=engine,
                                  installations_table_name="app_installs",
                                  bots_table_name="app_bots")
    sa.create_tables()
    sa.save(Installation(app_id="A1", team_id="T5", team_name="Gamma", user_id="U5",
                         user_token=t["u5"], user_scopes="chat:write", bot_token=t["b5"],
                         bot_id="B5", bot_user_id="UB5", bot_scopes="chat:write"))
    engine.dispose()
    rotating = {"expires_in": 43200}
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}, {"id": "T2", "name": "Beta"},
                  {"id": "T5", "name": "Gamma"},
                  {"id": "E1", "name": "Org", "enterprise_id": "E1",
                   "is_enterprise_install": True}],
        "tokens": [
            _entry(t["u1"], "T1", "U1", "user", **rotating),
            _entry(t["b1"], "T1", "UB1", "bot", bot_id="B1", **rotating),
            _entry(t["u3"], "E1", "U3", "user"),
            _entry(t["org_bot"], "E1", "UB3", "bot", bot_id="B3"),
            _entry(t["t2_bot"], "T2", "UB4", "bot", bot_id="B4"),
            _entry(t["u5"], "T5", "U5", "user"),
            _entry(t["b5"], "T5", "UB5", "bot", bot_id="B5"),
        ]})
    return world, {"sqlite": sqlite_db, "files": files, "alchemy": alchemy_db}


def _config(tmp_path: Path, paths: dict[str, Path]) -> Path:
    config = tmp_path / "nhictl.toml"
    config.write_text(f"""
[[sources]]
name = "sqlite-store"
kind = "slack-store"
store = "sqlite:{paths['sqlite']}"
default_purpose = "notifications"

[[sources]]
name = "file-store"
kind = "slack-store"
store = "dir:{paths['files']}"
default_purpose = "notifications"

[[sources]]
name = "alchemy-store"
kind = "slack-store"
store = "sqlalchemy:sqlite:///{paths['alchemy']}"
installations_table_name = "app_installs"
bots_table_name = "app_bots"
default_purpose = "notifications"
""")
    return config


def _bindings(env: dict[str, str]) -> dict[tuple[str, str], dict[str, Any]]:
    result = nhictl("inventory", "list", "-o", "json", env=env)
    assert result.code == 0, result.err
    return {(b["source"], b["connection_id"]): b for b in result.json()["bindings"]}


def test_stores_with_default_modes_reconcile_and_are_reported(open_dir: Path,
                                                              tmp_path: Path,
                                                              inventory_db: InventoryDb) -> None:
    world, paths = _stores(open_dir, tmp_path)
    config = _config(tmp_path, paths)
    env = {**inventory_db.env(), "NHICTL_CONFIG": str(config)}
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        result = nhictl("--slack-api-url", slack.url, "reconcile", env=env)
        assert result.code == 0, result.err
        rows = _bindings(env)
        assert sorted(rows) == [
            ("alchemy-store", "A1:-:T5:U5:user"), ("alchemy-store", "A1:-:T5:bot"),
            ("file-store", "A1:-:T2:bot"), ("file-store", "A1:E1:-:U3:user"),
            ("file-store", "A1:E1:-:bot"),
            ("sqlite-store", "A1:-:T1:U1:user"), ("sqlite-store", "A1:-:T1:bot"),
        ]
        assert {b["status"] for b in rows.values()} == {"active"}
        org = rows[("file-store", "A1:E1:-:U3:user")]
        assert (org["enterprise_id"], org["source_team_id"], org["owner_id"]) == (
            "E1", None, "U3")
        rotating = rows[("sqlite-store", "A1:-:T1:U1:user")]
        assert rotating["token_expires_at"] is not None and rotating["has_refresh_token"]
        assert rows[("alchemy-store", "A1:-:T5:bot")]["bot_id"] == "B5"

        check = nhictl("check", "--rule", "token_store_exposed", "-o", "json", env=env)
        findings = {f["evidence"]["source"]: f for f in check.json()["findings"]}
        assert set(findings) == {"sqlite-store", "file-store", "alchemy-store"}
        assert findings["sqlite-store"]["severity"] == "high"
        assert findings["sqlite-store"]["evidence"]["path"] == str(paths["sqlite"].resolve())
        assert findings["sqlite-store"]["evidence"]["modes"] == {"0644": 1}
        assert findings["file-store"]["severity"] == "high"
        assert findings["file-store"]["evidence"]["files_exposed"] >= 6  # latest + history
        assert findings["alchemy-store"]["severity"] == "medium"  # behind 0700 directories
        assert "chmod 600" in findings["file-store"]["remediation"]
        assert all(f["binding_id"] is None for f in findings.values())

        # One store breaks: only it fails; the run is recorded and names it.
        before = {k: v for k, v in rows.items() if k[0] == "file-store"}
        (paths["files"] / "E1-none" / "installer-U3-latest").write_text('{"user_id": ')
        broken = nhictl("--slack-api-url", slack.url, "reconcile", env=env)
    assert broken.code == 4, broken.err
    assert "file-store" in broken.err and "not valid JSON" in broken.err
    after = _bindings(env)
    assert {k: v for k, v in after.items() if k[0] == "file-store"} == before
    for key, row in after.items():
        if key[0] != "file-store":
            assert row["last_seen_at"] >= rows[key]["last_seen_at"]
            assert row["status"] == "active"
    inv, _ = open_inventory(env["NHICTL_DB"])
    try:
        with inv.engine.connect() as conn:
            reconciles = repo.latest_runs(conn, kind="reconcile")
    finally:
        inv.dispose()
    assert sorted(r["outcome"] for r in reconciles) == ["ok", "partial"]
    (latest,) = [r for r in reconciles if r["outcome"] == "partial"]
    assert latest["detail"].startswith("file-store: ")
    assert latest["counts"]["seen"] == 4
    again = nhictl("check", "--rule", "token_store_exposed", "-o", "json", env=env)
    assert len(again.json()["findings"]) == 3  # the broken store's exposure is still known
