"""The demo's security channel: nhictl's own alert bot (``chat:write`` only) and the
``#sec-alerts`` channel it posts to, added to the sandbox world."""

from __future__ import annotations

from nhictl.sandbox.dataset import Dataset, fake_token

NOTIFY_TOKEN_ENV = "NHICTL_DEMO_NOTIFY_TOKEN"  # noqa: S105 (a variable's name)
ALERT_TEAM = "T0ACME001"
ALERT_CHANNEL = "C0SECALERT"
ALERT_BOT_USER = "U0NHICTLBOT"
NOTIFY_CONFIG = f"""
# nhictl's own alerts: a bot token with chat:write only (its variable's name, never the token).
# The token is itself a binding (source "nhictl", purpose nhictl-notify) and is checked.
[[notify]]
name = "sec-alerts"
kind = "slack"
token_env = "{NOTIFY_TOKEN_ENV}"
channel = "{ALERT_CHANNEL}"
"""


def add_notifier(ds: Dataset) -> str:
    """Add the alert bot and its channel; returns the bot's (fake) token."""
    token = fake_token("bot")
    ds.scenario["users"].append({"id": ALERT_BOT_USER, "team_id": ALERT_TEAM,
                                 "name": "nhictl-alerts", "is_bot": True, "deleted": False})
    ds.scenario["channels"].append({"id": ALERT_CHANNEL, "team_id": ALERT_TEAM,
                                    "name": "sec-alerts", "is_private": False,
                                    "members": [ALERT_BOT_USER]})
    ds.scenario["tokens"].append({"token": token, "team_id": ALERT_TEAM,
                                  "user_id": ALERT_BOT_USER, "bot_user_id": ALERT_BOT_USER,
                                  "kind": "bot", "bot_id": "B0NHICTL01",
                                  "scopes": ["chat:write"], "state": "active",
                                  "expires_in": 43200})  # rotation on, as it should be
    return token
