"""Translate what slack_sdk raises into nhictl terms, without ever quoting a token.

slack_sdk's sync ``WebClient`` (urllib) raises ``SlackApiError`` for any non-200 or ``ok:
false`` (``e.response.status_code``, ``.headers`` as a plain dict keeping the server's casing,
``.data`` a dict; a non-JSON body becomes ``{"ok": false, "error": "Received a response in a
non-JSON format: ..."}``), and lets ``URLError``, ``http.client`` errors (``RemoteDisconnected``
when the server closes without answering) and ``TimeoutError`` through. Messages built here use
only status codes, Slack error codes and exception class names.
"""

from __future__ import annotations

import http.client
import socket
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.error import URLError

from slack_sdk.errors import SlackApiError, SlackClientError

from nhictl import untrusted
from nhictl.errors import NetworkLimitError, UnavailableError
from nhictl.models import DEAD_TOKEN_STATUS

# Codes that mean the token itself is dead (see DESIGN.md statuses).
SLACK_DEAD_CODES: frozenset[str] = frozenset(
    {"token_expired", "invalid_auth", "not_authed", "token_revoked", "account_inactive"}
)
assert set(DEAD_TOKEN_STATUS) >= SLACK_DEAD_CODES

# Slack-side failures worth retrying (HTTP 200 envelopes).
RETRYABLE_CODES: frozenset[str] = frozenset(
    {"fatal_error", "internal_error", "service_unavailable", "request_timeout"}
)

NON_JSON_PREFIX = "Received a response in a non-JSON format"

# What each dead code honestly tells, by token kind. Slack's error tables
# (docs.slack.dev/reference/methods/auth.test, "Errors"; the same rows on every method page):
# account_inactive "Authentication token is for a deleted user or workspace when using a bot
# token"; token_revoked "... for a deleted user or workspace or the app has been removed when
# using a user token". Neither says which, so neither is evidence the owner left.
_DEAD_MEANING: dict[tuple[str, str | None], str] = {
    ("token_revoked", "user"): "ambiguous: the user was deleted, the user revoked the grant, "
    "the app was removed or the workspace was deleted",
    ("token_revoked", None): "ambiguous: the user or workspace was deleted, the grant was "
    "revoked or the app was removed",
    ("account_inactive", "bot"): "ambiguous: the workspace was deleted or the bot user was "
    "deactivated",
    ("account_inactive", None): "ambiguous: the token's user or workspace was deleted",
    ("invalid_auth", None): "the token is not valid (revoked, rotated away or never issued)",
    ("not_authed", None): "Slack received no token",
    ("token_expired", None): "the rotating token expired",
}


def dead_meaning(code: str | None, token_kind: str | None) -> str | None:
    """What a dead code means for this kind of token, said no more certainly than Slack does."""
    if code is None:
        return None
    return _DEAD_MEANING.get((code, token_kind)) or _DEAD_MEANING.get((code, None))


class SlackUnavailableError(UnavailableError):
    """Slack could not be reached or answered unusably; a partial result (exit 4)."""


@dataclass(frozen=True)
class CallFailure:
    """Why one Web API call failed.

    ``kind``: ``dead`` (token is dead, ``code`` in SLACK_DEAD_CODES), ``api`` (a definite
    ``ok: false`` answer with ``code``), ``ratelimited`` (429, ``retry_after`` seconds),
    ``transient`` (5xx, non-JSON, connection error, timeout, fatal_error: worth retrying),
    ``http`` (another non-200 status: not retried) or ``malformed`` (an answer without the
    documented shape, see ``nhictl.slack.replies``: not retried, proves nothing).
    """

    kind: str
    code: str | None
    reason: str
    status: int | None = None
    retry_after: float | None = None
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def retryable(self) -> bool:
        return self.kind == "transient"


def header(headers: Mapping[str, Any] | None, name: str) -> str | None:
    """A response header by case-insensitive name (first value if a list)."""
    if not headers:
        return None
    wanted = name.lower()
    for key, value in headers.items():
        if str(key).lower() == wanted:
            if isinstance(value, list | tuple):
                return str(value[0]) if value else None
            return str(value)
    return None


def parse_retry_after(value: str | None) -> float:
    """Retry-After seconds (integer per Slack; tolerate fractions, clamp bad values to 1)."""
    if value is None:
        return 1.0
    try:
        seconds = float(value.strip())
    except ValueError:
        return 1.0
    return max(0.0, seconds) if seconds == seconds else 1.0  # NaN -> 1


def from_api_error(method: str, exc: SlackApiError) -> CallFailure:
    response = exc.response
    status = int(getattr(response, "status_code", 0) or 0)
    raw = getattr(response, "data", None)
    data: dict[str, Any] = raw if isinstance(raw, dict) else {}
    raw_code = data.get("error")
    code = str(raw_code) if raw_code is not None else None
    headers = getattr(response, "headers", None)
    if status == 429:
        after = parse_retry_after(header(headers, "retry-after"))
        return CallFailure("ratelimited", "ratelimited", f"{method}: HTTP 429", status, after, data)
    if code is not None and code.startswith(NON_JSON_PREFIX):
        kind = "transient" if status >= 500 or status == 200 else "http"
        return CallFailure(kind, None, f"{method}: HTTP {status} with a non-JSON body", status)
    code = untrusted.code(code, untrusted.UNRECOGNISED) if code is not None else None
    if status >= 500:
        return CallFailure("transient", code, f"{method}: HTTP {status}", status, data=data)
    if status != 200:
        return CallFailure("http", code, f"{method}: HTTP {status}", status, data=data)
    if not isinstance(raw, dict) or raw.get("ok") is not False or not isinstance(
            raw.get("error"), str) or not raw["error"]:
        # Neither ok: true nor a definite {"ok": false, "error": CODE}: a strange reply
        # (an empty array, {"ok": "no"}, an error that is an object) proves nothing.
        return CallFailure("malformed", None, f"{method}: reply has no ok: true", status)
    if code in SLACK_DEAD_CODES:
        return CallFailure("dead", code, f"{method}: {code}", status, data=data)
    if code in RETRYABLE_CODES:
        return CallFailure("transient", code, f"{method}: {code}", status, data=data)
    return CallFailure("api", code, f"{method}: {code}", status, data=data)


def from_exception(method: str, exc: BaseException) -> CallFailure | None:
    """A transport failure as a transient CallFailure; None when ``exc`` is not one."""
    if isinstance(exc, NetworkLimitError):  # a redirect, a size cap or a deadline
        return CallFailure("transient" if exc.retryable else "http", None,
                           f"{method}: {exc.message}")
    if isinstance(exc, TimeoutError | socket.timeout):
        return CallFailure("transient", None, f"{method}: timed out")
    if isinstance(exc, URLError):
        inner = exc.reason
        if isinstance(inner, TimeoutError | socket.timeout):
            return CallFailure("transient", None, f"{method}: timed out")
        name = type(inner).__name__ if isinstance(inner, BaseException) else "URLError"
        return CallFailure("transient", None, f"{method}: connection error ({name})")
    if isinstance(exc, http.client.HTTPException | ConnectionError | OSError):
        return CallFailure("transient", None, f"{method}: connection error ({type(exc).__name__})")
    if isinstance(exc, SlackClientError):
        return CallFailure("http", None, f"{method}: client error ({type(exc).__name__})")
    return None
