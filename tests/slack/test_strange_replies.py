"""One strange reply is one inconclusive validation: never a crash, never a made-up fact.

Hostile ``auth.test``/``users.info`` answers are served verbatim by the sandbox's ``raw``
fault; the client must neither raise (exit 70 for the whole run) nor record a token
"validated" with no identity or zero scopes (a false ``scope_expanded`` next time). And the
dead codes say what they honestly mean; a bot token is checked against its installer.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.secret import Secret
from nhictl.slack import SlackClient
from nhictl.slack.replies import ReplyShapeError, parse_auth_test, parse_users_info

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)
USER = "xoxp-FAKE-" + secrets.token_hex(8)
BOT = "xoxb-FAKE-" + secrets.token_hex(8)
SCOPES = {"x-oauth-scopes": "chat:write,users:read"}
GOOD = {"ok": True, "team_id": "T1", "user_id": "U1", "team": "Acme"}

# (name, body text, headers): each is something no real auth.test answer looks like.
HOSTILE_AUTH_TEST = [
    ("json array", "[1, 2]", SCOPES),
    ("json array of objects", json.dumps([GOOD]), SCOPES),
    ("json string", '"ok"', SCOPES),
    ("json number", "7", SCOPES),
    ("empty array", "[]", SCOPES),
    ("bare ok", '{"ok": true}', SCOPES),
    ("no scopes header", json.dumps(GOOD), {}),
    ("expires_in 1e300", json.dumps({**GOOD, "expires_in": 1e300}), SCOPES),
    ("expires_in NaN", '{"ok": true, "team_id": "T1", "user_id": "U1", "expires_in": NaN}',
     SCOPES),
    ("expires_in Infinity", '{"ok": true, "team_id": "T1", "user_id": "U1", '
     '"expires_in": Infinity}', SCOPES),
    ("expires_in negative", json.dumps({**GOOD, "expires_in": -5}), SCOPES),
    ("expires_in string", json.dumps({**GOOD, "expires_in": "43200"}), SCOPES),
    ("expires_in true", json.dumps({**GOOD, "expires_in": True}), SCOPES),
    ("team_id object", json.dumps({**GOOD, "team_id": {"id": "T1"}}), SCOPES),
    ("user_id number", json.dumps({**GOOD, "user_id": 12345}), SCOPES),
    ("user_id not an id", json.dumps({**GOOD, "user_id": "<script>"}), SCOPES),
    ("team name list", json.dumps({**GOOD, "team": ["Acme"]}), SCOPES),
    ("team name huge", json.dumps({**GOOD, "team": "A" * 5000}), SCOPES),
    ("bot_id number", json.dumps({**GOOD, "bot_id": 7}), SCOPES),
    ("ok is a string", json.dumps({**GOOD, "ok": "true"}), SCOPES),
    ("is_enterprise_install string", json.dumps({**GOOD, "is_enterprise_install": "yes"}),
     SCOPES),
    ("scopes header huge", json.dumps(GOOD), {"x-oauth-scopes": ",".join(
        f"s{i}:read" for i in range(1000))}),
]

HOSTILE_USERS_INFO = [
    ("json array", "[]"),
    ("no user", '{"ok": true}'),
    ("user is a string", '{"ok": true, "user": "U1"}'),
    ("deleted is a string", json.dumps({"ok": True, "user": {"id": "U1", "deleted": "yes"}})),
    ("deleted missing", json.dumps({"ok": True, "user": {"id": "U1"}})),
    ("another user", json.dumps({"ok": True, "user": {"id": "U2", "deleted": True}})),
]


def world() -> World:
    return World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}, {"id": "T2", "name": "Gone", "deleted": True}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"},
                  {"id": "U7", "team_id": "T1", "name": "installer", "deleted": True},
                  {"id": "UB", "team_id": "T1", "name": "bot", "is_bot": True}],
        "tokens": [
            {"token": USER, "team_id": "T1", "user_id": "U1", "kind": "user",
             "scopes": ["chat:write", "users:read"]},
            {"token": BOT, "team_id": "T1", "user_id": "UB", "kind": "bot", "bot_id": "B1",
             "scopes": ["chat:write", "users:read"]},
        ],
    })


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox(world()) as sandbox:
        yield sandbox


def client(url: str) -> SlackClient:
    return SlackClient(url, timeout_s=2.0, sleep=lambda s: None, now=lambda: NOW)


def raw_fault(slack: SlackSandbox, method: str, body: str, headers: dict[str, str],
              **only: str) -> None:
    with slack.world.lock:
        slack.world.faults.append({"method": method, "kind": "raw", "body": body,
                                   "headers": headers, "times": 1, **only})


@pytest.mark.parametrize(("name", "body", "headers"), HOSTILE_AUTH_TEST,
                         ids=[h[0] for h in HOSTILE_AUTH_TEST])
def test_hostile_auth_test_is_inconclusive(
    slack: SlackSandbox, name: str, body: str, headers: dict[str, str]
) -> None:
    raw_fault(slack, "auth.test", body, headers)
    result = client(slack.url).validate(Secret(USER), "T1")
    assert result.outcome == "inconclusive", name
    # Nothing from the strange reply is kept: no identity, no scopes, no expiry.
    assert (result.workspace_id, result.slack_user_id, result.granted_scopes,
            result.token_expires_at) == (None, None, None, None)
    assert result.detail is not None and result.detail.startswith("auth.test: ")
    assert "<script>" not in result.detail and "Acme" not in result.detail
    assert slack.count("auth.test") == 1  # a strange answer is not retried
    # The next, sane answer validates normally.
    again = client(slack.url).validate(Secret(USER), "T1")
    assert (again.outcome, again.granted_scopes) == ("ok", ["chat:write", "users:read"])


@pytest.mark.parametrize(("name", "body"), HOSTILE_USERS_INFO,
                         ids=[h[0] for h in HOSTILE_USERS_INFO])
def test_hostile_users_info_is_inconclusive(slack: SlackSandbox, name: str, body: str) -> None:
    raw_fault(slack, "users.info", body, {})
    result = client(slack.url).validate(Secret(USER), "T1")
    assert result.outcome == "inconclusive", name
    assert result.slack_user_deleted is None and result.detail is not None
    assert result.detail.startswith("users.info: ")


def test_org_wide_install_without_team_id_is_fine() -> None:
    reply = parse_auth_test({"ok": True, "user_id": "W1", "enterprise_id": "E1",
                             "is_enterprise_install": True}, {"x-oauth-scopes": ""})
    assert (reply.team_id, reply.enterprise_id, reply.scopes) == (None, "E1", [])
    with pytest.raises(ReplyShapeError, match="no team_id"):
        parse_auth_test({"ok": True, "user_id": "W1", "enterprise_id": "E1"},
                        {"x-oauth-scopes": ""})


def test_users_info_only_a_real_boolean_counts() -> None:
    assert parse_users_info({"ok": True, "user": {"id": "U1", "deleted": True}}, "U1") is True
    assert parse_users_info({"ok": True, "user": {"id": "U1", "deleted": False}}, "U1") is False
    with pytest.raises(ReplyShapeError):
        parse_users_info({"ok": True, "user": {"id": "U1", "deleted": 1}}, "U1")


def test_dead_codes_say_what_they_honestly_mean(slack: SlackSandbox) -> None:
    with slack.world.lock:
        slack.world.users["U1"]["deleted"] = True
        slack.world.tokens[BOT]["team_id"] = "T2"  # the bot's workspace was deleted
    user = client(slack.url).validate(Secret(USER), "T1")
    assert (user.outcome, user.error, user.token_kind) == ("dead", "token_revoked", "user")
    assert user.detail is not None and user.detail.startswith("ambiguous: the user was deleted")
    assert "revoked the grant" in user.detail and "app was removed" in user.detail
    bot = client(slack.url).validate(Secret(BOT), "T2")
    assert (bot.outcome, bot.error, bot.token_kind) == ("dead", "account_inactive", "bot")
    assert bot.detail == ("ambiguous: the workspace was deleted or the bot user was "
                          "deactivated")


def test_bot_token_is_checked_against_its_installer(slack: SlackSandbox) -> None:
    c = client(slack.url)
    checked = c.validate(Secret(BOT), "T1", installer_user_id="U7")
    assert (checked.outcome, checked.token_kind) == ("ok", "bot")
    assert (checked.slack_user_checked, checked.slack_user_deleted) == (True, True)
    asked = [r.params.get("user") for r in slack.requests if r.method == "users.info"]
    assert asked == ["U7"]  # the installer, not the bot user
    # Without a known installer nobody is checked: the bot user is no person.
    unknown = c.validate(Secret(BOT), "T1")
    assert (unknown.outcome, unknown.slack_user_checked, unknown.slack_user_deleted) == (
        "ok", False, None)
    assert slack.count("users.info") == 1


def test_strange_reply_detail_never_quotes_the_server(slack: SlackSandbox) -> None:
    evil: dict[str, Any] = {**GOOD, "user_id": "xoxp-" + "9" * 20, "team": {"x": USER}}
    raw_fault(slack, "auth.test", json.dumps(evil), SCOPES)
    result = client(slack.url).validate(Secret(USER), "T1")
    assert result.outcome == "inconclusive"
    assert "xoxp" not in repr(result)


@pytest.mark.parametrize("body", ['{"ok": true, "revoked": "yes"}', '{"ok": true}', "[true]",
                                  '{"ok": "true", "revoked": true}'])
def test_a_strange_revoke_answer_is_never_a_revocation(slack: SlackSandbox, body: str) -> None:
    raw_fault(slack, "auth.revoke", body, {})
    result = client(slack.url).revoke(Secret(USER))
    assert result.outcome == "failed"
    assert slack.world.tokens[USER].get("state", "active") == "active"


def test_directory_lookup_uses_only_a_bot_and_believes_no_strange_reply(
    slack: SlackSandbox,
) -> None:
    dead = "xoxp-FAKE-" + secrets.token_hex(8)
    with slack.world.lock:
        slack.world.add_token({"token": dead, "team_id": "T1", "user_id": "U7", "kind": "user",
                               "scopes": ["chat:write"]})  # U7 deleted: token_revoked
    items = [("dead", Secret(dead), "T1", "U7"), ("user", Secret(USER), "T1", "U1")]
    # USER holds users:read but is a person's token: never used to look up someone else.
    alone = client(slack.url).validate_many(items)
    assert alone["dead"].slack_user_checked is False
    assert alone["dead"].detail is not None and alone["dead"].detail.startswith("ambiguous")
    assert [r.params.get("user") for r in slack.requests if r.method == "users.info"] == ["U1"]
    # With the workspace's bot, a strange users.info answer is still no evidence.
    raw_fault(slack, "users.info", json.dumps({"ok": True, "user": {"id": "U7",
                                                                    "deleted": "yes"}}), {},
              token=BOT)
    with_bot = [*items, ("bot", Secret(BOT), "T1", None)]
    odd = client(slack.url).validate_many(with_bot, concurrency=1)
    assert (odd["dead"].slack_user_checked, odd["dead"].slack_user_deleted) == (False, None)
    sane = client(slack.url).validate_many(with_bot)
    assert (sane["dead"].slack_user_checked, sane["dead"].slack_user_deleted) == (True, True)
    assert sane["dead"].detail == "the user was deleted, per users.info"


@pytest.mark.parametrize(("body", "why"), [
    ('{"ok": true}', "ok but no revoked field"),
    ('{"ok": true, "revoked": false}', "ok but revoked is false"),
    ('{"ok": true, "revoked": "xoxp-1-FAKE0"}', "ok but revoked is not the boolean true"),
])
def test_a_strange_revoke_answer_says_what_it_lacked(slack: SlackSandbox, body: str,
                                                     why: str) -> None:
    # A reply with no `revoked` at all used to read "revoked is false", which Slack never said.
    raw_fault(slack, "auth.revoke", body, {})
    result = client(slack.url).revoke(Secret(USER))
    assert (result.outcome, result.detail) == ("failed", f"auth.revoke: {why}")
    assert "xoxp" not in repr(result)
