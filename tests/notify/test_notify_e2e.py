"""``nhictl notify`` end to end: the real CLI against the sandbox Slack (chat.postMessage
with a 429 and a 500 on the way, an incoming webhook) and a loopback webhook receiver that
verifies the HMAC signature; a second run with nothing new posts nothing."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nhictl.notifiers import service
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.webhook_receiver import Answer, WebhookReceiver
from tests.conftest import Cli
from tests.notify.world import (
    HOOK_SECRET_ENV,
    HOOK_URL_ENV,
    NOTIFY_ENV,
    SLACK_HOOK_ENV,
    SLACK_HOOK_TARGET,
    SLACK_TARGET,
    WEBHOOK_TARGET,
    NotifyWorld,
)


@pytest.fixture
def sleeps(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """Waits the transports asked for (never slept for real)."""
    waited: list[float] = []
    monkeypatch.setattr(service, "sleep", waited.append)
    return waited


@pytest.fixture
def nw(nhictl_env: Path, monkeypatch: pytest.MonkeyPatch) -> NotifyWorld:
    world = NotifyWorld()
    world.write_inputs(nhictl_env.parent.parent, SLACK_TARGET + WEBHOOK_TARGET
                       + SLACK_HOOK_TARGET)
    monkeypatch.setenv(NOTIFY_ENV, world.notifier_token)
    monkeypatch.setenv(HOOK_SECRET_ENV, world.hook_secret)
    return world


def _findings(cli: Cli, url: str) -> None:
    assert cli("init").code == 0
    rec = cli("--slack-api-url", url, "reconcile")
    assert rec.code == 0, rec
    assert cli("check").code == 0


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_slack_post_survives_429_and_500_and_says_nothing_twice(
    cli: Cli, nw: NotifyWorld, sleeps: list[float]
) -> None:
    faults = [{"method": "chat.postMessage", "kind": "429", "retry_after": 0, "times": 1},
              {"method": "chat.postMessage", "kind": "500_once"}]
    with SlackSandbox(nw.world(faults)) as slack:
        _findings(cli, slack.url)
        first = cli("--slack-api-url", slack.url, "notify", "secops")
        assert first.code == 0, first
        assert slack.count("chat.postMessage") == 3  # 429, HTML 500, then posted
        posted = slack.chat.messages
        assert len(posted) == 1
        msg = posted[0]
        assert msg.channel == "C1" and msg.via == "chat.postMessage"
        assert "new finding" in msg.text and "scope_exceeds_purpose" in msg.text
        assert "went dead" in msg.text and "needs_reconnect" in msg.text
        assert msg.blocks[0]["type"] == "header"
        assert msg.blocks[-1]["type"] == "context"
        assert msg.raw["unfurl_links"] is False
        assert sleeps[0] == 0  # the 429's Retry-After: 0
        assert "after 3 attempts" in first.err

        again = cli("--slack-api-url", slack.url, "notify", "secops")
        assert again.code == 0, again
        assert "nothing new" in again.err
        assert len(slack.chat.messages) == 1
        assert slack.count("chat.postMessage") == 3

        # Something new: another grant dies. Only that is announced.
        slack.world.set_token_state(nw.app_tokens["c-ok"], "revoked")
        assert cli("--slack-api-url", slack.url, "reconcile").code == 0
        third = cli("--slack-api-url", slack.url, "notify", "secops")
        assert third.code == 0, third
        assert len(slack.chat.messages) == 2
        text = slack.chat.messages[-1].text
        assert "1 binding went dead" in text and "new finding" not in text


def test_ambiguous_slack_failure_is_not_retried_and_is_sent_next_time(
    cli: Cli, nw: NotifyWorld, sleeps: list[float]
) -> None:
    json_500 = {"method": "chat.postMessage", "kind": "raw", "status": 500, "times": 1,
                "body": '{"ok": false, "error": "internal_error"}',
                "headers": {"Content-Type": "application/json"}}
    with SlackSandbox(nw.world([json_500])) as slack:
        _findings(cli, slack.url)
        failed = cli("--slack-api-url", slack.url, "notify", "secops")
        assert failed.code == 4, failed
        assert slack.count("chat.postMessage") == 1  # not retried: Slack may have posted
        assert "may have posted" in failed.err
        retried = cli("--slack-api-url", slack.url, "notify", "secops")
        assert retried.code == 0, retried
        assert len(slack.chat.messages) == 1  # the news was not lost


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_slack_refusal_names_the_cause(cli: Cli, nw: NotifyWorld, nhictl_env: Path,
                                       sleeps: list[float]) -> None:
    nw.write_inputs(nhictl_env.parent.parent, SLACK_TARGET.replace('"C1"', '"C2"'))
    with SlackSandbox(nw.world()) as slack:
        _findings(cli, slack.url)
        result = cli("--slack-api-url", slack.url, "notify", "secops")
    assert result.code == 4
    assert "not_in_channel" in result.err and "/invite" in result.err
    assert nw.notifier_token not in result.output


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_signed_webhook_retries_5xx_and_verifies(
    cli: Cli, nw: NotifyWorld, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackSandbox(nw.world()) as slack, WebhookReceiver(
            nw.hook_secret, [Answer(503, body=b"busy")]) as hook:
        monkeypatch.setenv(HOOK_URL_ENV, hook.url())
        _findings(cli, slack.url)
        sent = cli("notify", "siem")
        assert sent.code == 0, sent
        assert [d.status for d in hook.deliveries] == [503, 204]
        assert all(d.verified for d in hook.deliveries)
        doc: dict[str, Any] = json.loads(hook.deliveries[-1].body)
        assert doc["type"] == "nhictl.notification"
        assert doc["summary"]["dead_bindings"] == 1
        assert {f["rule_id"] for f in doc["new_findings"]} >= {"scope_exceeds_purpose"}
        ids = {d.headers["x-nhictl-delivery"] for d in hook.deliveries}
        assert ids == {doc["id"]}  # the same delivery id on the retry
        assert len(sleeps) == 1

        assert cli("notify", "siem").code == 0
        assert len(hook.deliveries) == 2  # nothing new: nothing sent


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_webhook_redirect_is_not_followed(
    cli: Cli, nw: NotifyWorld, sleeps: list[float], monkeypatch: pytest.MonkeyPatch
) -> None:
    with SlackSandbox(nw.world()) as slack, WebhookReceiver(nw.hook_secret) as elsewhere, \
            WebhookReceiver(nw.hook_secret) as hook:
        hook.answers.append(Answer(307, headers=(("Location", elsewhere.url()),)))
        monkeypatch.setenv(HOOK_URL_ENV, hook.url())
        _findings(cli, slack.url)
        result = cli("notify", "siem")
        assert result.code == 4
        assert "redirect" in result.err and "not followed" in result.err
        assert elsewhere.deliveries == []
        assert len(hook.deliveries) == 1


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_slack_incoming_webhook(cli: Cli, nw: NotifyWorld, sleeps: list[float],
                                monkeypatch: pytest.MonkeyPatch) -> None:
    faults = [{"method": "incoming-webhook", "kind": "500_once"}]
    with SlackSandbox(nw.world(faults)) as slack:
        url = slack.incoming_webhook_url("T1", "C1")
        monkeypatch.setenv(SLACK_HOOK_ENV, url)
        _findings(cli, slack.url)
        result = cli("notify", "secops-hook")
        assert result.code == 0, result
        assert [m.via for m in slack.chat.messages] == ["incoming-webhook"]
        assert slack.count("incoming-webhook") == 2
        assert url.rsplit("/", 1)[1] not in result.output  # the URL's secret part
        assert cli("notify", "secops-hook").code == 0
        assert len(slack.chat.messages) == 1


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_dry_run_prints_and_records_nothing(cli: Cli, nw: NotifyWorld,
                                            sleeps: list[float]) -> None:
    with SlackSandbox(nw.world()) as slack:
        _findings(cli, slack.url)
        dry = cli("--slack-api-url", slack.url, "notify", "secops", "--dry-run")
        assert dry.code == 0, dry
        shown = json.loads(dry.out)["notifications"][0]
        assert shown["target"] == "secops" and shown["payload"]["channel"] == "C1"
        assert shown["payload"]["blocks"][0]["type"] == "header"
        assert slack.count("chat.postMessage") == 0
        real = cli("--slack-api-url", slack.url, "notify", "secops")
        assert real.code == 0
        assert len(slack.chat.messages) == 1


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_notify_option_on_reconcile_and_check(cli: Cli, nw: NotifyWorld,
                                              sleeps: list[float]) -> None:
    with SlackSandbox(nw.world()) as slack:
        assert cli("init").code == 0
        rec = cli("--slack-api-url", slack.url, "reconcile", "--notify", "secops")
        assert rec.code == 0, rec
        assert len(slack.chat.messages) == 1  # no check yet: the dead binding only
        assert "new finding" not in slack.chat.messages[0].text
        chk = cli("--slack-api-url", slack.url, "check", "--notify", "secops")
        assert chk.code == 0, chk
        assert len(slack.chat.messages) == 2
        assert "new finding" in slack.chat.messages[1].text
        assert "went dead" not in slack.chat.messages[1].text


@pytest.mark.engine_neutral("the notifier's transports and targets")
def test_bad_targets_fail_before_anything_runs(cli: Cli, nw: NotifyWorld,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("init").code == 0
    unknown = cli("reconcile", "--no-validate", "--notify", "nope")
    assert unknown.code == 3 and "unknown notify target 'nope'" in unknown.err
    monkeypatch.delenv(NOTIFY_ENV)
    missing = cli("reconcile", "--no-validate", "--notify", "secops")
    assert missing.code == 3 and NOTIFY_ENV in missing.err
    listed = cli("inventory", "list", "-o", "json")
    assert listed.json()["bindings"] == []  # nothing was written


def test_resolved_findings_are_announced_once(cli: Cli, nw: NotifyWorld,
                                              sleeps: list[float]) -> None:
    with SlackSandbox(nw.world()) as slack:
        _findings(cli, slack.url)
        assert cli("--slack-api-url", slack.url, "notify", "secops").code == 0
        # The over-scoped grant is reconnected with chat:write only.
        entry = slack.world.token(nw.app_tokens["c-wide"])
        assert entry is not None
        entry["scopes"] = ["chat:write"]
        assert cli("--slack-api-url", slack.url, "reconcile").code == 0
        assert cli("--slack-api-url", slack.url, "check", "--notify", "secops").code == 0
        assert len(slack.chat.messages) == 2
        text = slack.chat.messages[-1].text
        assert "Resolved: scope_exceeds_purpose" in text
        assert cli("--slack-api-url", slack.url, "notify", "secops").code == 0
        assert len(slack.chat.messages) == 2


@pytest.mark.parametrize(("scopes", "flagged"), [
    (["chat:write"], False),
    (["chat:write", "channels:history"], True),
])
def test_the_notifier_token_is_an_inventoried_checked_binding(
    cli: Cli, nw: NotifyWorld, scopes: list[str], flagged: bool
) -> None:
    scenario = nw.scenario()
    scenario["tokens"][-1]["scopes"] = scopes
    from nhictl.sandbox.world import World

    with SlackSandbox(World.from_dict(scenario)) as slack:
        assert cli("init").code == 0
        assert cli("--slack-api-url", slack.url, "reconcile").code == 0
        listed = cli("inventory", "list", "--source", "nhictl", "-o", "json").json()["bindings"]
        notifier = next(b for b in listed if b["connection_id"] == "notify:secops")
        assert notifier["purpose"] == ["nhictl-notify"] and notifier["status"] == "active"
        assert notifier["granted_scopes"] == sorted(scopes)
        found = cli("check", "--rule", "scope_exceeds_purpose", "-o", "json").json()["findings"]
    on_notifier = [f for f in found if f["binding_id"] == notifier["id"]]
    assert bool(on_notifier) is flagged
    if flagged:
        assert on_notifier[0]["evidence"]["excess"] == ["channels:history"]
    assert nw.notifier_token not in json.dumps(listed)
