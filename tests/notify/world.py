"""A small Slack world with something to announce: an app's three delegated tokens (one
over-scoped, one revoked) and the notifier's own bot token with chat:write."""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nhictl.sandbox.world import World

NOTIFY_ENV = "NHICTL_TEST_NOTIFY_TOKEN"
HOOK_URL_ENV = "NHICTL_TEST_HOOK_URL"
HOOK_SECRET_ENV = "NHICTL_TEST_HOOK_SECRET"
SLACK_HOOK_ENV = "NHICTL_TEST_SLACK_HOOK"


def fake(prefix: str) -> str:
    return f"{prefix}-FAKE-{secrets.token_hex(12)}"


@dataclass
class NotifyWorld:
    app_tokens: dict[str, str] = field(default_factory=dict)  # connection id -> token
    notifier_token: str = field(default_factory=lambda: fake("xoxb"))
    hook_secret: str = field(default_factory=lambda: secrets.token_hex(24))

    def __post_init__(self) -> None:
        self.app_tokens = {"c-ok": fake("xoxp"), "c-wide": fake("xoxp"), "c-dead": fake("xoxp")}

    def scenario(self, faults: list[dict[str, Any]] | None = None) -> dict[str, Any]:
        t = self.app_tokens
        return {
            "teams": [{"id": "T1", "name": "Acme", "domain": "acme"}],
            "users": [{"id": "U1", "team_id": "T1", "name": "grace"},
                      {"id": "U2", "team_id": "T1", "name": "alan"},
                      {"id": "UB1", "team_id": "T1", "name": "nhictl-bot", "is_bot": True}],
            "channels": [{"id": "C1", "team_id": "T1", "name": "sec-alerts",
                          "members": ["UB1"]},
                         {"id": "C2", "team_id": "T1", "name": "general",
                          "members": ["U1", "U2"]}],
            "tokens": [
                {"token": t["c-ok"], "team_id": "T1", "user_id": "U1", "kind": "user",
                 "scopes": ["chat:write"]},
                {"token": t["c-wide"], "team_id": "T1", "user_id": "U2", "kind": "user",
                 "scopes": ["chat:write", "channels:history", "files:read"]},
                {"token": t["c-dead"], "team_id": "T1", "user_id": "U1", "kind": "user",
                 "scopes": ["chat:write"], "state": "revoked"},
                {"token": self.notifier_token, "team_id": "T1", "user_id": "UB1",
                 "bot_user_id": "UB1", "bot_id": "BNOTIFY", "kind": "bot",
                 "scopes": ["chat:write"]},
            ],
            "retry_after": 0,
            "faults": faults or [],
        }

    def world(self, faults: list[dict[str, Any]] | None = None) -> World:
        return World.from_dict(self.scenario(faults))

    def write_inputs(self, root: Path, targets: str) -> Path:
        """The export and nhictl.toml (with ``targets``: [[notify]] tables) in ``root``."""
        export = root / "export.json"
        rows = [{"id": cid, "owner_email": f"{cid}@example.com", "tenant": "acme",
                 "purpose": "notifications", "access_token": tok}
                for cid, tok in self.app_tokens.items()]
        export.write_text(json.dumps(rows))
        export.chmod(0o600)
        config = root / "nhictl.toml"
        config.write_text(
            '[[sources]]\nname = "app"\nkind = "file"\npath = "export.json"\n\n'
            '[purposes.notifications]\nscopes = ["chat:write"]\n\n' + targets)
        return config


SLACK_TARGET = f"""
[[notify]]
name = "secops"
kind = "slack"
token_env = "{NOTIFY_ENV}"
channel = "C1"
top = 3
"""
WEBHOOK_TARGET = f"""
[[notify]]
name = "siem"
kind = "webhook"
url_env = "{HOOK_URL_ENV}"
secret_env = "{HOOK_SECRET_ENV}"
"""
SLACK_HOOK_TARGET = f"""
[[notify]]
name = "secops-hook"
kind = "slack"
webhook_url_env = "{SLACK_HOOK_ENV}"
"""
