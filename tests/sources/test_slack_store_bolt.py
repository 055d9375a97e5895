"""Stores written by a real Bolt OAuth flow against the loopback Slack, then rotated by
slack_sdk's TokenRotator, read back by the slack-store source.

The flow is slack_bolt's own ``OAuthFlow`` (install page -> state cookie -> callback ->
``oauth.v2.access`` -> ``auth.test`` -> ``installation_store.save``), as bolt-python's
``slack_bolt/oauth/oauth_flow.py`` runs it; rotation is ``slack_sdk/oauth/token_rotation/
rotator.py`` (``oauth.v2.access`` with ``grant_type=refresh_token``).
"""

from __future__ import annotations

import os
import secrets
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from slack_bolt.oauth.oauth_flow import OAuthFlow
from slack_bolt.oauth.oauth_settings import OAuthSettings
from slack_bolt.request import BoltRequest
from slack_sdk import WebClient
from slack_sdk.oauth.installation_store import FileInstallationStore
from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore
from slack_sdk.oauth.state_store import FileOAuthStateStore
from slack_sdk.oauth.token_rotation import TokenRotator
from sqlalchemy import create_engine

from nhictl.clock import iso
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.sources.slack_store import SlackStoreSource
from tests.sources.test_slack_store import sqlalchemy_store_class

CLIENT_ID = "111.222"
KINDS = ["sqlite", "sqlalchemy", "dir"]


@pytest.fixture(autouse=True)
def usual_umask() -> Iterator[None]:
    old = os.umask(0o022)
    yield
    os.umask(old)


def _world(secret: str, tokens: dict[str, str]) -> World:
    tokens.update(
        ws_bot="xoxe.xoxb-1-fake" + secrets.token_hex(8),
        ws_user="xoxe.xoxp-1-fake" + secrets.token_hex(8),
        org_bot="xoxb-fake" + secrets.token_hex(8),
    )
    rotating = {"expires_in": 43200}
    codes = {}
    for kind in KINDS:
        codes[f"ws-{kind}"] = {"bot_token": tokens["ws_bot"], "user_token": tokens["ws_user"]}
        codes[f"org-{kind}"] = {"bot_token": tokens["org_bot"], "user_id": "W9",
                                "is_enterprise_install": True}
    return World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"},
                  {"id": "E1", "name": "Org", "enterprise_id": "E1", "enterprise_name": "Org",
                   "is_enterprise_install": True}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"}],
        "tokens": [
            {"token": tokens["ws_bot"], "team_id": "T1", "user_id": "UB1", "kind": "bot",
             "bot_id": "B1", "app_id": "A1", "scopes": ["chat:write", "channels:read"],
             "refresh_token": "xoxe-1-fake" + secrets.token_hex(8), **rotating},
            {"token": tokens["ws_user"], "team_id": "T1", "user_id": "U1", "kind": "user",
             "app_id": "A1", "scopes": ["chat:write"],
             "refresh_token": "xoxe-1-fake" + secrets.token_hex(8), **rotating},
            {"token": tokens["org_bot"], "team_id": "E1", "user_id": "UB9", "kind": "bot",
             "bot_id": "B9", "app_id": "A1", "scopes": ["chat:write"]},
        ],
        "oauth_clients": {CLIENT_ID: secret},
        "oauth_codes": codes,
    })


def _store(kind: str, root: Path) -> tuple[Any, str]:
    if kind == "sqlite":
        db = root / "bolt.db"
        return SQLite3InstallationStore(database=str(db), client_id=CLIENT_ID), f"sqlite:{db}"
    if kind == "sqlalchemy":
        db = root / "alchemy.db"
        store = sqlalchemy_store_class()(client_id=CLIENT_ID, engine=create_engine(
            f"sqlite:///{db}"), installations_table_name="bolt_installs")
        store.create_tables()
        return store, f"sqlalchemy:sqlite:///{db}"
    return FileInstallationStore(base_dir=str(root / "files")), f"dir:{root / 'files'}"


def _install(flow: OAuthFlow, code: str) -> None:
    """The browser's part: open the install page, come back with the code and the state."""
    page = flow.handle_installation(BoltRequest(body="", query={}, headers={}))
    cookie = page.headers["set-cookie"][0].split(";")[0]
    state = cookie.split("=", 1)[1]
    done = flow.handle_callback(BoltRequest(
        body="", query={"code": code, "state": state}, headers={"cookie": cookie}))
    assert done.status == 200, done.body


@pytest.mark.parametrize("kind", KINDS)
def test_bolt_oauth_installs_and_rotation_are_read(kind: str, tmp_path: Path) -> None:
    secret = "fake-secret-" + secrets.token_hex(6)
    tokens: dict[str, str] = {}
    world = _world(secret, tokens)
    store, spec = _store(kind, tmp_path)
    options = {"installations_table_name": "bolt_installs"} if kind == "sqlalchemy" else {}
    with SlackSandbox(world) as slack:
        client = WebClient(base_url=slack.url)
        flow = OAuthFlow(client=client, settings=OAuthSettings(
            client_id=CLIENT_ID, client_secret=secret, scopes=["chat:write", "channels:read"],
            user_scopes=["chat:write"], installation_store=store,
            state_store=FileOAuthStateStore(expiration_seconds=300,
                                            base_dir=str(tmp_path / "state"))))
        _install(flow, f"ws-{kind}")
        _install(flow, f"org-{kind}")

        source = SlackStoreSource("bolt", spec, **options)
        first = {r.connection_id: r for r in source.collect()}
        # The org install granted no user token: its installer owns the bot binding only.
        assert sorted(first) == ["A1:-:T1:U1:user", "A1:-:T1:bot", "A1:E1:-:bot"]
        user, bot, org = first["A1:-:T1:U1:user"], first["A1:-:T1:bot"], first["A1:E1:-:bot"]
        assert user.token is not None and user.token.reveal() == tokens["ws_user"]
        assert bot.token is not None and bot.token.reveal() == tokens["ws_bot"]
        assert user.has_refresh_token and bot.has_refresh_token
        assert user.token_expires_at is not None and bot.token_expires_at is not None
        assert bot.declared_scopes == ["channels:read", "chat:write"]
        assert (bot.source_slack_user_id, bot.metadata["bot_id"]) == ("UB1", "B1")
        # The org-wide install: no team, the enterprise as a first-class field.
        assert (org.source_team_id, org.enterprise_id) == (None, "E1")
        assert org.metadata["is_enterprise_install"] is True and org.owner_id == "W9"
        assert org.token_expires_at is None and not org.has_refresh_token

        # Token rotation as Bolt runs it: refresh both, save the rotated installation.
        installation = store.find_installation(enterprise_id=None, team_id="T1", user_id="U1")
        rotated = TokenRotator(client_id=CLIENT_ID, client_secret=secret, client=client
                               ).perform_token_rotation(installation=installation,
                                                        minutes_before_expiration=24 * 60)
        assert rotated is not None
        store.save(rotated)

    after = {r.connection_id: r for r in source.collect()}
    assert sorted(after) == sorted(first)  # rotation changes tokens, not bindings
    new_user, new_bot = after["A1:-:T1:U1:user"], after["A1:-:T1:bot"]
    assert new_user.token is not None and new_user.token.reveal() == rotated.user_token
    assert new_bot.token is not None and new_bot.token.reveal() == rotated.bot_token
    assert rotated.user_token.startswith("xoxe.xoxp-1-") and rotated.user_token != tokens[
        "ws_user"]
    assert new_user.token_expires_at == iso(datetime.fromtimestamp(
        rotated.user_token_expires_at, UTC))
    # Written by slack_sdk with the umask's modes: read anyway, the exposure noted.
    (seen,) = source.observations()
    assert seen.details["modes"].keys() == {"0644"}
    files = [p for p in tmp_path.rglob("*") if p.is_file() and "state" not in p.parts]
    assert files and all(stat.S_IMODE(p.stat().st_mode) == 0o644 for p in files)
