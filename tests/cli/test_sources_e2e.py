"""Configured sources end to end: file + WorkOS + slack_sdk store through the real CLI."""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.brokers import WorkOSSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl, write_private
from tests.engines import InventoryDb


def _tok() -> str:
    return "xoxp-FAKE-" + secrets.token_hex(10)


@pytest.fixture
def setup(tmp_path: Path, inventory_db: InventoryDb) -> dict[str, Any]:
    shared, solo, reauth = _tok(), _tok(), _tok()
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"},
                  {"id": "U2", "team_id": "T1", "name": "alan"}],
        "tokens": [
            {"token": shared, "team_id": "T1", "user_id": "U1", "kind": "user",
             "scopes": ["chat:write"]},
            {"token": solo, "team_id": "T1", "user_id": "U2", "kind": "user",
             "scopes": ["chat:write"]},
            {"token": reauth, "team_id": "T1", "user_id": "U2", "kind": "user",
             "scopes": ["chat:write"]},
        ],
        "workos": {"api_key": "sk_test_FAKE" + secrets.token_hex(6), "users": [
            {"id": "user_1", "email": "grace@acme.example", "organization_id": "acme",
             "slack": {"id": "data_installation_1", "token": shared, "state": "connected",
                       "scopes": ["chat:write"]}},
            {"id": "user_2", "email": "alan@acme.example", "organization_id": "acme",
             "slack": {"id": "data_installation_2", "token": solo, "state": "connected",
                       "scopes": ["chat:write"]}},
            {"id": "user_3", "email": "ada@acme.example", "organization_id": "acme",
             "slack": {"id": "data_installation_3", "token": reauth,
                       "state": "needs_reauthorization", "scopes": ["chat:write"]}},
        ]},
    })
    export = write_private(tmp_path / "export.json", [
        {"id": "grace-slack", "owner_email": "grace@acme.example", "tenant": "acme",
         "access_token": shared},
    ])
    return {"world": world, "export": export, "tmp": tmp_path,
            "env": {**inventory_db.env(), "PIPES_KEY": world.workos["api_key"]}}


def _config(tmp: Path, workos_url: str) -> Path:
    path = tmp / "nhictl.toml"
    path.write_text(f"""
[[sources]]
name = "export"
kind = "file"
path = "export.json"

[[sources]]
name = "pipes"
kind = "workos"
api_key_env = "PIPES_KEY"
base_url = "{workos_url}"
default_purpose = "notifications"
""")
    return path


def _bindings(env: dict[str, str]) -> list[dict[str, Any]]:
    result = nhictl("inventory", "list", "-o", "json", env=env)
    assert result.code == 0, result.err
    return list(result.json()["bindings"])


def test_same_connection_through_two_sources(setup: dict[str, Any]) -> None:
    env = setup["env"]
    with SlackSandbox(setup["world"]) as slack, WorkOSSandbox(setup["world"]) as workos:
        config = _config(setup["tmp"], workos.url)
        assert nhictl("init", env=env).code == 0
        result = nhictl("--config", str(config), "--slack-api-url", slack.url, "reconcile",
                        env=env)
    assert result.code == 0, result.err
    rows = _bindings(env)
    grace = [b for b in rows if b["slack_user_id"] == "U1"]
    assert sorted(b["source"] for b in grace) == ["export", "pipes"]
    assert grace[0]["token_fingerprint"] == grace[1]["token_fingerprint"]
    assert grace[0]["token_fingerprint"].startswith("hmac-sha256:")
    by_conn = {b["connection_id"]: b for b in rows}
    assert by_conn["data_installation_3"]["status"] == "needs_reconnect"
    assert by_conn["data_installation_2"]["status"] == "active"


def test_broker_outage_leaves_its_bindings_untouched(setup: dict[str, Any]) -> None:
    env = setup["env"]
    with SlackSandbox(setup["world"]) as slack, WorkOSSandbox(setup["world"]) as workos:
        config = _config(setup["tmp"], workos.url)
        assert nhictl("init", env=env).code == 0
        first = nhictl("--config", str(config), "--slack-api-url", slack.url, "reconcile",
                       env=env)
        assert first.code == 0, first.err
        before = {b["id"]: b for b in _bindings(env)}
        workos.set_outage(True)
        second = nhictl("--config", str(config), "--slack-api-url", slack.url, "reconcile",
                        env=env)
    assert second.code == 4
    assert "pipes" in second.err and "untouched" in second.err
    after = {b["id"]: b for b in _bindings(env)}
    assert set(after) == set(before)
    for bid, row in before.items():
        if row["source"] == "pipes":
            assert after[bid] == row  # not swept, not re-validated, not touched
        else:
            assert after[bid]["last_seen_at"] >= row["last_seen_at"]
    assert not any(b["status"] == "removed" for b in after.values())


def test_slack_sdk_store_reconciled_unchanged(tmp_path: Path, inventory_db: InventoryDb) -> None:
    from slack_sdk.oauth.installation_store import Installation
    from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

    user_tok, bot_tok = _tok(), "xoxb-FAKE-" + secrets.token_hex(10)
    db = tmp_path / "installations.db"
    store = SQLite3InstallationStore(database=str(db), client_id="cid")
    store.save(Installation(app_id="A1", team_id="T1", team_name="Acme", user_id="U1",
                            user_token=user_tok, user_scopes=["chat:write"], bot_token=bot_tok,
                            bot_id="B1", bot_user_id="UB1", bot_scopes=["chat:write"],
                            user_token_expires_in=43200, installed_at=1764000000.0))
    db.chmod(0o600)
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    world = World.from_dict({"teams": [{"id": "T1", "name": "Acme"}], "tokens": [
        {"token": user_tok, "team_id": "T1", "user_id": "U1", "kind": "user",
         "scopes": ["chat:write"]},
        {"token": bot_tok, "team_id": "T1", "user_id": "UB1", "kind": "bot", "bot_id": "B1",
         "scopes": ["chat:write"]}]})
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        result = nhictl("--slack-api-url", slack.url, "reconcile", "--source",
                        f"slack-store:sqlite:{db}", env=env)
    assert result.code == 0, result.err
    assert hashlib.sha256(db.read_bytes()).hexdigest() == digest
    rows = {b["token_kind"]: b for b in _bindings(env)}
    assert set(rows) == {"user", "bot"}
    assert rows["user"]["owner_id"] == "U1" and rows["user"]["workspace_id"] == "T1"
    assert rows["bot"]["bot_id"] == "B1" and rows["bot"]["status"] == "active"
    assert rows["user"]["token_expires_at"] is not None
