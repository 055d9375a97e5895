"""The Slack-side logs the sandbox serves: ``GET /audit/v1/logs`` and ``team.integrationLogs``.

Shapes follow slack_sdk's own code and fixtures (slackapi/python-slack-sdk):

* ``/audit/v1/logs``: ``{"entries": [...], "response_metadata": {"next_cursor": ""}}`` with
  no ``ok`` field on success, as tests/slack_sdk/audit_logs/mock_web_api_handler.py answers
  ``/logs``; each entry as tests/slack_sdk/audit_logs/test_response.py spells it (``id``,
  ``date_create``, ``action``, ``actor.user``, ``entity.app``/``entity.user``,
  ``context.location``, ``details``). Query ``oldest``/``latest`` (inclusive epoch seconds),
  ``limit``, ``cursor``, ``action``, ``actor`` (slack_sdk/audit_logs/v1/client.py ``logs``).
  Entries come newest first; the cursor names the last entry served, so entries added
  meanwhile do not shift pages. A 429 is the usual ``{"ok": false, "error": "ratelimited"}``
  with ``retry-after`` (the mock handler's ``ratelimited`` branch), from a ``429`` fault or
  a rate limit on method ``audit/v1/logs``; an expired cursor is the fault
  ``{"method": "audit/v1/logs", "kind": "error", "error": "invalid_cursor",
  "with_arg": "cursor"}``.
* ``team.integrationLogs``: ``{"ok": true, "logs": [...], "paging": {"count", "total",
  "page", "pages"}}`` (slack_sdk/web/client.py ``team_integrationLogs`` arguments ``app_id``,
  ``change_type``, ``count``, ``page``, ``user``; fields as node-slack-sdk's
  packages/web-api/src/response/TeamIntegrationLogsResponse.ts), newest first, for a token
  with the ``admin`` scope.
"""

from __future__ import annotations

import base64
import binascii
import math
from typing import Any

from nhictl.sandbox.world import World

AUDIT_METHOD = "audit/v1/logs"
MAX_AUDIT_LIMIT = 9999  # "maximum 9999" (slack_sdk/audit_logs/v1/client.py, logs())


def _int(value: Any, default: int) -> int:
    try:
        return int(str(value))
    except (TypeError, ValueError):
        return default


def _key(entry: dict[str, Any]) -> tuple[int, str]:
    return -_int(entry.get("date_create"), 0), str(entry.get("id", ""))


def _cursor(entry: dict[str, Any]) -> str:
    text = f"{_int(entry.get('date_create'), 0)}:{entry.get('id', '')}"
    return base64.urlsafe_b64encode(text.encode()).decode()


def _after(cursor: str) -> tuple[int, str] | None:
    try:
        date, _, ident = base64.urlsafe_b64decode(cursor.encode()).decode().partition(":")
        return -int(date), ident
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None


def audit_logs(world: World, scopes: list[str], args: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    """(HTTP status, body) for one ``GET /audit/v1/logs``."""
    if "auditlogs:read" not in scopes:
        return 200, {"ok": False, "error": "missing_scope", "needed": "auditlogs:read"}
    oldest = _int(args.get("oldest"), 0)
    latest = _int(args.get("latest"), 2**62)
    limit = max(1, min(_int(args.get("limit"), 100), MAX_AUDIT_LIMIT))
    with world.lock:
        entries = [dict(e) for e in world.audit_log
                   if oldest <= _int(e.get("date_create"), 0) <= latest
                   and args.get("action") in (None, "", e.get("action"))]
    entries.sort(key=_key)
    start = 0
    if args.get("cursor"):
        after = _after(str(args["cursor"]))
        if after is None:
            return 200, {"ok": False, "error": "invalid_cursor"}
        start = next((i for i, e in enumerate(entries) if _key(e) > after), len(entries))
    page = entries[start:start + limit]
    more = start + limit < len(entries)
    return 200, {"entries": page,
                 "response_metadata": {"next_cursor": _cursor(page[-1]) if more else ""}}


def integration_logs(world: World, team_id: str, scopes: list[str],
                     args: dict[str, Any]) -> dict[str, Any]:
    if "admin" not in scopes:
        return {"ok": False, "error": "missing_scope", "needed": "admin",
                "provided": ",".join(scopes)}
    with world.lock:
        lines = [dict(x) for x in world.integration_logs.get(team_id, [])]
    for arg in ("app_id", "change_type"):
        if args.get(arg):
            lines = [x for x in lines if str(x.get(arg)) == str(args[arg])]
    if args.get("user"):
        lines = [x for x in lines if x.get("user_id") == args["user"]]
    lines.sort(key=lambda x: -_int(x.get("date"), 0))
    count = max(1, min(_int(args.get("count"), 100), 1000))
    page = max(1, _int(args.get("page"), 1))
    pages = max(1, math.ceil(len(lines) / count))
    return {"ok": True, "logs": lines[(page - 1) * count:page * count],
            "paging": {"count": count, "total": len(lines), "page": page, "pages": pages}}
