"""Column lists for bindings and events (one list per document kind)."""

from __future__ import annotations

from typing import Any

from nhictl.exporters.base import Column
from nhictl.untrusted import ascii_escaped

BINDING_TABLE = [
    Column("id", "ID", 12),
    Column("tenant", "TENANT", 12),
    Column("owner_email", "OWNER", 24),
    Column("workspace_name", "WORKSPACE", 14,
           render=None),
    Column("token_kind", "KIND", 4),
    Column("status", "STATUS", 15),
    # Real scope names are ASCII: anything else is shown escaped, so a look-alike stands out.
    Column("scopes", "SCOPES", 28,
           render=lambda v: " ".join(ascii_escaped(str(s)) for s in v or ())),
    Column("last_validated_at", "VALIDATED", 10, render=lambda v: (v or "never")[:10]),
]

BINDING_JSON_FIELDS = [
    "id", "source", "connection_id", "provider", "tenant", "owner_id", "owner_email",
    "owner_name", "owner_status", "workspace_id", "workspace_name", "enterprise_id",
    "slack_user_id", "bot_id", "token_kind", "purpose", "channel_id", "declared_scopes",
    "granted_scopes", "approved_scopes", "missing_scopes", "used_scopes", "status",
    "status_reason", "status_changed_at", "token_fingerprint", "token_expires_at",
    "has_refresh_token", "source_team_id", "source_slack_user_id", "slack_user_deleted",
    "first_seen_at", "last_seen_at", "last_validated_at", "last_validation_outcome",
    "last_validation_error", "last_used_at", "last_reviewed_at", "last_review_decision",
    "revoked_at", "revoke_reason", "created_at", "metadata",
]

BINDING_CSV = [Column(k, k) for k in BINDING_JSON_FIELDS if k != "metadata"]

EVENT_COLUMNS = [
    Column("seq", "SEQ", 6),
    Column("at", "AT", 20),
    Column("type", "TYPE", 16),
    Column("binding_id", "BINDING", 12),
    Column("actor", "ACTOR", 12),
    Column("details", "DETAILS", 60, render=lambda d: _details(d)),
]
EVENT_CSV = [Column("seq", "seq"), Column("at", "at"), Column("run_id", "run_id"),
             Column("type", "type"), Column("binding_id", "binding_id"),
             Column("actor", "actor"),
             Column("details", "details", render=lambda d: _json(d))]


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True)


def _details(details: Any) -> str:
    if not isinstance(details, dict):
        return str(details or "")
    parts = []
    for key, value in details.items():
        if isinstance(value, dict):
            inner = ", ".join(f"{k}: {_short(v)}" for k, v in value.items())
            parts.append(f"{key} {{{inner}}}")
        else:
            parts.append(f"{key}={_short(value)}")
    return "; ".join(parts)


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    return "" if value is None else str(value)


def binding_view(row: dict[str, Any]) -> dict[str, Any]:
    """Row for tables: scopes shown are the live ones when validated, else declared."""
    scopes = row.get("granted_scopes")
    shown = dict(row)
    shown["scopes"] = scopes if scopes is not None else row.get("declared_scopes")
    shown["workspace_name"] = row.get("workspace_name") or row.get("workspace_id")
    shown["owner_email"] = row.get("owner_email") or row.get("owner_id")
    return shown


def binding_json(row: dict[str, Any]) -> dict[str, Any]:
    return {k: row.get(k) for k in BINDING_JSON_FIELDS}
