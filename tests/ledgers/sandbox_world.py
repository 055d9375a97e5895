"""A small Slack world with Slack-side logs, and collectors on the real slack_sdk clients."""

from __future__ import annotations

import secrets
from typing import Any

from nhictl.ledgers.audit import AuditLogCollector, RateLimitRetry, make_client
from nhictl.sandbox.slack_server import SlackSandbox

APP = "A0APP1"
OTHER_APP = "A0OTHER"
T0 = 1_790_000_000  # epoch seconds of the first planted entry


def fake(prefix: str) -> str:
    return prefix + "fake" + secrets.token_hex(8)


AUDIT_TOKEN, ADMIN_TOKEN, DIRECTORY_TOKEN = fake("xoxp-"), fake("xoxp-"), fake("xoxb-")


def audit_entry(n: int, action: str, *, at: int | None = None, app: str | None = APP,
                user: str = "U1", actor: str = "U1", team: str = "T1",
                scopes: list[str] | None = None) -> dict[str, Any]:
    """An entry as slack_sdk's tests/slack_sdk/audit_logs/test_response.py spells one."""
    entity: dict[str, Any]
    if app is not None:
        entity = {"type": "app", "app": {"id": app, "name": "Notifier", "is_distributed": True,
                                         "scopes": scopes or ["chat:write"]}}
    else:
        entity = {"type": "user", "user": {"id": user, "name": "someone", "team": "E1"}}
    return {
        "id": f"0000{n:04d}-aaaa-bbbb-cccc-{n:012d}",
        "date_create": T0 + (n if at is None else at),
        "action": action,
        "actor": {"type": "user", "user": {"id": actor, "name": "someone",
                                           "email": "someone@example.com", "team": "E1"}},
        "entity": entity,
        "context": {"location": {"type": "workspace", "id": team, "name": "Acme",
                                 "domain": "acme"}, "ua": "UA", "ip_address": "192.0.2.1"},
        "details": {"scopes": scopes or ["chat:write"], "bot_scopes": [],
                    "installer_user_id": user} if app else {},
    }


def world(n_entries: int = 7) -> dict[str, Any]:
    entries = [audit_entry(i, "app_installed", user=f"U{i}", actor=f"U{i}")
               for i in range(1, n_entries + 1)]
    return {
        "teams": [{"id": "T1", "name": "Acme", "domain": "acme", "enterprise_id": "E1"}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"},
                  {"id": "U2", "team_id": "T1", "name": "left", "deleted": True},
                  {"id": "U3", "team_id": "T1", "name": "guest", "is_restricted": True}],
        "tokens": [
            {"token": AUDIT_TOKEN, "team_id": "T1", "user_id": "U1", "kind": "user",
             "scopes": ["auditlogs:read"]},
            {"token": ADMIN_TOKEN, "team_id": "T1", "user_id": "U1", "kind": "user",
             "scopes": ["admin"]},
            {"token": DIRECTORY_TOKEN, "team_id": "T1", "user_id": "UB", "kind": "bot",
             "bot_id": "B1", "scopes": ["users:read"]},
        ],
        "audit_log": entries,
        "retry_after": 0,
    }


def audit_collector(slack: SlackSandbox, sleeps: list[float], *, page: int = 3,
                    app_ids: tuple[str, ...] = ()) -> AuditLogCollector:
    retry = RateLimitRetry(sleeps.append)
    client = make_client(AUDIT_TOKEN, slack.audit_url, retry, timeout_s=5)
    return AuditLogCollector("org-audit", client, app_ids=app_ids, retry=retry, page_limit=page)
