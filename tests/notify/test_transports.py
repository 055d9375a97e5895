"""Transports through their public interfaces: the webhook over httpx.MockTransport (retry,
backoff, final 4xx, redirects, signature), Slack's retry rule against the sandbox."""

from __future__ import annotations

import json
import socket
from typing import Any

import httpx
import pytest

from nhictl.errors import NotifyFailedError
from nhictl.net import HttpPolicy
from nhictl.notifiers.base import RetryPolicy, is_edge_error_page, retry_after_seconds
from nhictl.notifiers.slack import SlackChatTransport
from nhictl.notifiers.webhook import WebhookTransport, sign, verify
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.secret import Secret
from tests.notify.world import NotifyWorld

SECRET = Secret("s3cr3t-for-tests-only")
URL = Secret("https://hooks.example.test/in/abcdefghijklmnop")
DOC = {"id": "n-000000000001", "type": "nhictl.notification", "text": "hello"}


def _hook(handler: Any, sleeps: list[float], **kw: Any) -> WebhookTransport:
    return WebhookTransport(target="siem", url=URL, secret=SECRET, policy=HttpPolicy(),
                            sleep=sleeps.append, http_transport=httpx.MockTransport(handler),
                            clock=lambda: 1_764_000_000, **kw)


def test_webhook_signs_each_attempt_and_backs_off_on_5xx() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(500 if len(seen) < 3 else 200, text="{}")

    sleeps: list[float] = []
    delivery = _hook(handler, sleeps).send(DOC)
    assert delivery.attempts == 3 and len(sleeps) == 2
    assert 0.25 <= sleeps[0] <= 0.5 and 0.5 <= sleeps[1] <= 1.0  # exponential, jittered
    for request in seen:
        headers = {k.lower(): v for k, v in request.headers.items()}
        assert headers["x-nhictl-delivery"] == DOC["id"]
        assert verify(SECRET.reveal().encode(), headers, request.content, now=1_764_000_010)
        assert json.loads(request.content) == DOC


def test_webhook_gives_up_after_the_budget() -> None:
    sleeps: list[float] = []
    with pytest.raises(NotifyFailedError) as info:
        _hook(lambda r: httpx.Response(503, json={"error": "busy"}), sleeps,
              retry=RetryPolicy(max_attempts=3)).send(DOC)
    assert len(sleeps) == 2 and info.value.maybe_delivered
    assert "HTTP 503" in info.value.message and "abcdefghijklmnop" not in info.value.message


def test_webhook_4xx_is_final_and_429_waits_retry_after() -> None:
    sleeps: list[float] = []
    with pytest.raises(NotifyFailedError) as info:
        _hook(lambda r: httpx.Response(401, text="bad_signature"), sleeps).send(DOC)
    assert sleeps == [] and "HTTP 401 bad_signature" in info.value.message
    answers = iter([httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(204)])
    assert _hook(lambda r: next(answers), sleeps).send(DOC).attempts == 2
    assert sleeps == [7.0]
    with pytest.raises(NotifyFailedError):  # a Retry-After past the cap is not waited for
        _hook(lambda r: httpx.Response(429, headers={"Retry-After": "3600"}), sleeps).send(DOC)


def test_webhook_connection_refused_is_retried() -> None:
    calls = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(200)

    sleeps: list[float] = []
    assert _hook(handler, sleeps).send(DOC).attempts == 2


def test_webhook_redirect_is_refused_naming_only_the_origin() -> None:
    sleeps: list[float] = []
    target = "https://elsewhere.example.test/steal?x=1"
    with pytest.raises(NotifyFailedError) as info:
        _hook(lambda r: httpx.Response(302, headers={"Location": target}), sleeps).send(DOC)
    assert "https://elsewhere.example.test" in info.value.message
    assert "steal" not in info.value.message and sleeps == []
    assert not info.value.maybe_delivered


def test_plain_http_to_a_remote_host_is_refused() -> None:
    from nhictl.errors import ConfigError

    with pytest.raises(ConfigError, match="plain http"):
        WebhookTransport(target="siem", url=Secret("http://hooks.example.test/x"),
                         secret=SECRET, policy=HttpPolicy())


def test_signature_scheme() -> None:
    body = b'{"a":1}'
    sig = sign(b"k", "100", body)
    assert sig.startswith("sha256=") and len(sig) == 7 + 64
    headers = {"x-nhictl-timestamp": "100", "x-nhictl-signature": sig}
    assert verify(b"k", headers, body, now=100)
    assert not verify(b"k", headers, body + b" ", now=100)  # body changed
    assert not verify(b"k", headers, body, now=100 + 301)  # replayed later
    assert not verify(b"other", headers, body, now=100)


def test_retry_helpers() -> None:
    assert retry_after_seconds(["3"]) == 3.0 and retry_after_seconds("12") == 12.0
    assert retry_after_seconds(None) == 1.0 and retry_after_seconds("soon") == 1.0
    assert is_edge_error_page(500, b"<html>oops</html>", "text/html")
    assert not is_edge_error_page(500, b'{"ok":false,"error":"internal_error"}', "text/html")
    assert not is_edge_error_page(502, b"", "application/json")
    assert not is_edge_error_page(404, b"<html/>", "text/html")


def _chat(url: str, token: str, sleeps: list[float], **kw: Any) -> SlackChatTransport:
    return SlackChatTransport(target="secops", api_url=url, token=Secret(token),
                              token_env="TOKEN_VAR", channel="C1", policy=HttpPolicy(),
                              sleep=sleeps.append, **kw)


MESSAGE = {"channel": "C1", "text": "hi", "blocks": [{"type": "divider"}]}


@pytest.mark.parametrize("kind", ["500_once", "503_html"])
def test_slack_edge_pages_are_retried(kind: str) -> None:
    nw = NotifyWorld()
    with SlackSandbox(nw.world([{"method": "chat.postMessage", "kind": kind,
                                 "times": 1}])) as slack:
        sleeps: list[float] = []
        delivery = _chat(slack.url, nw.notifier_token, sleeps).send(MESSAGE)
        assert delivery.attempts == 2 and len(slack.chat.messages) == 1 and len(sleeps) == 1


@pytest.mark.parametrize("fault", [
    {"kind": "fatal_error"},
    {"kind": "close"},  # connection dropped after the request was sent
    {"kind": "raw", "status": 503, "body": '{"ok":false,"error":"service_unavailable"}'},
])
def test_slack_maybe_posted_is_not_retried(fault: dict[str, Any]) -> None:
    nw = NotifyWorld()
    with SlackSandbox(nw.world([{"method": "chat.postMessage", "times": 1, **fault}])) as slack:
        sleeps: list[float] = []
        with pytest.raises(NotifyFailedError) as info:
            _chat(slack.url, nw.notifier_token, sleeps).send(MESSAGE)
        assert info.value.maybe_delivered and slack.count("chat.postMessage") == 1
        assert nw.notifier_token not in str(info.value) + str(info.value.hint)


def test_slack_rate_limit_budget_and_unreachable_server() -> None:
    nw = NotifyWorld()
    with SlackSandbox(nw.world([{"method": "chat.postMessage", "kind": "429",
                                 "retry_after": 2, "times": 9}])) as slack:
        sleeps: list[float] = []
        with pytest.raises(NotifyFailedError) as info:
            _chat(slack.url, nw.notifier_token, sleeps,
                  retry=RetryPolicy(max_attempts=3)).send(MESSAGE)
        assert sleeps == [2.0, 2.0] and not info.value.maybe_delivered
        assert slack.chat.messages == []
    with socket.socket() as s:  # a port nobody listens on: nothing was sent, retried
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    sleeps = []
    with pytest.raises(NotifyFailedError) as info:
        _chat(f"http://127.0.0.1:{port}/api/", nw.notifier_token, sleeps).send(MESSAGE)
    assert len(sleeps) == 3 and not info.value.maybe_delivered
    assert "cannot connect" in info.value.message


def test_slack_missing_scope_hint() -> None:
    nw = NotifyWorld()
    scenario = nw.scenario()
    scenario["tokens"][-1]["scopes"] = ["channels:read"]
    from nhictl.sandbox.world import World

    with SlackSandbox(World.from_dict(scenario)) as slack, \
            pytest.raises(NotifyFailedError) as info:
        _chat(slack.url, nw.notifier_token, []).send(MESSAGE)
    assert "missing_scope" in info.value.message and "chat:write" in str(info.value.hint)
