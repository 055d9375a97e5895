"""What Nango's answers mean, read from Nango's own server sources (NangoHQ/nango).

Two things live here, apart from the paging and bookkeeping of :mod:`nhictl.sources.nango`:

* :func:`read_answer`: the status and body of ``GET /connections/{id}`` (and of a DELETE)
  turned into "the connection", "gone", or "unavailable now" (dead or transient);
* :func:`token_parts`: the Slack tokens one connection holds (the bot token and, beside it,
  the installing user's token), each becoming its own binding.

Only codes and fixed message prefixes are compared; no body text is ever echoed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

from nhictl.secret import Secret
from nhictl.sources.http import error_code, normalize_time

# A connection's second binding (its user token) is "<connection>#user": Nango allows no
# "#" in connection ids or integration keys (packages/server/lib/helpers/validation.ts,
# connectionIdSchema and providerConfigKeySchema), so the suffix never collides.
USER_PART = "#user"

# 424 bodies differ only by message (packages/shared/lib/utils/error.ts: NangoError
# 'connection_refresh_exhausted' and 'connection_refresh_backoff', both status 424, both
# sent as code 'invalid_credentials' by packages/server/lib/controllers/connection/
# connectionId/getConnection.ts). These are the messages' fixed beginnings.
EXHAUSTED_MESSAGE = "The refresh limit has been reached"
BACKOFF_MESSAGE = "A recent refresh attempt failed"


@dataclass(frozen=True)
class Unavailable:
    """Nango holds the connection but hands out no token now.

    ``dead``: the grant is dead at Nango (``reason`` is the record's ``dead_reason``);
    otherwise transient (inconclusive; the binding keeps its status).
    """

    dead: bool
    reason: str
    detail: str
    # The credential-free connection Nango sends along (error.payload.connection).
    connection: dict[str, Any] = field(default_factory=dict)


def _error(response: httpx.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    err = body.get("error") if isinstance(body, dict) else None
    return err if isinstance(err, dict) else {}


def is_gone(response: httpx.Response) -> bool:
    """A missing connection, as Nango says it.

    GET answers 404 ``not_found`` (getConnection.ts, via connection.service.ts
    getConnectionWithCredentials); DELETE answers 400 ``unknown_connection``
    (connectionId/deleteConnection.ts); older servers answered 404 ``unknown_connection``
    (NangoError in packages/shared/lib/utils/error.ts). 400 ``unknown_provider_config``:
    the integration itself is gone, and its connections with it.
    """
    code = error_code(response)
    if response.status_code == 404:
        return code in ("not_found", "unknown_connection")
    if response.status_code == 400:
        return code in ("unknown_connection", "unknown_provider_config")
    return False


def unavailable(response: httpx.Response) -> Unavailable | None:
    """The refresh outcomes of a credentials GET, or None when the answer is not one.

    * 400 ``invalid_credentials``: a refresh was just tried and Slack refused or failed it
      (NangoError 'refresh_token_external_error', status 400, "Please try again later";
      refresh.ts drops the external detail from the payload). Nango retries on the next read
      and counts one failure per day: not (yet) dead, so inconclusive.
    * 424 with the backoff message: a refresh failed in the last 30 s
      (REFRESH_FAILURE_COOLDOWN_MS in services/connections/utils.ts): inconclusive.
    * 424 with the exhausted message: four daily failures in a row
      (MAX_CONSECUTIVE_DAYS_FAILED_REFRESH; connection.service.ts setRefreshFailure) or an
      auth failure marked by Nango: dead until the owner reconnects.
    * 424 with any other message: inconclusive (never a dead status on a guess).
    """
    err = _error(response)
    if err.get("code") != "invalid_credentials":
        return None
    message = _str(err.get("message")) or ""
    described = _dict(_dict(err.get("payload")).get("connection"))
    conn: dict[str, Any] = {k: described[k] for k in ("tags", "end_user", "created_at")
                            if k in described}
    if response.status_code == 400:
        return Unavailable(False, "refresh_failed", "Nango could not refresh the token "
                           "(HTTP 400 invalid_credentials); it retries on the next read", conn)
    if response.status_code != 424:
        return None
    if message.startswith(EXHAUSTED_MESSAGE):
        return Unavailable(True, "refresh_exhausted", "Nango gave up refreshing the token "
                           "(HTTP 424, refresh limit reached)", conn)
    if message.startswith(BACKOFF_MESSAGE):
        return Unavailable(False, "refresh_backoff", "Nango is backing off after a failed "
                           "refresh (HTTP 424); retry later", conn)
    return Unavailable(False, "refresh_unavailable", "Nango answered HTTP 424 "
                       "invalid_credentials without a known reason; retry later", conn)


def _str(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return value if isinstance(value, str) and value else None


def _dict(value: object) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _scopes(value: object) -> list[str]:
    if isinstance(value, list):
        return [s for s in value if isinstance(s, str) and s]
    if isinstance(value, str):
        return [s.strip() for s in value.replace(" ", ",").split(",") if s.strip()]
    return []


@dataclass
class TokenPart:
    """One Slack token of a connection: ``suffix`` "" (the connection's own token,
    ``credentials.access_token``) or :data:`USER_PART` (the user token beside a bot's)."""

    suffix: str
    token: Secret | None
    kind: str | None
    scopes: list[str] = field(default_factory=list)
    expires_at: str | None = None
    has_refresh_token: bool = False


def token_parts(full: dict[str, Any]) -> list[TokenPart]:
    """The tokens of one connection's credentials.

    Nango keeps Slack's oauth.v2.access answer in ``credentials.raw`` and takes
    ``credentials.access_token`` from its top level (the bot token) or, for a user-only
    install, from ``raw.authed_user`` (``alternate_access_token_response_path: authed_user``
    in packages/providers/providers.yaml; parseRawCredentials in connection.service.ts). A bot
    install with user scopes also carries the user's token in ``raw.authed_user``: a second
    binding. Nango strips every refresh token unless asked with ``refresh_token=true``
    (withoutRefreshTokenProperties in connection.service.ts); presence is read from the
    expiry instead, since Slack only issues expiring tokens with token rotation, which
    always comes with a refresh token. No refresh-token value is kept.
    """
    creds = _dict(full.get("credentials"))
    raw = _dict(creds.get("raw"))
    authed = _dict(raw.get("authed_user"))
    user_token = _str(authed.get("access_token"))
    main = _str(creds.get("access_token")) or _str(raw.get("access_token"))
    user_refresh = bool(authed.get("refresh_token") or authed.get("expires_in"))
    if main is None and user_token is None:
        return [TokenPart("", None, None, _scopes(raw.get("scope")))]
    if main is None or main == user_token:
        # A user-only install: the connection's own token is the user's.
        assert user_token is not None
        return [TokenPart("", Secret(user_token), "user", _scopes(authed.get("scope")),
                          normalize_time(creds.get("expires_at")),
                          bool(creds.get("refresh_token") or creds.get("expires_at"))
                          or user_refresh)]
    kind = "user" if main.startswith(("xoxp-", "xoxe.xoxp-")) else "bot"
    parts = [TokenPart("", Secret(main), kind, _scopes(raw.get("scope")),
                       normalize_time(creds.get("expires_at")),
                       bool(creds.get("refresh_token") or creds.get("expires_at")
                            or raw.get("refresh_token") or raw.get("expires_in")))]
    if user_token is not None:
        # raw.authed_user.expires_in counts from an unknown moment: no expiry is claimed.
        parts.append(TokenPart(USER_PART, Secret(user_token), "user",
                               _scopes(authed.get("scope")), None, user_refresh))
    return parts
