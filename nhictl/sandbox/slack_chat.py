"""Posting in the sandbox Slack: ``chat.postMessage`` and incoming webhooks.

``chat.postMessage`` (docs.slack.dev/reference/methods/chat.postMessage): a token with
``chat:write`` (else ``missing_scope`` with ``needed``/``provided``, as every method here);
``channel`` must be a channel of the token's team (``channel_not_found``) whose ``members``,
when the scenario lists them, include the token's user (``not_in_channel``); ``text`` or
``blocks`` is required (``no_text``); ``blocks`` must be a list of at most 50 objects with a
``type`` (``invalid_blocks``); ``text`` over 40,000 characters is ``msg_too_long``. Success
has the shape of Slack's documented example (``{"ok": true, "channel", "ts", "message":
{"type": "message", "subtype": "bot_message", "text", "bot_id", "ts", ...}}``); slack_sdk's
own test server answers its fixtures the same way (tests/slack_sdk/web/mock_web_api_handler.py,
HTTP 200 with a JSON body for every method).

Incoming webhooks (docs.slack.dev/messaging/sending-messages-using-incoming-webhooks):
``POST /services/T…/B…/secret`` with a JSON body; ``200 ok`` as text, or a plain-text error
code with a 4xx status (``400 invalid_payload`` for a body that is not JSON,
``400 no_text``, ``404 no_service`` for an unknown URL, ``410 channel_is_archived``). Faults
apply to them under the method name ``incoming-webhook`` (``500_once``, ``429`` ...).

Every message posted is kept in :attr:`ChatLog.messages` so tests can read what Slack got.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from nhictl.sandbox.scenario import Reply
from nhictl.sandbox.world import World

WEBHOOK_METHOD = "incoming-webhook"
MAX_BLOCKS = 50
MAX_TEXT = 40_000


@dataclass(frozen=True)
class PostedMessage:
    via: str  # chat.postMessage | incoming-webhook
    team_id: str | None
    channel: str
    ts: str
    text: str
    blocks: list[Any] = field(default_factory=list)
    raw: dict[str, Any] = field(default_factory=dict)  # every argument as received


def _err(code: str, **fields: Any) -> Reply:
    return Reply(body={"ok": False, "error": code, **fields})


def _blocks(value: Any) -> list[Any] | None:
    """The blocks argument (a JSON string in a form body, a list in a JSON body)."""
    if value is None:
        return []
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except ValueError:
            return None
    if not isinstance(value, list) or len(value) > MAX_BLOCKS:
        return None
    if not all(isinstance(b, dict) and isinstance(b.get("type"), str) for b in value):
        return None
    return value


class ChatLog:
    """What was posted in the sandbox, and the incoming webhooks it serves."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._lock = threading.Lock()
        self._messages: list[PostedMessage] = []
        self._webhooks: dict[str, dict[str, Any]] = {}
        self._seq = 0

    @property
    def messages(self) -> list[PostedMessage]:
        with self._lock:
            return list(self._messages)

    def _ts(self) -> str:
        with self._lock:
            self._seq += 1
            return f"{int(time.time())}.{self._seq:06d}"

    def _keep(self, message: PostedMessage) -> None:
        with self._lock:
            self._messages.append(message)

    # -- chat.postMessage ----------------------------------------------------------------------

    def post_message(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        scopes = [str(s) for s in entry.get("scopes", [])]
        if "chat:write" not in scopes:
            return _err("missing_scope", needed="chat:write", provided=",".join(scopes))
        channel = self.world.channels.get(str(args.get("channel", "")))
        if channel is None or channel.get("team_id") != entry.get("team_id"):
            return _err("channel_not_found")
        if channel.get("is_archived"):
            return _err("is_archived")
        members = channel.get("members")
        poster = entry.get("bot_user_id") or entry.get("user_id")
        if isinstance(members, list) and poster not in members:
            return _err("not_in_channel")
        text = args.get("text")
        blocks = _blocks(args.get("blocks"))
        if blocks is None:
            return _err("invalid_blocks")
        if not text and not blocks:
            return _err("no_text")
        if isinstance(text, str) and len(text) > MAX_TEXT:
            return _err("msg_too_long")
        ts = self._ts()
        bot_id = entry.get("bot_id") or "B" + str(entry.get("user_id", "0"))[1:]
        self._keep(PostedMessage(via="chat.postMessage", team_id=entry.get("team_id"),
                                 channel=str(channel["id"]), ts=ts, text=str(text or ""),
                                 blocks=blocks, raw=dict(args)))
        message = {"type": "message", "subtype": "bot_message", "text": str(text or ""),
                   "bot_id": bot_id, "ts": ts, "blocks": blocks}
        return Reply(body={"ok": True, "channel": channel["id"], "ts": ts, "message": message})

    # -- incoming webhooks ---------------------------------------------------------------------

    def add_webhook(self, team_id: str, channel: str) -> str:
        """A new incoming webhook posting to ``channel``; returns its path (the secret)."""
        path = (f"/services/{team_id}/B{secrets.token_hex(4).upper()}/"
                f"{secrets.token_urlsafe(18)}")
        with self._lock:
            self._webhooks[path] = {"team_id": team_id, "channel": channel}
        return path

    def incoming(self, path: str, raw: bytes) -> Reply:
        with self._lock:
            hook = self._webhooks.get(path)
        if hook is None:
            return Reply(status=404, body="no_service")
        try:
            body = json.loads(raw or b"null")
        except ValueError:
            return Reply(status=400, body="invalid_payload")
        if not isinstance(body, dict):
            return Reply(status=400, body="invalid_payload")
        channel = self.world.channels.get(hook["channel"], {})
        if channel.get("is_archived"):
            return Reply(status=410, body="channel_is_archived")
        blocks = _blocks(body.get("blocks"))
        if blocks is None:
            return Reply(status=400, body="invalid_blocks")
        if not body.get("text") and not blocks:
            return Reply(status=400, body="no_text")
        self._keep(PostedMessage(via=WEBHOOK_METHOD, team_id=hook["team_id"],
                                 channel=hook["channel"], ts=self._ts(),
                                 text=str(body.get("text") or ""), blocks=blocks, raw=body))
        return Reply(status=200, body="ok")
