"""The sandbox Slack server on the wire: arguments, auth, methods, paging, limits, faults."""

from __future__ import annotations

import base64
import contextlib
import http.client
import json
import secrets
import time
from collections.abc import Iterator
from typing import Any
from urllib.error import HTTPError
from urllib.parse import urlencode, urlsplit
from urllib.request import Request, urlopen

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.secret import Secret

CLIENT_ID, CLIENT_SECRET = "111.222", "shh-" + secrets.token_hex(4)


def fake(prefix: str) -> str:
    return prefix + "fake" + secrets.token_hex(8)


USER, NOSCOPE, BOT = fake("xoxp-"), fake("xoxp-"), fake("xoxb-")
ROTATING, REFRESH = fake("xoxe.xoxp-1-"), fake("xoxe-1-")


def scenario() -> dict[str, Any]:
    return {
        "teams": [
            {"id": "T1", "name": "Acme", "domain": "acme", "enterprise_id": "E9"},
            {"id": "T2", "name": "Beta", "domain": "beta"},
        ],
        "users": [
            {"id": "U1", "team_id": "T1", "name": "grace", "email": "grace@example.com"},
            {"id": "U9", "team_id": "T2", "name": "other"},
            {"id": "UB", "team_id": "T1", "name": "bot", "is_bot": True},
        ],
        "channels": [
            {"id": f"C{i}", "team_id": "T1", "name": f"c{i}", "is_private": i == 4}
            for i in range(1, 7)
        ]
        + [{"id": "C9", "team_id": "T2", "name": "elsewhere"}],
        "tokens": [
            {
                "token": USER,
                "team_id": "T1",
                "user_id": "U1",
                "kind": "user",
                "scopes": ["chat:write", "users:read", "channels:read", "team:read"],
            },
            {"token": NOSCOPE, "team_id": "T1", "user_id": "U1", "scopes": ["chat:write"]},
            {
                "token": BOT,
                "team_id": "T1",
                "user_id": "UB",
                "kind": "bot",
                "bot_id": "B7",
                "scopes": ["chat:write", "users:read", "users:read.email", "groups:read"],
            },
            {
                "token": ROTATING,
                "team_id": "T2",
                "user_id": "U9",
                "scopes": ["chat:write"],
                "expires_in": 43200,
                "refresh_token": REFRESH,
            },
        ],
        "oauth_clients": {CLIENT_ID: CLIENT_SECRET},
    }


@pytest.fixture
def slack() -> Iterator[SlackSandbox]:
    with SlackSandbox(World.from_dict(scenario())) as sandbox:
        yield sandbox


def call(
    slack: SlackSandbox,
    method: str,
    *,
    token: str | None = None,
    verb: str = "POST",
    form: dict[str, Any] | None = None,
    json_body: dict[str, Any] | None = None,
    query: dict[str, Any] | None = None,
    basic: tuple[str, str] | None = None,
) -> tuple[int, dict[str, str], Any]:
    url = slack.url + method + ("?" + urlencode(query) if query else "")
    headers: dict[str, str] = {}
    data = None
    if token:
        headers["Authorization"] = f"Bearer {token}"
    if basic:
        headers["Authorization"] = "Basic " + base64.b64encode(":".join(basic).encode()).decode()
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers["Content-Type"] = "application/json; charset=utf-8"
    elif form is not None:
        data = urlencode(form).encode()
        headers["Content-Type"] = "application/x-www-form-urlencoded"
    request = Request(url, data=data, headers=headers, method=verb)
    try:
        with urlopen(request, timeout=5) as resp:
            raw, status, hdrs = resp.read(), resp.status, dict(resp.headers)
    except HTTPError as err:
        raw, status, hdrs = err.read(), err.code, dict(err.headers)
    try:
        body: Any = json.loads(raw)
    except ValueError:
        body = raw.decode()
    return status, {k.lower(): v for k, v in hdrs.items()}, body


def test_auth_test_user_token_header_and_envelope(slack: SlackSandbox) -> None:
    status, headers, body = call(slack, "auth.test", token=USER)
    assert status == 200
    assert headers["x-oauth-scopes"] == "chat:write,users:read,channels:read,team:read"
    assert body["ok"] is True and "bot_id" not in body
    assert (body["team_id"], body["user_id"], body["team"]) == ("T1", "U1", "Acme")
    assert body["enterprise_id"] == "E9" and body["url"] == "https://acme.slack.com/"


def test_auth_test_bot_and_rotating(slack: SlackSandbox) -> None:
    _, _, bot = call(slack, "auth.test", token=BOT)
    assert (bot["bot_id"], bot["user_id"]) == ("B7", "UB")
    _, _, rotating = call(slack, "auth.test", token=ROTATING)
    assert "enterprise_id" not in rotating
    assert 43190 <= rotating["expires_in"] <= 43200


@pytest.mark.parametrize("how", ["get_query", "post_form", "post_json", "form_token"])
def test_arguments_from_query_form_and_json(slack: SlackSandbox, how: str) -> None:
    args = {"user": "U1"}
    if how == "get_query":
        status, _, body = call(slack, "users.info", token=USER, verb="GET", query=args)
    elif how == "post_form":
        status, _, body = call(slack, "users.info", token=USER, form=args)
    elif how == "post_json":
        status, _, body = call(slack, "users.info", token=USER, json_body=args)
    else:
        status, _, body = call(slack, "users.info", form={**args, "token": USER})
    assert status == 200 and body["ok"] is True
    assert body["user"]["id"] == "U1" and body["user"]["deleted"] is False
    assert "email" not in body["user"]["profile"]  # no users:read.email
    last = slack.requests[-1]
    assert last.verb == ("GET" if how == "get_query" else "POST")
    assert last.params == {"user": "U1"}  # the token is never a recorded param


def test_not_authed_invalid_auth_and_missing_scope(slack: SlackSandbox) -> None:
    assert call(slack, "auth.test")[2] == {"ok": False, "error": "not_authed"}
    assert call(slack, "auth.test", token=fake("xoxp-"))[2]["error"] == "invalid_auth"
    _, _, body = call(slack, "users.info", token=NOSCOPE, form={"user": "U1"})
    assert body == {
        "ok": False,
        "error": "missing_scope",
        "needed": "users:read",
        "provided": "chat:write",
    }


def test_users_info_email_scope_and_not_found(slack: SlackSandbox) -> None:
    _, _, body = call(slack, "users.info", token=BOT, form={"user": "U1"})
    assert body["user"]["profile"]["email"] == "grace@example.com"
    assert call(slack, "users.info", token=BOT, form={"user": "U9"})[2]["error"] == "user_not_found"


def test_team_info_and_conversations_info(slack: SlackSandbox) -> None:
    team = call(slack, "team.info", token=USER)[2]["team"]
    assert team == {"id": "T1", "name": "Acme", "domain": "acme", "enterprise_id": "E9"}
    assert call(slack, "team.info", token=BOT)[2]["error"] == "missing_scope"
    ok = call(slack, "conversations.info", token=USER, form={"channel": "C1"})[2]
    assert ok["channel"]["id"] == "C1"
    missing = call(slack, "conversations.info", token=USER, form={"channel": "C9"})[2]
    assert missing["error"] == "channel_not_found"
    private = call(slack, "conversations.info", token=USER, form={"channel": "C4"})[2]
    assert (private["error"], private["needed"]) == ("missing_scope", "groups:read")


def test_conversations_list_cursor_paging(slack: SlackSandbox) -> None:
    seen: list[str] = []
    cursor = ""
    pages = 0
    while True:
        form = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        body = call(slack, "conversations.list", token=USER, verb="GET", query=form)[2]
        pages += 1
        seen += [c["id"] for c in body["channels"]]
        cursor = body["response_metadata"]["next_cursor"]
        if cursor == "":
            break
    assert pages == 3 and seen == ["C1", "C2", "C3", "C5", "C6"]  # public, own team only
    both = {"types": "public_channel,private_channel", "limit": 100}
    assert call(slack, "conversations.list", token=USER, form=both)[2]["error"] == "missing_scope"
    bad = call(slack, "conversations.list", token=USER, form={"cursor": "!!"})[2]
    assert bad["error"] == "invalid_cursor"


def test_auth_revoke_dry_run_then_real(slack: SlackSandbox) -> None:
    assert call(slack, "auth.revoke", token=USER, form={"test": "1"})[2] == {
        "ok": True,
        "revoked": False,
    }
    assert call(slack, "auth.test", token=USER)[2]["ok"] is True
    assert call(slack, "auth.revoke", token=USER)[2] == {"ok": True, "revoked": True}
    assert call(slack, "auth.test", token=USER)[2]["error"] == "token_revoked"
    assert call(slack, "auth.revoke", token=BOT)[2]["revoked"] is True
    assert call(slack, "auth.test", token=BOT)[2]["error"] == "account_inactive"


def test_oauth_refresh_basic_auth_single_use(slack: SlackSandbox) -> None:
    form = {"grant_type": "refresh_token", "refresh_token": REFRESH}
    _, _, body = call(slack, "oauth.v2.access", form=form, basic=(CLIENT_ID, CLIENT_SECRET))
    assert body["ok"] is True and body["token_type"] == "user"
    assert body["access_token"].startswith("xoxe.xoxp-1-") and body["expires_in"] == 43200
    assert body["team"] == {"name": "Beta", "id": "T2"}
    new = call(slack, "auth.test", token=body["access_token"])[2]
    assert (new["ok"], new["team_id"], new["user_id"]) == (True, "T2", "U9")
    again = call(slack, "oauth.v2.access", form=form, basic=(CLIENT_ID, CLIENT_SECRET))[2]
    assert again["error"] == "invalid_refresh_token"
    chained = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}
    assert call(slack, "oauth.v2.access", form=chained, basic=(CLIENT_ID, CLIENT_SECRET))[2]["ok"]
    wrong = call(slack, "oauth.v2.access", form=chained, basic=(CLIENT_ID, "nope"))[2]
    assert wrong["error"] == "bad_client_secret"
    recorded = [r for r in slack.requests if r.method == "oauth.v2.access"]
    assert all("refresh_token" not in r.params for r in recorded)
    assert recorded[0].basic_client_id == CLIENT_ID


def test_rate_limit_429_with_integer_retry_after() -> None:
    data = scenario()
    data["teams"][0]["rate_limits"] = {"auth.test": {"per_minute": 6, "burst": 1}}
    with SlackSandbox(World.from_dict(data)) as slack:
        assert call(slack, "auth.test", token=USER)[0] == 200
        status, headers, body = call(slack, "auth.test", token=USER)
        assert (status, body) == (429, {"ok": False, "error": "ratelimited"})
        assert headers["retry-after"] == "10"  # 6/min: ten seconds to the next slot
        assert call(slack, "users.info", token=USER, form={"user": "U1"})[0] == 200  # per method
        assert call(slack, "auth.test", token=ROTATING)[0] == 200  # per team


def test_fixed_retry_after_override() -> None:
    data = {**scenario(), "rate_limits": {"auth.test": {"per_minute": 1, "burst": 1}}}
    data["retry_after"] = 0
    with SlackSandbox(World.from_dict(data)) as slack:
        call(slack, "auth.test", token=USER)
        assert call(slack, "auth.test", token=USER)[1]["retry-after"] == "0"


def test_faults_by_token_team_and_times(slack: SlackSandbox) -> None:
    with slack.world.lock:
        slack.world.faults += [
            {"method": "auth.test", "token": USER, "kind": "500_once"},
            {"method": "auth.test", "team_id": "T2", "kind": "503_html", "times": 2},
            {"method": "team.info", "kind": "fatal_error"},
            {"method": "users.info", "kind": "404_html"},
        ]
    assert call(slack, "auth.test", token=USER)[0] == 500
    assert call(slack, "auth.test", token=USER)[0] == 200  # once
    status, headers, body = call(slack, "auth.test", token=ROTATING)
    assert status == 503 and headers["content-type"].startswith("text/html")
    assert "<html>" in body
    assert call(slack, "auth.test", token=ROTATING)[0] == 503
    assert call(slack, "auth.test", token=ROTATING)[0] == 200
    assert call(slack, "team.info", token=USER)[2] == {"ok": False, "error": "fatal_error"}
    assert call(slack, "users.info", token=USER, form={"user": "U1"})[0] == 404
    assert [r.fault for r in slack.requests][:3] == ["500_once", None, "503_html"]


def test_close_fault_drops_the_connection(slack: SlackSandbox) -> None:
    slack.world.faults.append({"method": "auth.test", "kind": "close", "times": 1})
    host, port = urlsplit(slack.url).netloc.split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=5)
    conn.request("POST", "/api/auth.test", headers={"Authorization": f"Bearer {USER}"})
    with pytest.raises(http.client.RemoteDisconnected):
        conn.getresponse()
    conn.close()
    assert call(slack, "auth.test", token=USER)[0] == 200


def test_slow_fault_and_latency(slack: SlackSandbox) -> None:
    slack.world.slow_s = 0.3
    slack.world.faults.append({"method": "auth.test", "kind": "slow", "times": 1})
    start = time.monotonic()
    with pytest.raises(TimeoutError):
        urlopen(
            Request(slack.url + "auth.test", headers={"Authorization": f"Bearer {USER}"}),
            timeout=0.1,
        )
    slack.world.latency_ms = 30
    slack.world.method_latency_ms["auth.test"] = 20
    before = time.monotonic()
    assert call(slack, "auth.test", token=USER)[0] == 200
    assert time.monotonic() - before >= 0.05
    assert time.monotonic() - start < 3


def test_unknown_method_and_path(slack: SlackSandbox) -> None:
    assert call(slack, "nope.method", token=USER)[2]["error"] == "unknown_method"
    assert call(slack, "", token=USER)[0] == 404


def test_request_log_counts_and_never_prints_tokens(slack: SlackSandbox) -> None:
    call(slack, "auth.test", token=USER)
    call(slack, "auth.test", token=BOT)
    call(slack, "users.info", token=USER, form={"user": "U1"})
    assert slack.count("auth.test") == 2
    assert slack.count("auth.test", USER) == 1
    assert slack.count("users.info", Secret(USER)) == 1
    assert slack.count() == 3
    text = repr(slack.requests)
    assert USER not in text and BOT not in text
    assert slack.requests[0].token == Secret(USER)
    slack.clear()
    assert slack.count() == 0


def test_stop_returns_promptly_with_a_slow_request_in_flight() -> None:
    import threading

    world = World.from_dict({**scenario(), "slow_s": 30})
    world.faults.append({"method": "auth.test", "kind": "slow"})
    slack = SlackSandbox(world).start()

    def hang() -> None:
        with contextlib.suppress(OSError):
            call(slack, "auth.test", token=USER)

    thread = threading.Thread(target=hang, daemon=True)
    thread.start()
    deadline = time.monotonic() + 2
    while slack.count() == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    start = time.monotonic()
    slack.stop()
    assert time.monotonic() - start < 2
    thread.join(timeout=2)


def test_deleted_user_and_workspace_answer_per_token_kind(slack: SlackSandbox) -> None:
    """Slack's error table (docs.slack.dev/reference/methods/auth.test, "Errors"): a deleted
    user or workspace is token_revoked for a user token, account_inactive for a bot token."""
    installer_left = fake("xoxb-")
    with slack.world.lock:
        slack.world.users["U1"]["deleted"] = True  # the user token's user, and BOT's installer
        slack.world.add_token({"token": installer_left, "team_id": "T1", "user_id": "UB",
                               "kind": "bot", "bot_id": "B8", "scopes": ["users:read"]})
    assert call(slack, "auth.test", token=USER)[2]["error"] == "token_revoked"
    # The bot user is not the installer: the bot token keeps working, and users.info on the
    # installer tells the truth.
    assert call(slack, "auth.test", token=installer_left)[2]["ok"] is True
    info = call(slack, "users.info", token=installer_left, form={"user": "U1"})[2]
    assert info["user"]["deleted"] is True
    with slack.world.lock:
        slack.world.users["UB"]["deleted"] = True  # the bot user itself deactivated
    assert call(slack, "auth.test", token=BOT)[2]["error"] == "account_inactive"
    with slack.world.lock:
        slack.world.teams["T2"]["deleted"] = True
    assert call(slack, "auth.test", token=ROTATING)[2]["error"] == "token_revoked"


def test_raw_fault_sends_the_exact_body_and_headers(slack: SlackSandbox) -> None:
    with slack.world.lock:
        slack.world.faults += [
            {"method": "auth.test", "kind": "raw", "body": '[{"ok": true}]', "times": 1},
            {"method": "auth.test", "kind": "raw", "body": '{"ok": true, "expires_in": NaN}',
             "headers": {"x-oauth-scopes": "chat:write"}, "times": 1},
        ]
    status, headers, body = call(slack, "auth.test", token=USER)
    assert (status, body) == (200, [{"ok": True}]) and "x-oauth-scopes" not in headers
    status, headers, body = call(slack, "auth.test", token=USER)
    assert body["expires_in"] != body["expires_in"]  # NaN, verbatim
    assert headers["x-oauth-scopes"] == "chat:write"
    assert [r.fault for r in slack.requests] == ["raw", "raw"]
