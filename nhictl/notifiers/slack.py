"""Slack transports: ``chat.postMessage`` with a bot token (through slack_sdk's WebClient),
and an incoming webhook (a URL that is itself the secret).

``chat.postMessage`` goes through :class:`nhictl.slack.transport.BoundedWebClient` (no
redirect followed, a total deadline and a size cap per request) with slack_sdk
``RetryHandler`` subclasses that apply the retry rule of :mod:`nhictl.notifiers.base`:
slack_sdk's own ``RateLimitErrorRetryHandler`` reads ``Retry-After`` as ``headers[name][0]``
(one character of our plain-dict headers) and sleeps with ``time.sleep``, so ours parses the
header whole and sleeps with the injected function. The token travels only in the
Authorization header slack_sdk builds; errors name the method, the channel and Slack's error
code, never the token.
"""

from __future__ import annotations

import re
import time
import urllib.error
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState

from nhictl.errors import NetworkLimitError, NotifyFailedError
from nhictl.net import HttpPolicy, check_credentialed_url, origin
from nhictl.notifiers.base import (
    Delivery,
    RetryPolicy,
    Sleep,
    check_secret_url,
    is_edge_error_page,
    retry_after_seconds,
)
from nhictl.notifiers.digest import Digest
from nhictl.notifiers.payload import slack_message
from nhictl.secret import Secret
from nhictl.untrusted import code

# Slack's words for "the request was processed and may have partly succeeded"
# (docs.slack.dev/reference/methods/chat.postMessage, "Errors").
MAYBE_POSTED = {"internal_error", "fatal_error", "request_timeout", "service_unavailable"}
_HINTS = {
    "not_in_channel": "invite the app to the channel (/invite @the-app) or use a channel it "
                      "is in",
    "channel_not_found": "check the channel id in [[notify]] (C..., not a #name)",
    "missing_scope": "the token needs chat:write (and only that)",
    "invalid_auth": "the token in {env} is not valid; reinstall the app and export the new one",
    "token_revoked": "the token in {env} was revoked; reinstall the app",
    "account_inactive": "the token in {env} belongs to a deactivated app or user",
    "not_authed": "the token in {env} is empty",
}
_TS = re.compile(r"\d{1,12}\.\d{1,9}")


class _Retry(RetryHandler):
    """Base of our handlers: counts retries and sleeps with the injected function."""

    def __init__(self, policy: RetryPolicy, sleep: Sleep, counter: list[int]) -> None:
        super().__init__(max_retry_count=policy.max_attempts - 1)
        self.policy = policy
        self.sleep = sleep
        self.counter = counter

    def wait_s(self, state: RetryState, response: HttpResponse | None) -> float:
        return self.policy.backoff(state.current_attempt + 1)

    def prepare_for_next_attempt(self, *, state: RetryState, request: HttpRequest,
                                 response: HttpResponse | None = None,
                                 error: Exception | None = None) -> None:
        state.next_attempt_requested = True
        self.sleep(self.wait_s(state, response))
        self.counter[0] += 1
        state.increment_current_attempt()


class RateLimited(_Retry):
    """HTTP 429: Slack refused the call; wait ``Retry-After`` (capped) and send again."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        if response is None or response.status_code != 429:
            return False
        return self._after(response) <= self.policy.max_retry_after_s

    def _after(self, response: HttpResponse) -> float:
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        return retry_after_seconds(headers.get("retry-after"))

    def wait_s(self, state: RetryState, response: HttpResponse | None) -> float:
        return self._after(response) if response is not None else 1.0


class NotSent(_Retry):
    """urllib could not connect or write the request (``URLError``): nothing reached Slack.
    A reset or timeout while reading the answer is not this (``RemoteDisconnected``,
    ``ConnectionResetError``, our deadline): the message may be posted."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        return (isinstance(error, urllib.error.URLError)
                and not isinstance(error, urllib.error.HTTPError))


class EdgeErrorPage(_Retry):
    """A 5xx HTML page from Slack's edge: the API method never ran."""

    def _can_retry(self, *, state: RetryState, request: HttpRequest,
                   response: HttpResponse | None = None, error: Exception | None = None) -> bool:
        if response is None:
            return False
        headers = {k.lower(): v for k, v in (response.headers or {}).items()}
        ctype = headers.get("content-type")
        if isinstance(ctype, list):
            ctype = ctype[0] if ctype else None
        return is_edge_error_page(response.status_code, response.data, ctype)


class SlackChatTransport:
    """``chat.postMessage`` to one channel with a bot token (scope ``chat:write``)."""

    def __init__(self, *, target: str, api_url: str, token: Secret, token_env: str,
                 channel: str, policy: HttpPolicy, retry: RetryPolicy | None = None,
                 sleep: Sleep = time.sleep) -> None:
        from nhictl.slack.client import _SDK_LOGGER
        from nhictl.slack.transport import BoundedWebClient

        check_credentialed_url(api_url, where=f"notify target {target!r}: Slack API URL",
                               allow_insecure_http=policy.allow_insecure_http)
        self.target, self.channel, self.token_env = target, channel, token_env
        self.description = f"Slack chat.postMessage to {channel}"
        self.retry = retry or RetryPolicy()
        self.retries = [0]
        handlers = [cls(self.retry, sleep, self.retries)
                    for cls in (RateLimited, NotSent, EdgeErrorPage)]
        self._web = BoundedWebClient(base_url=api_url, token=token.reveal(),
                                     timeout=policy.limits.read_timeout_s,  # type: ignore[arg-type]
                                     retry_handlers=handlers,  # type: ignore[arg-type]
                                     logger=_SDK_LOGGER, limits=policy.limits)

    def payload(self, digest: Digest, top: int) -> dict[str, Any]:
        return slack_message(digest, top, channel=self.channel)

    def _fail(self, why: str, *, maybe: bool, hint: str | None = None) -> NotifyFailedError:
        if maybe and hint is None:
            hint = ("Slack may have posted it; it was not retried (no duplicate) and is not "
                    "recorded, so the next run sends this news again")
        return NotifyFailedError(f"notify target {self.target!r}: chat.postMessage to "
                                 f"{self.channel} failed: {why}", maybe_delivered=maybe,
                                 hint=hint)

    def send(self, payload: dict[str, Any]) -> Delivery:
        try:
            response = self._web.chat_postMessage(**payload)
        except SlackApiError as exc:
            raise self._api_error(exc) from None
        except NetworkLimitError as exc:  # redirect refused, size cap, deadline
            raise self._fail(exc.message, maybe=not exc.message.startswith("HTTP 3")) from None
        except urllib.error.URLError as exc:
            reason = getattr(exc, "reason", exc)
            raise self._fail(f"cannot connect ({type(reason).__name__})", maybe=False,
                             hint="check [slack] api_url / --slack-api-url and the network"
                             ) from None
        except (OSError, ValueError) as exc:  # reset or closed while awaiting the answer
            raise self._fail(f"connection lost after sending ({type(exc).__name__})",
                             maybe=True) from None
        data = response.data if isinstance(response.data, dict) else {}
        ts = data.get("ts")
        if data.get("ok") is not True or not (isinstance(ts, str) and _TS.fullmatch(ts)):
            raise self._fail("reply is not chat.postMessage's {ok: true, ts}", maybe=True)
        return Delivery(attempts=self.retries[0] + 1, detail=f"posted to {self.channel} (ts {ts})")

    def _api_error(self, exc: SlackApiError) -> NotifyFailedError:
        status = int(getattr(exc.response, "status_code", 0) or 0)
        data = exc.response.data if isinstance(exc.response.data, dict) else {}
        error = code(data.get("error"), None)
        if status == 429:
            return self._fail("rate limited beyond the retry budget", maybe=False,
                              hint="Slack refused the message; the next run sends it")
        if status >= 500:
            headers = {str(k).lower(): v for k, v in (exc.response.headers or {}).items()}
            edge = is_edge_error_page(status, str(exc.response.data or ""),
                                      str(headers.get("content-type") or ""))
            return self._fail(f"HTTP {status}" + (f" {error}" if error else ""), maybe=not edge,
                              hint="Slack's edge kept failing; nothing was posted, the next "
                              "run sends it" if edge else None)
        if error in MAYBE_POSTED:
            return self._fail(error or "error", maybe=True)
        hint = _HINTS.get(error or "")
        return self._fail(error or f"HTTP {status}", maybe=False,
                          hint=hint.format(env=f"${self.token_env}") if hint else None)


class SlackWebhookTransport:
    """An incoming webhook: POST the message as JSON; Slack answers ``ok`` as plain text."""

    def __init__(self, *, target: str, url: Secret, policy: HttpPolicy,
                 retry: RetryPolicy | None = None, sleep: Sleep = time.sleep,
                 http_transport: Any = None) -> None:
        from nhictl.notifiers.webhook import Poster

        raw = url.reveal()
        where = f"notify target {target!r}: incoming webhook URL"
        check_secret_url(raw, where=where, allow_insecure_http=policy.allow_insecure_http)
        self.target = target
        self.description = f"Slack incoming webhook {origin(raw)}/…"
        self._poster = Poster(target=target, url=url, policy=policy, retry=retry, sleep=sleep,
                              http_transport=http_transport, idempotent=False)

    def payload(self, digest: Digest, top: int) -> dict[str, Any]:
        return slack_message(digest, top)

    def send(self, payload: dict[str, Any]) -> Delivery:
        return self._poster.post(payload, headers={})
