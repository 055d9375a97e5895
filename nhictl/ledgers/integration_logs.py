"""``slack-integration-logs``: ``team.integrationLogs`` for workspaces without Enterprise Grid.

An admin's user token (scope ``admin``) reads the workspace's app log, one ``app_id`` at a
time (the config names them), page paging (``paging.page``/``paging.pages``), Tier 2. A log
line has no id (slack_sdk's ``team_integrationLogs`` in slack_sdk/web/client.py; the fields
as node-slack-sdk's generated packages/web-api/src/response/TeamIntegrationLogsResponse.ts
lists them: ``user_id``, ``user_name``, ``date`` (epoch seconds as a string),
``change_type``, ``app_id``, ``app_type``, ``scope`` (comma-separated), ``reason``,
``channel``, ``service_id``), so an entry's id is a hash of its fields.

Lines come newest first; the checkpoint is the newest ``date`` of a complete read, and a
later run stops paging at the first page that reaches below it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from nhictl import untrusted
from nhictl.clock import iso
from nhictl.errors import LedgerError
from nhictl.ledgers.base import LedgerContext, LedgerPage, WebApi
from nhictl.ledgers.model import KIND_INTEGRATION_LOGS, LedgerEntry
from nhictl.secret import Secret
from nhictl.slack.errors import CallFailure

METHOD = "team.integrationLogs"
PAGE_COUNT = 100
MAX_PAGES = 1000  # a server that never ends paging is not followed for ever
CHANGE_TYPES = {
    "added": "app_installed",
    "removed": "app_uninstalled",
    "expanded": "app_scopes_expanded",
    "updated": "app_updated",
    "enabled": "app_enabled",
    "disabled": "app_disabled",
}
_HASHED = ("app_id", "user_id", "date", "change_type", "scope", "reason", "channel",
           "service_id", "service_type", "app_type")


def _str(value: Any) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def line_id(raw: dict[str, Any]) -> str:
    """A stable id for a log line (Slack gives none): a hash of its fields."""
    text = "\x1f".join(f"{k}={raw.get(k)!s}" for k in _HASHED)
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:20]


def normalize(collector: str, raw: dict[str, Any], workspace: str | None) -> LedgerEntry | None:
    action = CHANGE_TYPES.get(str(raw.get("change_type")))
    date = _str(raw.get("date"))
    if action is None or date is None or not date.isdigit() or len(date) > 10:
        return None  # epoch seconds; more digits are no time a datetime can hold
    details = {k: v for k, v in (("change_type", raw.get("change_type")),
                                 ("reason", _str(raw.get("reason"))),
                                 ("app_type", _str(raw.get("app_type"))),
                                 ("channel", _str(raw.get("channel")))) if v}
    scope = raw.get("scope")
    scopes = tuple(s.strip() for s in scope.split(",") if s.strip()) \
        if isinstance(scope, str) else ()
    user = _str(raw.get("user_id"))
    return LedgerEntry(
        id=f"{collector}:{line_id(raw)}", collector=collector, kind=KIND_INTEGRATION_LOGS,
        action=action, at=iso(datetime.fromtimestamp(int(date), UTC)),
        app_id=_str(raw.get("app_id")), workspace_id=workspace, user_id=user, actor_id=user,
        scopes=scopes, details=untrusted.mask_any(details),
    )


class IntegrationLogCollector:
    kind = KIND_INTEGRATION_LOGS

    def __init__(self, name: str, web: WebApi, token: Secret, *, app_ids: tuple[str, ...],
                 page_count: int = PAGE_COUNT) -> None:
        self.name = name
        self.web = web
        self.token = token
        self.app_ids = tuple(sorted(set(app_ids)))
        self.page_count = page_count
        self.team_id: str | None = None

    def describe(self) -> str:
        return f"team.integrationLogs (apps {', '.join(self.app_ids)})"

    def _call(self, method: str, params: dict[str, Any]) -> dict[str, Any]:
        outcome = self.web.call(method, self.token, params, workspace=self.team_id)
        if isinstance(outcome, CallFailure):
            hint = ("team.integrationLogs needs a workspace admin's user token with the admin "
                    "scope") if outcome.code in ("missing_scope", "not_allowed_token_type",
                                                 "not_authorized", "paid_only") else None
            raise LedgerError(f"ledger {self.name!r}: {outcome.reason}", hint=hint)
        data, _headers = outcome
        return dict(data)

    def collect(self, ctx: LedgerContext) -> Iterator[LedgerPage]:
        since = int(ctx.position) if ctx.position and ctx.position.isdigit() else None
        who = self._call("auth.test", {})
        self.team_id = _str(who.get("team_id"))
        newest = since
        for app_id in self.app_ids:
            page, pages = 1, 1
            while page <= min(pages, MAX_PAGES):
                data = self._call(METHOD, {"app_id": app_id, "count": self.page_count,
                                           "page": page})
                logs = data.get("logs")
                raw_paging = data.get("paging")
                paging: dict[str, Any] = raw_paging if isinstance(raw_paging, dict) else {}
                if not isinstance(logs, list):
                    raise LedgerError(f"ledger {self.name!r}: {METHOD}: reply without a logs "
                                      "list")
                entries, skipped, older = [], 0, False
                for raw in logs:
                    entry = normalize(self.name, raw, self.team_id) \
                        if isinstance(raw, dict) else None
                    # app_id filter: Slack filters by the argument; a line of another app
                    # (a server ignoring it) is not ours to keep.
                    if entry is None or entry.app_id not in (None, app_id):
                        skipped += 1
                        continue
                    seconds = int(str(raw.get("date")))
                    if since is not None and seconds < since:
                        older = True
                        continue
                    newest = seconds if newest is None else max(newest, seconds)
                    entries.append(entry if entry.app_id else _with_app(entry, app_id))
                yield LedgerPage(entries=entries, calls=1, skipped=skipped)
                if older:
                    break  # newest first: the rest was read by an earlier run
                total = paging.get("pages")
                pages = total if isinstance(total, int) and not isinstance(total, bool) else 1
                page += 1
        yield LedgerPage(position=str(newest) if newest is not None else ctx.position)


def _with_app(entry: LedgerEntry, app_id: str) -> LedgerEntry:
    from dataclasses import replace

    return replace(entry, app_id=app_id)
