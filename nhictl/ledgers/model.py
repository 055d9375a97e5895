"""What a ledger collector produces: one Slack-side fact about a grant or a user.

Entries carry ids, scopes, actors and times only; no token byte ever. ``id`` is stable
(``<collector>:<native id>``) so collecting the same entry twice stores it once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The collector kinds of ``[[ledgers]]`` (DESIGN.md, contract additions).
KIND_AUDIT = "slack-audit"
KIND_INTEGRATION_LOGS = "slack-integration-logs"
KIND_DIRECTORY = "slack-directory"
LEDGER_KINDS = (KIND_AUDIT, KIND_INTEGRATION_LOGS, KIND_DIRECTORY)

# Normalized actions (audit log action names where Slack has one).
APP_INSTALLED = "app_installed"
APP_UNINSTALLED = "app_uninstalled"
APP_SCOPES_EXPANDED = "app_scopes_expanded"
APP_RESOURCES_GRANTED = "app_resources_granted"
APP_TOKEN_PRESERVED = "app_token_preserved"  # noqa: S105 (an action name)
BOT_TOKEN_UPGRADED = "bot_token_upgraded"  # noqa: S105
BOT_TOKEN_DOWNGRADED = "bot_token_downgraded"  # noqa: S105
ORG_APP_WORKSPACE_ADDED = "org_app_workspace_added"
ORG_APP_WORKSPACE_REMOVED = "org_app_workspace_removed"
APP_RESTRICTED = "app_restricted"
APP_APPROVED = "app_approved"
APP_REMOVED_FROM_WHITELIST = "app_removed_from_whitelist"
USER_DEACTIVATED = "user_deactivated"
USER_REACTIVATED = "user_reactivated"
USER_STATUS = "user_status"  # a slack-directory row: the latest users.info answer

# Actions that mean a grant was made / ended / the user left.
GRANT_ACTIONS = frozenset({APP_INSTALLED, APP_SCOPES_EXPANDED, APP_RESOURCES_GRANTED,
                           APP_TOKEN_PRESERVED, BOT_TOKEN_UPGRADED, ORG_APP_WORKSPACE_ADDED})
END_ACTIONS = frozenset({APP_UNINSTALLED, ORG_APP_WORKSPACE_REMOVED})
DEPARTURE_ACTIONS = frozenset({USER_DEACTIVATED})


@dataclass(frozen=True)
class LedgerEntry:
    id: str
    collector: str
    kind: str
    action: str
    at: str  # ISO 8601 UTC
    app_id: str | None = None
    enterprise_id: str | None = None
    workspace_id: str | None = None
    user_id: str | None = None  # the subject: installer, deactivated user, looked-up user
    actor_id: str | None = None  # who did it
    scopes: tuple[str, ...] = ()
    details: dict[str, Any] = field(default_factory=dict)
    collected_at: str = ""
    run_id: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id, "collector": self.collector, "kind": self.kind,
            "action": self.action, "at": self.at, "app_id": self.app_id,
            "enterprise_id": self.enterprise_id, "workspace_id": self.workspace_id,
            "user_id": self.user_id, "actor_id": self.actor_id, "scopes": list(self.scopes),
            "details": dict(self.details), "collected_at": self.collected_at,
            "run_id": self.run_id,
        }
