"""The one place where a Slack reply's shape is checked before anything believes it.

A server may answer ``ok: true`` with nonsense: a JSON array, a bare ``{"ok": true}``, ids that
are objects, ``expires_in`` of 1e300 or NaN, no ``x-oauth-scopes`` header. Believing such a
reply would crash the run (a timedelta overflow is exit 70) or record a "validated" token with
no identity and no scopes, which then raises a false ``scope_expanded`` on the next run. So a
reply is parsed here into typed values, and any reply that does not have the shape Slack
documents raises :class:`ReplyShapeError`: the caller records an inconclusive validation.

Error messages name the method and field only; they never quote what the server sent.
Shapes follow docs.slack.dev/reference/methods/auth.test and .../users.info, and the optional
fields of @slack/web-api's ``AuthTestResponse`` (an org-wide install may omit ``team_id``).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from nhictl.slack.errors import header

# Slack ids: T/E (team, enterprise), U/W (user), B (bot); upper-case letters and digits.
SLACK_ID = re.compile(r"[A-Z][A-Z0-9]{1,39}")
MAX_NAME_CHARS = 256
MAX_SCOPES = 500
MAX_SCOPE_CHARS = 128
# Rotating tokens live 12 hours; allow far more, but not centuries (timedelta overflows).
MAX_EXPIRES_IN_S = 366 * 24 * 3600


class ReplyShapeError(ValueError):
    """A reply does not have the documented shape; the message is safe to store and print."""


@dataclass(frozen=True)
class AuthTest:
    """What an ``auth.test`` answer says about the token."""

    user_id: str
    team_id: str | None
    team_name: str | None
    enterprise_id: str | None
    bot_id: str | None
    scopes: list[str]
    expires_in: float | None


def _object(method: str, data: Any) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise ReplyShapeError(f"{method}: reply is not a JSON object")
    if data.get("ok") is not True:
        raise ReplyShapeError(f"{method}: reply has no ok: true")
    return data


def _slack_id(method: str, data: Mapping[str, Any], name: str, *, required: bool) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        if required:
            raise ReplyShapeError(f"{method}: reply has no {name}")
        return None
    if not isinstance(value, str) or not SLACK_ID.fullmatch(value):
        raise ReplyShapeError(f"{method}: {name} is not a Slack id")
    return value


def _name(method: str, data: Mapping[str, Any], name: str) -> str | None:
    value = data.get(name)
    if value is None or value == "":
        return None
    if not isinstance(value, str) or len(value) > MAX_NAME_CHARS:
        raise ReplyShapeError(f"{method}: {name} is not a short string")
    return value


def _expires_in(method: str, value: Any) -> float | None:
    if value is None:
        return None
    # bool is an int subclass: true is not a lifetime.
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ReplyShapeError(f"{method}: expires_in is not a number")
    seconds = float(value)
    if not math.isfinite(seconds) or not 0 <= seconds <= MAX_EXPIRES_IN_S:
        raise ReplyShapeError(f"{method}: expires_in is out of range")
    return seconds


def _scopes(method: str, headers: Mapping[str, Any] | None) -> list[str]:
    raw = header(headers, "x-oauth-scopes")
    if raw is None:
        # Slack always sends it on auth.test; without it "no scopes" would be a false fact.
        raise ReplyShapeError(f"{method}: reply has no x-oauth-scopes header")
    scopes = sorted({s.strip() for s in raw.split(",") if s.strip()})
    if len(scopes) > MAX_SCOPES or any(len(s) > MAX_SCOPE_CHARS for s in scopes):
        raise ReplyShapeError(f"{method}: x-oauth-scopes header is implausibly large")
    return scopes


def parse_auth_test(data: Any, headers: Mapping[str, Any] | None) -> AuthTest:
    """The parsed ``auth.test`` answer, or :class:`ReplyShapeError`."""
    method = "auth.test"
    body = _object(method, data)
    enterprise_id = _slack_id(method, body, "enterprise_id", required=False)
    org_wide = body.get("is_enterprise_install")
    if org_wide is not None and not isinstance(org_wide, bool):
        raise ReplyShapeError(f"{method}: is_enterprise_install is not a boolean")
    # An org-wide install acts for the enterprise, not one workspace: team_id may be absent.
    team_required = not (org_wide and enterprise_id)
    return AuthTest(
        user_id=str(_slack_id(method, body, "user_id", required=True)),
        team_id=_slack_id(method, body, "team_id", required=team_required),
        team_name=_name(method, body, "team"),
        enterprise_id=enterprise_id,
        bot_id=_slack_id(method, body, "bot_id", required=False),
        scopes=_scopes(method, headers),
        expires_in=_expires_in(method, body.get("expires_in")),
    )


def parse_users_info(data: Any, user_id: str) -> bool:
    """Whether ``users.info`` says the user is deleted, or :class:`ReplyShapeError`.

    Only a real boolean counts: ``"deleted": "yes"`` or a missing field proves nothing, and a
    reply about another user than the one asked for is not evidence about this one.
    """
    method = "users.info"
    body = _object(method, data)
    user = body.get("user")
    if not isinstance(user, dict):
        raise ReplyShapeError(f"{method}: reply has no user object")
    if user.get("id") != user_id:
        raise ReplyShapeError(f"{method}: reply is about another user")
    deleted = user.get("deleted")
    if not isinstance(deleted, bool):
        raise ReplyShapeError(f"{method}: user.deleted is not a boolean")
    return deleted


__all__ = ["AuthTest", "ReplyShapeError", "parse_auth_test", "parse_users_info"]
