"""SlackClient.validate / revoke against the sandbox Slack: outcomes, faults, retries, secrecy."""

from __future__ import annotations

import logging
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from nhictl.models import DEAD_TOKEN_STATUS, Status, ValidationResult
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.secret import Secret
from nhictl.slack import RetryPolicy, SlackClient

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def fake(prefix: str) -> str:
    return prefix + "fake" + secrets.token_hex(8)


class Env:
    def __init__(self) -> None:
        self.tokens: dict[str, str] = {
            "user": fake("xoxp-"),
            "plain": fake("xoxp-"),
            "bot": fake("xoxb-"),
            "revoked_user": fake("xoxp-"),
            "revoked_bot": fake("xoxb-"),
            "expired": fake("xoxe.xoxp-1-"),
            "expired_by_time": fake("xoxe.xoxp-1-"),
            "rotating": fake("xoxe.xoxp-1-"),
            "invalid": fake("xoxp-"),
            "deleted_user": fake("xoxp-"),
            "ghost_user": fake("xoxp-"),
        }
        t = self.tokens

        def tok(name: str, **kw: Any) -> dict[str, Any]:
            base = {"token": t[name], "team_id": "T1", "user_id": "U1", "kind": "user"}
            return {**base, "scopes": ["chat:write"], **kw}

        self.world = World.from_dict(
            {
                "teams": [
                    {"id": "T1", "name": "Acme", "domain": "acme", "enterprise_id": "E1"},
                    {"id": "T2", "name": "Beta", "domain": "beta"},
                ],
                "users": [
                    {"id": "U1", "team_id": "T1", "name": "grace", "email": "g@example.com"},
                    {"id": "U2", "team_id": "T1", "name": "gone", "deleted": True},
                    {"id": "U3", "team_id": "T1", "name": "ghost", "deleted": True},
                    {"id": "UB", "team_id": "T2", "name": "bot", "is_bot": True},
                ],
                "tokens": [
                    tok("user", scopes=["users:read", "chat:write", "users:read.email"]),
                    tok("plain"),
                    tok("bot", team_id="T2", user_id="UB", kind="bot", bot_id="B1"),
                    tok("revoked_user", state="revoked"),
                    tok("revoked_bot", kind="bot", bot_id="B2", state="revoked"),
                    tok("expired", state="expired"),
                    tok("expired_by_time", expires_in=-10),
                    tok("rotating", expires_in=3600),
                    tok("invalid", state="invalid"),
                    tok("deleted_user", user_id="U2", scopes=["users:read"]),
                    tok(
                        "ghost_user",
                        user_id="U3",
                        scopes=["users:read"],
                        dead_when_user_deleted=False,
                    ),
                ],
            }
        )
        self.sleeps: list[float] = []
        self.mono = 1000.0

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.mono += seconds

    def secret(self, name: str) -> Secret:
        return Secret(self.tokens[name])

    def client(self, url: str, **kw: Any) -> SlackClient:
        kw.setdefault("timeout_s", 2.0)
        return SlackClient(
            url, sleep=self.sleep, monotonic=lambda: self.mono, now=lambda: NOW, **kw
        )

    def fault(self, **fault: Any) -> None:
        with self.world.lock:
            self.world.faults.append(fault)


@pytest.fixture
def env() -> Iterator[tuple[Env, SlackSandbox]]:
    e = Env()
    with SlackSandbox(e.world) as sandbox:
        yield e, sandbox


def test_user_token_ok_with_identity_scopes_and_owner(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    result = e.client(slack.url).validate(e.secret("user"), "T1")
    assert result == ValidationResult(
        outcome="ok",
        workspace_id="T1",
        workspace_name="Acme",
        enterprise_id="E1",
        slack_user_id="U1",
        bot_id=None,
        token_kind="user",
        granted_scopes=["chat:write", "users:read", "users:read.email"],
        slack_user_deleted=False,
        slack_user_checked=True,
    )
    assert slack.count("users.info", e.tokens["user"]) == 1


def test_without_users_read_owner_is_not_checked(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    result = e.client(slack.url).validate(e.secret("plain"), None)
    assert result.outcome == "ok"
    assert result.slack_user_checked is False
    assert result.slack_user_deleted is None
    assert slack.count("users.info") == 0


def test_bot_token(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    result = e.client(slack.url).validate(e.secret("bot"), "T2")
    assert (result.outcome, result.token_kind, result.bot_id) == ("ok", "bot", "B1")
    assert (result.workspace_id, result.enterprise_id) == ("T2", None)


def test_rotating_token_expiry_from_expires_in(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    result = e.client(slack.url).validate(e.secret("rotating"), "T1")
    assert result.outcome == "ok"
    assert result.token_expires_at is not None
    assert result.token_expires_at in {"2026-11-29T12:59:58Z", "2026-11-29T12:59:59Z"}


def test_deleted_user_seen_through_users_info(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    result = e.client(slack.url).validate(e.secret("ghost_user"), "T1")
    assert (result.outcome, result.slack_user_checked, result.slack_user_deleted) == (
        "ok",
        True,
        True,
    )


@pytest.mark.parametrize(
    ("name", "code", "status"),
    [
        ("revoked_user", "token_revoked", Status.NEEDS_RECONNECT),
        ("revoked_bot", "account_inactive", Status.NEEDS_RECONNECT),
        # Slack: a deleted user's user token answers token_revoked (account_inactive is the
        # bot-token answer), docs.slack.dev/reference/methods/auth.test "Errors"
        ("deleted_user", "token_revoked", Status.NEEDS_RECONNECT),
        ("expired", "token_expired", Status.EXPIRED),
        ("expired_by_time", "token_expired", Status.EXPIRED),
        ("invalid", "invalid_auth", Status.NEEDS_RECONNECT),
        ("unknown", "invalid_auth", Status.NEEDS_RECONNECT),
        ("empty", "not_authed", Status.NEEDS_RECONNECT),
    ],
)
def test_dead_codes(env: tuple[Env, SlackSandbox], name: str, code: str, status: Status) -> None:
    e, slack = env
    token = {"unknown": Secret(fake("xoxp-")), "empty": Secret("")}.get(name) or e.secret(name)
    result = e.client(slack.url).validate(token, "T1")
    assert (result.outcome, result.error) == ("dead", code)
    assert DEAD_TOKEN_STATUS[code] is status
    assert result.workspace_id is None and result.granted_scopes is None
    assert slack.count("auth.test") == 1  # a dead answer is never retried


@pytest.mark.parametrize("code", ["no_permission", "missing_scope", "ekm_access_denied"])
def test_unexpected_auth_test_codes_are_inconclusive(
    env: tuple[Env, SlackSandbox], code: str
) -> None:
    e, slack = env
    e.fault(method="auth.test", kind="error", error=code, needed="x", provided="y")
    result = e.client(slack.url).validate(e.secret("user"), "T1")
    assert (result.outcome, result.error) == ("inconclusive", code)
    assert slack.count("auth.test") == 1


TRANSIENT = ["500_once", "503_html", "close", "fatal_error", "slow", "404_html"]


@pytest.mark.parametrize("kind", TRANSIENT)
def test_transient_fault_is_inconclusive_then_clean(
    env: tuple[Env, SlackSandbox], kind: str
) -> None:
    e, slack = env
    e.world.slow_s = 0.6
    client = e.client(slack.url, timeout_s=0.2, retry=RetryPolicy(max_retries=0))
    clean = client.validate(e.secret("user"), "T1")
    e.fault(method="auth.test", token=e.tokens["user"], kind=kind, times=1)
    faulted = client.validate(e.secret("user"), "T1")
    assert faulted.outcome == "inconclusive"
    assert faulted.detail and faulted.detail.startswith("auth.test")
    assert faulted.workspace_id is None
    assert client.validate(e.secret("user"), "T1") == clean


@pytest.mark.parametrize("kind", ["500_once", "503_html", "close", "fatal_error"])
def test_retries_recover_from_one_transient_fault(env: tuple[Env, SlackSandbox], kind: str) -> None:
    e, slack = env
    client = e.client(slack.url)
    clean = client.validate(e.secret("user"), "T1")
    e.fault(method="users.info", token=e.tokens["user"], kind=kind, times=1)
    assert client.validate(e.secret("user"), "T1") == clean
    assert client.stats.retries == 1
    assert len(e.sleeps) == 1 and 0 < e.sleeps[0] <= 0.25  # backoff with jitter, injected


def test_404_is_not_retried(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    e.fault(method="auth.test", kind="404_html")
    result = e.client(slack.url).validate(e.secret("user"), "T1")
    assert result.outcome == "inconclusive" and "HTTP 404" in (result.detail or "")
    assert slack.count("auth.test") == 1


def test_users_info_transient_failure_makes_validation_inconclusive(
    env: tuple[Env, SlackSandbox],
) -> None:
    e, slack = env
    e.fault(method="users.info", kind="503_html")
    result = e.client(slack.url, retry=RetryPolicy(max_retries=2)).validate(e.secret("user"), "T1")
    assert result.outcome == "inconclusive" and result.detail
    assert result.detail.startswith("users.info")
    assert slack.count("users.info") == 3


def test_429_retry_after_is_honoured(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    e.fault(method="auth.test", kind="429", retry_after=3, times=1)
    client = e.client(slack.url)
    result = client.validate(e.secret("plain"), "T1")
    assert result.outcome == "ok"
    assert e.sleeps[0] == 3
    assert (client.stats.http_429, client.stats.calls) == (1, 2)


def test_429_outlasting_the_budget_is_inconclusive(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    e.fault(method="auth.test", kind="429", retry_after=1)
    client = e.client(slack.url, retry=RetryPolicy(max_429_retries=2))
    result = client.validate(e.secret("plain"), "T1")
    assert (result.outcome, result.error) == ("inconclusive", "ratelimited")
    assert client.stats.http_429 == 3
    assert slack.count("auth.test") == 3


def test_429_longer_than_allowed_is_not_waited(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    e.fault(method="auth.test", kind="429", retry_after=600)
    client = e.client(slack.url, retry=RetryPolicy(max_retry_after_s=60))
    assert client.validate(e.secret("plain"), "T1").outcome == "inconclusive"
    assert e.sleeps == []


def test_connection_refused_is_inconclusive() -> None:
    e = Env()
    sandbox = SlackSandbox(e.world)
    url = sandbox.url
    sandbox.stop()  # the port is closed now
    client = e.client(url, retry=RetryPolicy(max_retries=1))
    result = client.validate(e.secret("user"), "T1")
    assert result.outcome == "inconclusive"
    assert result.detail and "connection error" in result.detail


def test_no_token_in_results_logs_or_errors(
    env: tuple[Env, SlackSandbox], caplog: pytest.LogCaptureFixture
) -> None:
    e, slack = env
    caplog.set_level(logging.DEBUG)
    logging.getLogger("slack_sdk").setLevel(logging.DEBUG)
    e.fault(method="auth.test", kind="close", times=1)
    e.fault(method="auth.test", kind="503_html", times=1)
    client = e.client(slack.url, retry=RetryPolicy(max_retries=0))
    results = [client.validate(e.secret(n), "T1") for n in ("user", "user", "revoked_user")]
    text = caplog.text + repr(results) + repr(slack.requests)
    for token in e.tokens.values():
        assert token not in text


def test_revoke_dry_run_then_real(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    client = e.client(slack.url)
    dry = client.revoke(e.secret("plain"), test=True)
    assert dry.outcome == "test_ok" and dry.ok
    assert client.validate(e.secret("plain"), "T1").outcome == "ok"
    real = client.revoke(e.secret("plain"))
    assert real.outcome == "revoked"
    after = client.validate(e.secret("plain"), "T1")
    assert (after.outcome, after.error) == ("dead", "token_revoked")
    again = client.revoke(e.secret("plain"))
    assert (again.outcome, again.error) == ("dead", "token_revoked")


def test_revoke_bot_and_transient_failure(env: tuple[Env, SlackSandbox]) -> None:
    e, slack = env
    client = e.client(slack.url, retry=RetryPolicy(max_retries=0))
    e.fault(method="auth.revoke", kind="503_html", times=1)
    failed = client.revoke(e.secret("bot"))
    assert failed.outcome == "failed" and not failed.ok
    assert client.validate(e.secret("bot"), "T2").outcome == "ok"  # nothing changed
    assert client.revoke(e.secret("bot")).outcome == "revoked"
    after = client.validate(e.secret("bot"), "T2")
    assert (after.outcome, after.error) == ("dead", "account_inactive")
