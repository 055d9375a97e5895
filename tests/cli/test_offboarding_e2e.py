"""Owner offboarding from real evidence, and strange Slack replies, through the real CLI.

The sandbox Slack answers deleted users and workspaces as Slack documents
(docs.slack.dev/reference/methods/auth.test, "Errors"): a user token of a deleted user or
workspace gets ``token_revoked`` (also what a revoked grant or a removed app gets), a bot token
of a deleted workspace gets ``account_inactive``. Neither is evidence that a person left:
``owner_offboarded`` (critical) needs the app directory or ``users.info`` to say so.
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import Result, nhictl, write_private
from tests.engines import InventoryDb


def _token(kind: str) -> str:
    return f"{kind}-FAKE-{secrets.token_hex(10)}"


USER, BOT, GONE_BOT, LEFT = _token("xoxp"), _token("xoxb"), _token("xoxb"), _token("xoxp")
AMBIGUOUS_USER = ("slack: token_revoked (ambiguous: the user was deleted, the user revoked the "
                  "grant, the app was removed or the workspace was deleted)")
AMBIGUOUS_BOT = ("slack: account_inactive (ambiguous: the workspace was deleted or the bot user "
                 "was deactivated)")


def _world(bot_scopes: list[str]) -> World:
    return World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"},
                  {"id": "T2", "name": "Defunct", "deleted": True}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"},
                  {"id": "U2", "team_id": "T1", "name": "alan", "deleted": True},
                  {"id": "UB1", "team_id": "T1", "name": "acmebot", "is_bot": True},
                  {"id": "UB2", "team_id": "T2", "name": "defunctbot", "is_bot": True}],
        "tokens": [
            # alan was deleted: his user token is dead (token_revoked)
            {"token": USER, "team_id": "T1", "user_id": "U2", "kind": "user",
             "scopes": ["chat:write", "users:read"]},
            # a bot alan installed: still works
            {"token": BOT, "team_id": "T1", "user_id": "UB1", "kind": "bot", "bot_id": "B1",
             "scopes": bot_scopes},
            # a bot in a deleted workspace (account_inactive)
            {"token": GONE_BOT, "team_id": "T2", "user_id": "UB2", "kind": "bot",
             "bot_id": "B2", "scopes": ["chat:write"]},
            # grace is still here but revoked her grant (token_revoked too)
            {"token": LEFT, "team_id": "T1", "user_id": "U1", "kind": "user",
             "scopes": ["chat:write"], "state": "revoked"},
        ],
        "retry_after": 0,
    })


def _export(tmp_path: Path, **owner_status: str) -> Path:
    rows = [
        {"id": "user-deleted", "access_token": USER, "team_id": "T1", "slack_user_id": "U2",
         "owner_email": "alan@acme.example", "scopes": "chat:write users:read"},
        {"id": "bot-installer-left", "access_token": BOT, "team_id": "T1",
         "owner_email": "alan@acme.example", "installer_user_id": "U2",
         "scopes": "chat:write users:read"},
        {"id": "bot-workspace-deleted", "access_token": GONE_BOT, "team_id": "T2",
         "owner_email": "ops@defunct.example", "scopes": "chat:write"},
        {"id": "user-revoked", "access_token": LEFT, "team_id": "T1", "slack_user_id": "U1",
         "owner_email": "grace@acme.example", "scopes": "chat:write"},
    ]
    for row in rows:
        row["owner_status"] = owner_status.get(str(row["id"]).replace("-", "_"), "active")
    return write_private(tmp_path / "export.json", rows)


@pytest.fixture
def env(tmp_path: Path, inventory_db: InventoryDb) -> dict[str, str]:
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    return env


def _reconcile(env: dict[str, str], url: str, export: Path, *args: str) -> Result:
    return nhictl("--slack-api-url", url, "reconcile", "--source", f"file:{export}",
                  "-o", "json", *args, env=env)


def _bindings(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = nhictl("inventory", "list", "-o", "json", env=env)
    assert listed.code == 0, listed.err
    return {b["connection_id"]: b for b in listed.json()["bindings"]}


def _findings(env: dict[str, str], rule: str) -> dict[str, dict[str, Any]]:
    checked = nhictl("check", "-o", "json", "--rule", rule, env=env)
    assert checked.code == 0, checked.err
    ids = {b["id"]: cid for cid, b in _bindings(env).items()}
    return {ids[f["binding_id"]]: f for f in checked.json()["findings"]}


def test_without_directory_evidence_dead_tokens_are_ambiguous_never_offboarded(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # No token in the workspace can read the directory (no users:read anywhere alive).
    with SlackSandbox(_world(["chat:write"])) as slack:
        result = _reconcile(env, slack.url, _export(tmp_path), "--fail-on", "critical")
        assert slack.count("users.info") == 0
    # Before: the deleted workspace's bot (account_inactive) was a false critical: exit 1.
    assert result.code == 0, result.err
    rows = _bindings(env)
    assert (rows["user-deleted"]["status"], rows["user-deleted"]["status_reason"]) == (
        "needs_reconnect", AMBIGUOUS_USER)
    assert rows["user-revoked"]["status_reason"] == AMBIGUOUS_USER  # Slack cannot tell apart
    gone = rows["bot-workspace-deleted"]
    assert (gone["status"], gone["status_reason"]) == ("needs_reconnect", AMBIGUOUS_BOT)
    assert rows["bot-installer-left"]["status"] == "active"
    assert _findings(env, "owner_offboarded") == {}


def test_directory_evidence_tells_deleted_from_revoked_and_offboards(
    tmp_path: Path, env: dict[str, str]
) -> None:
    # The workspace's bot holds users:read: it is asked about the installer (alive bot) and
    # about the users behind the two dead user tokens.
    with SlackSandbox(_world(["chat:write", "users:read"])) as slack:
        result = _reconcile(env, slack.url, _export(tmp_path), "--fail-on", "critical")
        asked = sorted(str(r.params.get("user")) for r in slack.requests
                       if r.method == "users.info")
    assert result.code == 1, result.err  # real critical findings
    assert asked == ["U1", "U2", "U2"]
    rows = _bindings(env)
    deleted = rows["user-deleted"]
    assert (deleted["status"], deleted["slack_user_deleted"]) == ("needs_reconnect", True)
    assert deleted["status_reason"] == (
        "slack: token_revoked (the user was deleted, per users.info)")
    revoked = rows["user-revoked"]
    assert (revoked["status"], revoked["slack_user_deleted"]) == ("needs_reconnect", False)
    assert revoked["status_reason"] == (
        "slack: token_revoked (the user is not deleted, per users.info: the grant was revoked "
        "or the app was removed)")
    bot = rows["bot-installer-left"]
    assert (bot["status"], bot["token_kind"], bot["slack_user_deleted"]) == (
        "active", "bot", True)
    assert rows["bot-workspace-deleted"]["status_reason"] == AMBIGUOUS_BOT
    offboarded = _findings(env, "owner_offboarded")
    # Before: the deleted workspace's bot was critical, alan's own dead token and the bot he
    # installed were not. The bot acts as its bot user, not as alan: its installer leaving
    # is installer_departed (issue 14), not owner_offboarded.
    assert set(offboarded) == {"user-deleted"}
    assert "belongs to an owner deactivated in Slack (users.info)" in (
        offboarded["user-deleted"]["message"])
    assert {f["severity"] for f in offboarded.values()} == {"critical"}
    departed = _findings(env, "installer_departed")
    assert set(departed) == {"bot-installer-left"}
    assert "installed by U2, who is deactivated in Slack (users.info)" in (
        departed["bot-installer-left"]["message"])


def test_app_directory_evidence_offboards_a_dead_user_token(
    tmp_path: Path, env: dict[str, str]
) -> None:
    export = _export(tmp_path, user_deleted="deactivated")
    with SlackSandbox(_world(["chat:write"])) as slack:
        result = _reconcile(env, slack.url, export)
    assert result.code == 0, result.err
    offboarded = _findings(env, "owner_offboarded")
    assert set(offboarded) == {"user-deleted"}
    finding = offboarded["user-deleted"]
    assert "the app directory" in finding["message"]
    assert finding["evidence"]["slack_error"] == "token_revoked"


HOSTILE = {
    "json array": ("[1, 2, 3]", {"x-oauth-scopes": "chat:write"}),
    "bare ok": ('{"ok": true}', {"x-oauth-scopes": "chat:write"}),
    "expires_in 1e300": ('{"ok": true, "team_id": "T1", "user_id": "U1", "expires_in": 1e300}',
                         {"x-oauth-scopes": "chat:write"}),
    "expires_in NaN": ('{"ok": true, "team_id": "T1", "user_id": "U1", "expires_in": NaN}',
                       {"x-oauth-scopes": "chat:write"}),
    "no scopes header": ('{"ok": true, "team_id": "T1", "user_id": "U1"}', {}),
    "team_id object": ('{"ok": true, "team_id": {"id": "T1"}, "user_id": "U1"}',
                       {"x-oauth-scopes": "chat:write"}),
}


@pytest.mark.engine_neutral("hostile Slack replies to the client")
@pytest.mark.parametrize("name", sorted(HOSTILE))
def test_hostile_auth_test_is_one_inconclusive_binding(
    tmp_path: Path, env: dict[str, str], name: str
) -> None:
    live = _token("xoxp")
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"}],
        "tokens": [{"token": live, "team_id": "T1", "user_id": "U1", "kind": "user",
                    "scopes": ["chat:write", "users:read"]}],
        "retry_after": 0,
    })
    export = write_private(tmp_path / "e.json", [
        {"id": "c1", "access_token": live, "team_id": "T1", "slack_user_id": "U1",
         "scopes": "chat:write users:read"}])
    body, headers = HOSTILE[name]
    with SlackSandbox(world) as slack:
        # A first run against a server that answers nonsense: nothing is believed.
        with world.lock:
            world.faults.append({"method": "auth.test", "kind": "raw", "body": body,
                                 "headers": headers, "times": 1})
        first = _reconcile(env, slack.url, export)
        assert first.code == 4, first.err  # partial, not 70
        assert "Traceback" not in first.err
        report = first.json()
        assert report["counts"]["inconclusive"] == 1
        row = _bindings(env)["c1"]
        assert (row["status"], row["last_validation_outcome"]) == (
            "unvalidated", "inconclusive")
        assert row["granted_scopes"] is None and row["last_validated_at"] is None
        assert row["last_validation_error"].startswith("auth.test: ")
        # The sane answer after it: validated, and no scope change invented from "zero scopes".
        second = _reconcile(env, slack.url, export)
        assert second.code == 0, second.err
        assert slack.count("auth.test") == 2
    row = _bindings(env)["c1"]
    assert (row["status"], row["granted_scopes"]) == ("active", ["chat:write", "users:read"])
    events = nhictl("events", "-o", "json", env=env).json()["events"]
    assert [e for e in events if e["type"] in ("scope_changed", "identity_changed")] == []
    assert _findings(env, "scope_expanded") == {}


def test_hostile_reply_after_a_good_run_keeps_the_status(
    tmp_path: Path, env: dict[str, str]
) -> None:
    live = _token("xoxp")
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"}],
        "tokens": [{"token": live, "team_id": "T1", "user_id": "U1", "kind": "user",
                    "scopes": ["chat:write"]}],
    })
    export = write_private(tmp_path / "e.json", [{"id": "c1", "access_token": live}])
    with SlackSandbox(world) as slack:
        assert _reconcile(env, slack.url, export).code == 0
        before = _bindings(env)["c1"]
        with world.lock:
            world.faults.append({"method": "auth.test", "kind": "raw", "body": '{"ok": true}',
                                 "headers": {"x-oauth-scopes": ""}, "times": 1})
        result = _reconcile(env, slack.url, export)
        assert result.code == 4, result.err
        assert _reconcile(env, slack.url, export).code == 0
    after = _bindings(env)["c1"]
    assert (after["status"], after["granted_scopes"]) == ("active", ["chat:write"])
    assert after["last_validated_at"] >= before["last_validated_at"]
    events = nhictl("events", "-o", "json", env=env).json()["events"]
    assert [e for e in events if e["type"] == "scope_changed"] == []
