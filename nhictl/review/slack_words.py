"""A binding's Slack-side history in words, for the review packet's ``slack_evidence``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nhictl.untrusted import ascii_escaped

_VERBS = {
    "app_installed": "installed",
    "app_scopes_expanded": "scopes expanded",
    "app_resources_granted": "resources granted",
    "app_uninstalled": "app uninstalled",
    "org_app_workspace_removed": "app removed from the workspace",
    "user_deactivated": "deactivated",
    "user_reactivated": "reactivated",
}


_GRANTS = frozenset({"app_installed", "app_scopes_expanded", "app_resources_granted"})


def _t(value: Any) -> str:
    return ascii_escaped(str(value))


def entry_in_words(e: dict[str, Any]) -> str:
    """``installed by U7 on 2026-05-10 (chat:write) [audit:123]``."""
    action = str(e.get("action") or "")
    day = _t(str(e.get("at") or "")[:10])
    ref = f" [{_t(e.get('ledger_entry'))}]" if e.get("ledger_entry") else ""
    if action in ("user_deactivated", "user_reactivated"):
        by = f" by {_t(e['actor_id'])}" if e.get("actor_id") else ""
        return f"user {_t(e.get('user_id'))} {_VERBS[action]}{by} on {day}{ref}"
    if action == "user_status":
        return f"user {_t(e.get('user_id'))} deleted per users.info on {day}{ref}"
    verb = _VERBS.get(action, action.replace("_", " "))
    actor = e.get("actor_id") or e.get("user_id")
    by = f" by {_t(actor)}" if actor else ""
    scopes = (e.get("scopes") or []) if action in _GRANTS else []
    what = f" ({', '.join(_t(s) for s in scopes)})" if scopes else ""
    return f"{verb}{by} on {day}{what}{ref}"


def history_in_words(entries: Sequence[dict[str, Any]]) -> str:
    return "; ".join(entry_in_words(e) for e in entries)
