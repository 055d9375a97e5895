"""``[[notify]]`` validation, and the messages' shape and limits."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from slack_sdk.models.blocks import Block

from nhictl.config import parse_config
from nhictl.errors import ConfigError
from nhictl.models import Severity
from nhictl.notifiers.digest import DeadNews, Digest, FindingNews, RunNews
from nhictl.notifiers.payload import (
    TEXT_LIMIT,
    mrkdwn_escape,
    slack_message,
    text_fallback,
    webhook_document,
)

P = Path("nhictl.toml")


def _notify(**entry: Any) -> dict[str, Any]:
    return {"notify": [{"name": "n", **entry}]}


@pytest.mark.parametrize(("entry", "message"), [
    ({"kind": "teams"}, "kind: must be one of slack, webhook"),
    ({"kind": "slack", "token_env": "T", "channel": "#alerts"}, "channel id"),
    ({"kind": "slack", "channel": "C1"}, "exactly one of token_env"),
    ({"kind": "slack", "token_env": "T", "webhook_url_env": "U", "channel": "C1"},
     "exactly one"),
    ({"kind": "slack", "webhook_url_env": "U", "channel": "C1"}, "not used with"),
    ({"kind": "slack", "token": "xoxb-pasted", "channel": "C1"}, "literal secrets"),
    ({"kind": "webhook", "url_env": "U"}, "secret_env: is required"),
    ({"kind": "webhook", "url_env": "https://example.test/x", "secret_env": "S"},
     "NAME of an environment variable"),
    ({"kind": "webhook", "url": "https://example.test/x", "secret_env": "S"},
     "literal secrets"),
    ({"kind": "webhook", "url_env": "U", "secret_env": "S", "top": 0}, "top"),
    ({"kind": "webhook", "url_env": "U", "secret_env": "S", "min_severity": "urgent"},
     "min_severity"),
    ({"kind": "webhook", "url_env": "U", "secret_env": "S", "channel": "C1"}, "unknown key"),
])
def test_bad_entries_name_the_key(entry: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_config(_notify(**entry), P)
    assert message in info.value.message and "nhictl.toml: notify[0]" in info.value.message
    assert "pasted" not in info.value.message and "example.test" not in info.value.message


def test_good_entries() -> None:
    cfg = parse_config({"notify": [
        {"name": "a", "kind": "slack", "token_env": "TOK", "channel": "C0123456789"},
        {"name": "b", "kind": "slack", "webhook_url_env": "HOOK"},
        {"name": "c", "kind": "webhook", "url_env": "URL", "secret_env": "SEC",
         "min_severity": "high", "top": 10}]}, P)
    assert [t.transport for t in cfg.notify] == ["slack-chat", "slack-webhook", "webhook"]
    assert cfg.notify[2].min_severity is Severity.HIGH and cfg.notify[2].top == 10
    with pytest.raises(ConfigError, match="duplicate"):
        parse_config({"notify": [{"name": "a", "kind": "slack", "webhook_url_env": "H"}] * 2},
                     P)


def _big_digest(n: int = 400) -> Digest:
    hostile = "<https://evil.example|click> <!channel> & `code` " + "x" * 2000
    sev = list(Severity)
    return Digest(
        target="secops", generated_at="2026-12-01T00:00:00Z", check_run_id="r-1",
        new_findings=[FindingNews(f"fp{i}", "scope_exceeds_purpose", sev[i % 5], f"b-{i:010x}",
                                  "T" * 500, hostile) for i in range(n)],
        resolved_findings=[FindingNews(f"old{i}", "dormant", Severity.LOW, f"b-{i:010x}", "", "")
                           for i in range(n)],
        dead_bindings=[DeadNews(f"b-{i:010x}", "needs_reconnect", hostile[:200], "o@x.test",
                                "Acme") for i in range(n)],
        partial_runs=[RunNews(f"r-{i}", "reconcile", "partial", None, hostile[:300])
                      for i in range(20)])


def test_slack_message_stays_within_slack_limits() -> None:
    d = _big_digest()
    msg = slack_message(d, top=20, channel="C1")
    blocks = msg["blocks"]
    assert len(blocks) <= 50 and blocks[0]["type"] == "header"
    assert len(blocks[0]["text"]["text"]) <= 150
    for block in Block.parse_all(blocks):
        block.validate_json()  # slack_sdk's own limits
    assert all(len(b["text"]["text"]) <= 3000 for b in blocks if b["type"] == "section")
    assert len(msg["text"]) <= TEXT_LIMIT
    everything = str(blocks)
    assert "<https://" not in everything and "<!channel>" not in everything
    assert "&lt;!channel&gt;" in everything
    assert msg["unfurl_links"] is False and msg["unfurl_media"] is False
    assert "...and 395 more" in text_fallback(d, 5)
    cut = text_fallback(d, 20)  # too much to say: cut by lines, the footer always last
    assert len(cut) <= TEXT_LIMIT and "cut to fit" in cut
    assert cut.endswith(f"(notification {d.id}, check run r-1, 2026-12-01T00:00:00Z)")


def test_webhook_document_counts_everything() -> None:
    d = _big_digest(1500)
    doc = webhook_document(d, top=5)
    assert doc["summary"]["new_findings"] == 1500 and doc["truncated"] is True
    assert len(doc["new_findings"]) == 1000
    assert doc["id"] == d.id == _big_digest(1500).id  # same news, same id
    assert doc["summary"]["by_severity"] == {"critical": 300, "high": 300, "medium": 300,
                                             "low": 300, "info": 300}


def test_mrkdwn_escape() -> None:
    assert mrkdwn_escape("a<b>&`c`") == "a&lt;b&gt;&amp;'c'"
