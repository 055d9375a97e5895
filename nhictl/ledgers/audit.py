"""``slack-audit``: the Enterprise Grid Audit Logs API through slack_sdk's ``AuditLogsClient``.

``GET /audit/v1/logs`` (org-level user token with ``auditlogs:read``) returns entries newest
first with cursor paging (``response_metadata.next_cursor``, empty on the last page; see
slack_sdk/audit_logs/v1/client.py ``logs`` and the entry shape in
tests/slack_sdk/audit_logs/test_response.py of slackapi/python-slack-sdk).

* Checkpoint: the newest ``date_create`` of a complete read. The next run asks for
  ``oldest=<checkpoint>`` (inclusive), so a cron run reads only new entries; the entries at
  the checkpoint second come again and are dropped by id.
* A cursor that expires mid-way (``invalid_cursor``) restarts without a cursor at
  ``latest=<oldest date_create read so far>`` (inclusive): everything newer was read, so
  nothing is lost, and the re-read second is deduplicated by id.
* Tier 3 (50+ calls a minute, org-wide): calls are paced by a token bucket
  (:data:`AUDIT_LIMIT`), and a 429 still comes: :class:`RateLimitRetry` (a slack_sdk
  ``RetryHandler``) waits its ``Retry-After`` on an injectable sleep, up to a budget; beyond
  it the read is partial (exit 4) and the checkpoint does not move.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from nhictl import untrusted
from nhictl.clock import iso
from nhictl.errors import LedgerError
from nhictl.ledgers.base import AuditLogsApi, LedgerContext, LedgerPage
from nhictl.ledgers.model import KIND_AUDIT, LedgerEntry
from nhictl.slack.errors import header, parse_retry_after
from nhictl.slack.ratelimit import Limit, RateLimiter

_SDK_LOGGER = logging.getLogger("nhictl.ledgers.sdk")
_SDK_LOGGER.setLevel(logging.CRITICAL)  # slack_sdk's DEBUG request dumps stay off
_SDK_LOGGER.propagate = False
_SDK_LOGGER.addHandler(logging.NullHandler())

DEFAULT_AUDIT_URL = "https://api.slack.com/audit/v1/"
AUDIT_METHOD = "audit/v1/logs"
AUDIT_LIMIT: Limit = (50, 5)  # Tier 3, per org: 50 a minute, a burst of 5
PAGE_LIMIT = 200
MAX_EPOCH = 2**33  # year 2242: later "times" are a broken or hostile reply
MAX_CURSOR_RESTARTS = 5

# Audit actions kept, and the normalized action each means (the user actions that mean a
# person left count as user_deactivated). Everything else (logins, files...) is skipped.
ACTIONS: dict[str, str] = {
    **{a: a for a in (
        "app_installed", "app_uninstalled", "app_scopes_expanded", "app_resources_granted",
        "app_token_preserved", "bot_token_upgraded", "bot_token_downgraded",
        "org_app_workspace_added", "org_app_workspace_removed", "app_approved",
        "app_restricted", "app_removed_from_whitelist", "org_app_upgraded_to_org_install",
        "user_deactivated", "user_reactivated")},
    "workflow_app_token_preserved": "app_token_preserved",
    "guest_deactivated": "user_deactivated",
    "guest_expired": "user_deactivated",
    "guest_reactivated": "user_reactivated",
}
USER_ACTIONS = frozenset({"user_deactivated", "user_reactivated"})
# ``details`` fields worth keeping (ids, flags and scope lists; no names, emails, IPs).
_DETAIL_KEYS = ("type", "bot_scopes", "previous_scopes", "old_scopes", "new_scopes",
                "installer_user_id", "app_owner_id", "bot_id", "granular_bot_token",
                "is_internal_integration", "is_token_rotation_enabled_app", "reason",
                "resolution", "approval_type", "added_team_id", "origin_team", "target_team",
                "channels")


class RateLimitRetry(RetryHandler):
    """Retry a 429 after its ``Retry-After`` (slack_sdk's RateLimitErrorRetryHandler sleeps
    on ``time.sleep`` with jitter; this one sleeps on an injectable clock and gives up when
    one wait exceeds ``max_wait_s``)."""

    def __init__(self, sleep: Callable[[float], None] = time.sleep, *, max_retries: int = 5,
                 max_wait_s: float = 120.0) -> None:
        super().__init__(max_retry_count=max_retries)
        self.sleep = sleep
        self.max_wait_s = max_wait_s
        self.waits = 0
        self.waited_s = 0.0

    def _retry_after(self, response: HttpResponse | None) -> float:
        return parse_retry_after(header(response.headers if response else None, "retry-after"))

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None,
                   error: Exception | None = None) -> bool:
        return (response is not None and response.status_code == 429
                and self._retry_after(response) <= self.max_wait_s)

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        after = self._retry_after(response)
        state.next_attempt_requested = True
        self.sleep(after)
        self.waits += 1
        self.waited_s += after
        state.increment_current_attempt()


def make_client(token: str, base_url: str, retry: RateLimitRetry,
                timeout_s: float = 30.0) -> AuditLogsApi:
    from slack_sdk.audit_logs import AuditLogsClient

    return AuditLogsClient(token=token, base_url=base_url, timeout=int(timeout_s),
                           retry_handlers=[retry], logger=_SDK_LOGGER)


def _str(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _obj(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scopes(value: Any) -> tuple[str, ...]:
    if isinstance(value, list):
        return tuple(s for s in value if isinstance(s, str) and s)
    if isinstance(value, str):
        return tuple(s.strip() for s in value.split(",") if s.strip())
    return ()


def normalize(collector: str, raw: dict[str, Any], app_ids: frozenset[str]) -> LedgerEntry | None:
    """One audit entry as a ledger entry; None when it is not about grants or departures
    (or about another app than the configured ones)."""
    native = _str(raw.get("id"))
    action = ACTIONS.get(str(raw.get("action")))
    created = raw.get("date_create")
    if native is None or action is None or not isinstance(created, int | float) \
            or isinstance(created, bool) or not 0 < created < MAX_EPOCH:
        return None  # a time no datetime can hold is not believed (nor a crash)
    actor = _obj(_obj(raw.get("actor")).get("user"))
    entity = _obj(raw.get("entity"))
    location = _obj(_obj(raw.get("context")).get("location"))
    details = _obj(raw.get("details"))
    app = _obj(entity.get("app"))
    app_id = _str(app.get("id"))
    if action not in USER_ACTIONS and app_ids and app_id not in app_ids:
        return None
    loc_type, loc_id = location.get("type"), _str(location.get("id"))
    workspace = (_str(details.get("added_team_id")) or _str(details.get("target_team"))
                 or (loc_id if loc_type == "workspace" else None)
                 or _str(_obj(entity.get("workspace")).get("id")))
    enterprise = (loc_id if loc_type == "enterprise" else None) or _str(
        _obj(entity.get("enterprise")).get("id"))
    if action in USER_ACTIONS:
        subject = _str(_obj(entity.get("user")).get("id"))
        scopes: tuple[str, ...] = ()
        app_id = None
    else:
        subject = _str(details.get("installer_user_id")) or _str(actor.get("id"))
        scopes = _scopes(details.get("new_scopes")) or _scopes(details.get("scopes")) \
            or _scopes(app.get("scopes"))
    kept = {k: details[k] for k in _DETAIL_KEYS if k in details and details[k] not in ("", None)}
    kept["audit_action"] = str(raw.get("action"))
    if loc_type:
        kept["location_type"] = str(loc_type)
    return LedgerEntry(
        id=f"{collector}:{native}", collector=collector, kind=KIND_AUDIT, action=action,
        at=iso(datetime.fromtimestamp(int(created), UTC)), app_id=app_id,
        enterprise_id=enterprise, workspace_id=workspace, user_id=subject,
        actor_id=_str(actor.get("id")), scopes=scopes, details=untrusted.mask_any(kept),
    )


class AuditLogCollector:
    kind = KIND_AUDIT

    def __init__(self, name: str, client: AuditLogsApi, *, app_ids: tuple[str, ...] = (),
                 retry: RateLimitRetry | None = None, page_limit: int = PAGE_LIMIT,
                 limiter: RateLimiter | None = None) -> None:
        self.name = name
        self.client = client
        self.limiter = limiter
        self.app_ids = frozenset(app_ids)
        self.retry = retry
        self.page_limit = page_limit

    def describe(self) -> str:
        apps = f" (apps {', '.join(sorted(self.app_ids))})" if self.app_ids else ""
        return f"Audit Logs API{apps}"

    def _fetch(self, **params: Any) -> dict[str, Any]:
        if self.limiter is not None:  # one org-wide bucket: the limit is per org
            self.limiter.acquire("org", AUDIT_METHOD)
        try:
            response = self.client.logs(limit=self.page_limit, **params)
        except Exception as exc:  # urllib/socket failures: the seam where they become ours
            raise LedgerError(f"ledger {self.name!r}: audit logs: connection failed "
                              f"({type(exc).__name__})") from None
        status = int(getattr(response, "status_code", 0) or 0)
        body = getattr(response, "body", None)
        if status == 429:
            raise LedgerError(f"ledger {self.name!r}: audit logs: rate limited beyond the "
                              "retry budget (Tier 3, org-wide); the next run resumes")
        if isinstance(body, dict) and body.get("ok") is False:
            code = untrusted.code(body.get("error"), untrusted.UNRECOGNISED)
            return {"error": code, "status": status}
        if status != 200 or not isinstance(body, dict) or not isinstance(
                body.get("entries", []), list):
            raise LedgerError(f"ledger {self.name!r}: audit logs: HTTP {status} without the "
                              "documented entries list")
        return body

    def collect(self, ctx: LedgerContext) -> Iterator[LedgerPage]:
        oldest = int(ctx.position) if ctx.position and ctx.position.isdigit() else None
        latest: int | None = None
        cursor: str | None = None
        newest: int | None = oldest
        lowest: int | None = None
        restarts = 0
        while True:
            params: dict[str, Any] = {"oldest": oldest, "latest": latest, "cursor": cursor}
            body = self._fetch(**{k: v for k, v in params.items() if v is not None})
            if "error" in body and "entries" not in body:
                code = body["error"]
                if code == "invalid_cursor" and cursor is not None \
                        and restarts < MAX_CURSOR_RESTARTS:
                    # Entries come newest first: everything after ``lowest`` was read.
                    restarts += 1
                    cursor, latest = None, lowest
                    continue
                raise LedgerError(f"ledger {self.name!r}: audit logs: Slack answered {code}",
                                  hint=_hint(code))
            entries: list[LedgerEntry] = []
            skipped = 0
            for raw in body.get("entries", []):
                created = raw.get("date_create") if isinstance(raw, dict) else None
                if isinstance(created, int) and not isinstance(created, bool) \
                        and 0 < created < MAX_EPOCH:
                    newest = created if newest is None else max(newest, created)
                    lowest = created if lowest is None else min(lowest, created)
                entry = normalize(self.name, raw, self.app_ids) if isinstance(raw, dict) \
                    else None
                if entry is None:
                    skipped += 1
                else:
                    entries.append(entry)
            yield LedgerPage(entries=entries, calls=1, skipped=skipped)
            meta = _obj(body.get("response_metadata"))
            cursor = _str(meta.get("next_cursor"))
            if cursor is None:
                break
        yield LedgerPage(position=str(newest) if newest is not None else ctx.position)


def _hint(code: str | None) -> str | None:
    if code in ("not_allowed_token_type", "missing_scope", "not_authorized",
                "feature_not_enabled", "invalid_auth", "not_authed"):
        return ("the Audit Logs API needs an Enterprise Grid org-level user token with "
                "auditlogs:read (installed on the org by an Org Owner)")
    return None
