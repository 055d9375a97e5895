"""A binding's Slack-side history: the ledger entries about its person, app and workspace.

An entry belongs to a binding when it is about the binding's Slack user (the token's user, or
a bot token's installer) in the binding's workspace (or org-wide, like ``user_deactivated``),
for the binding's app when both sides name one; or when it changes the binding's app for the
whole workspace whoever acted (an uninstall or a restriction by an admin). Another user's
install of the same app is that user's grant, not this binding's history.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Connection

from nhictl.ledgers.model import (
    APP_APPROVED,
    APP_REMOVED_FROM_WHITELIST,
    APP_RESTRICTED,
    END_ACTIONS,
    LedgerEntry,
)
from nhictl.ledgers.store import iter_entries

# Actions about the app in a whole workspace (team.integrationLogs' enabled/disabled too).
APP_WIDE = tuple(sorted({*END_ACTIONS, APP_RESTRICTED, APP_REMOVED_FROM_WHITELIST, APP_APPROVED,
                         "app_enabled", "app_disabled"}))


def _meta(row: Mapping[str, Any]) -> dict[str, Any]:
    raw = row.get("metadata_json") or row.get("metadata") or {}
    if isinstance(raw, dict):
        return raw
    try:
        value = json.loads(raw)
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def people_of(row: Mapping[str, Any]) -> set[str]:
    meta = _meta(row)
    people = {row.get("slack_user_id"), row.get("source_slack_user_id")}
    if row.get("token_kind") == "bot":
        people = {meta.get("installer_user_id")}
    return {p for p in people if isinstance(p, str) and p}


def history(conn: Connection, row: Mapping[str, Any]) -> list[LedgerEntry]:
    """Entries about this binding (a ``bindings`` row), oldest first."""
    workspace = row.get("workspace_id") or row.get("source_team_id")
    app = _meta(row).get("app_id")
    app = app if isinstance(app, str) and app else None
    found: dict[str, LedgerEntry] = {}
    people = people_of(row)
    if people:
        for e in iter_entries(conn, user_id=sorted(people)):
            if e.workspace_id not in (None, workspace):
                continue
            if app and e.app_id and e.app_id != app:
                continue
            found[e.id] = e
    if app and workspace:
        for e in iter_entries(conn, app_id=app, workspace_id=workspace, actions=APP_WIDE):
            found[e.id] = e
    return sorted(found.values(), key=lambda e: (e.at, e.id))
