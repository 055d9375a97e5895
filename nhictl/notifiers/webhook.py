"""The generic webhook: the notification as JSON, signed with HMAC-SHA256.

Each attempt sends::

    POST <url>
    Content-Type: application/json
    X-Nhictl-Delivery: n-3f2a9c0d1e2b          (the notification id; same news, same id)
    X-Nhictl-Timestamp: 1764612345             (unix seconds of this attempt)
    X-Nhictl-Signature: sha256=<hex>           (HMAC-SHA256, key: the shared secret, over
                                                 "<timestamp>." + the raw body bytes)

A receiver verifies by recomputing the HMAC over the timestamp header, a dot and the body
exactly as received, comparing in constant time, and refusing a timestamp more than five
minutes from its clock (replays); it drops a delivery id it has already processed (retries).

Delivery: a timeout per request (and a total deadline, :mod:`nhictl.sources.bounded`),
redirects never followed (a 3xx is a failure naming the target's origin: the body would go to
a host nobody configured), retries with exponential backoff on connection errors, timeouts,
429 (``Retry-After``) and 5xx; a 4xx is final. The URL is a secret (a path token): messages
show it masked. :class:`Poster` also carries the Slack incoming webhook, with Slack's retry
rule (:mod:`nhictl.notifiers.base`: no idempotency there, so no retry after a maybe).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import random
import time
from typing import Any

import httpx

from nhictl.errors import NetworkLimitError, NotifyFailedError
from nhictl.net import HttpPolicy, origin
from nhictl.notifiers.base import (
    Delivery,
    RetryPolicy,
    Sleep,
    check_secret_url,
    is_edge_error_page,
    retry_after_seconds,
)
from nhictl.notifiers.digest import Digest
from nhictl.notifiers.payload import webhook_document
from nhictl.secret import Secret
from nhictl.sources.bounded import send_bounded
from nhictl.untrusted import code

SIGNATURE_HEADER = "X-Nhictl-Signature"
TIMESTAMP_HEADER = "X-Nhictl-Timestamp"
DELIVERY_HEADER = "X-Nhictl-Delivery"
TOLERANCE_S = 300


def sign(secret: bytes, timestamp: str, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256(secret, timestamp + "." + body)."""
    return "sha256=" + hmac.new(secret, timestamp.encode() + b"." + body,
                                hashlib.sha256).hexdigest()


def verify(secret: bytes, headers: dict[str, str], body: bytes, *, now: float,
           tolerance_s: float = TOLERANCE_S) -> bool:
    """What a receiver does (``headers`` with lower-case names): the signature matches and
    the timestamp is recent."""
    timestamp = headers.get(TIMESTAMP_HEADER.lower(), "")
    given = headers.get(SIGNATURE_HEADER.lower(), "")
    if not timestamp.isdigit() or abs(now - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(given, sign(secret, timestamp, body))


class Poster:
    """POST JSON to one URL with bounded retries (injected sleep: tests never wait)."""

    def __init__(self, *, target: str, url: Secret, policy: HttpPolicy,
                 retry: RetryPolicy | None, sleep: Sleep, http_transport: Any,
                 idempotent: bool, clock: Any = time.time) -> None:
        self.target, self.url, self.policy = target, url, policy
        self.retry = retry or RetryPolicy()
        self.sleep, self.clock, self.idempotent = sleep, clock, idempotent
        self.rng = random.Random()
        self.where = origin(url.reveal()) + "/…"
        self._client = httpx.Client(
            transport=http_transport, follow_redirects=False,
            timeout=httpx.Timeout(policy.limits.read_timeout_s),
            limits=httpx.Limits(max_keepalive_connections=0))  # the watchdog sees each socket

    def _fail(self, why: str, *, maybe: bool, hint: str | None = None) -> NotifyFailedError:
        if maybe and hint is None:
            hint = ("the receiver may have it; it is not recorded, so the next run sends this "
                    "news again")
        return NotifyFailedError(f"notify target {self.target!r}: POST {self.where} failed: "
                                 f"{why}", maybe_delivered=maybe, hint=hint)

    def post(self, document: dict[str, Any], headers: dict[str, str],
             secret: Secret | None = None) -> Delivery:
        body = json.dumps(document, separators=(",", ":"), sort_keys=True).encode()
        attempt = 0
        while True:
            attempt += 1
            sent = dict(headers)
            if secret is not None:
                timestamp = str(int(self.clock()))
                sent[TIMESTAMP_HEADER] = timestamp
                sent[SIGNATURE_HEADER] = sign(secret.reveal().encode(), timestamp, body)
            request = self._client.build_request(
                "POST", self.url.reveal(), content=body,
                headers={"Content-Type": "application/json", "User-Agent": "nhictl", **sent})
            failure, wait = self._attempt(request)
            if failure is None:
                return Delivery(attempts=attempt, detail=f"delivered to {self.where}")
            if wait is None or attempt >= self.retry.max_attempts:
                raise failure
            self.sleep(wait if wait > 0 else self.retry.backoff(attempt, self.rng))

    def _attempt(self, request: httpx.Request) -> tuple[NotifyFailedError | None, float | None]:
        """(None, None) when delivered; else the failure and the wait before a retry (None:
        final, 0: the usual backoff)."""
        try:
            response = send_bounded(self._client, request, self.policy,
                                    self.policy.limits.read_timeout_s)
        except NetworkLimitError as exc:
            redirect = exc.message.startswith("HTTP 3")
            failure = self._fail(exc.message, maybe=not redirect)
            return failure, (0.0 if self.idempotent and not redirect else None)
        except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
            return self._fail(f"cannot connect ({type(exc).__name__})", maybe=False), 0.0
        except httpx.HTTPError as exc:  # the request went out; the answer did not come back
            failure = self._fail(f"no answer ({type(exc).__name__})", maybe=True)
            return failure, (0.0 if self.idempotent else None)
        status = response.status_code
        if 200 <= status < 300:
            return None, None
        reason = code(response.text.strip(), None) if len(response.text) < 100 else None
        why = f"HTTP {status}" + (f" {reason}" if reason else "")
        if status == 429:
            after = retry_after_seconds(response.headers.get("retry-after"))
            if after > self.retry.max_retry_after_s:
                return self._fail(why + " (Retry-After too long)", maybe=False), None
            return self._fail(why, maybe=False), max(after, 0.001)
        if status >= 500:
            edge = is_edge_error_page(status, response.content,
                                      response.headers.get("content-type"))
            failure = self._fail(why, maybe=not edge)
            return failure, (0.0 if self.idempotent or edge else None)
        return self._fail(why, maybe=False, hint="the receiver refused it (check the URL "
                          "and, for a signed webhook, the shared secret)"), None


class WebhookTransport:
    """A generic HTTPS webhook with an HMAC-SHA256 signature."""

    def __init__(self, *, target: str, url: Secret, secret: Secret, policy: HttpPolicy,
                 retry: RetryPolicy | None = None, sleep: Sleep = time.sleep,
                 http_transport: Any = None, clock: Any = time.time) -> None:
        raw = url.reveal()
        check_secret_url(raw, where=f"notify target {target!r}: webhook URL",
                               allow_insecure_http=policy.allow_insecure_http)
        self.target, self.secret = target, secret
        self.description = f"webhook {origin(raw)}/…"
        self._poster = Poster(target=target, url=url, policy=policy, retry=retry, sleep=sleep,
                              http_transport=http_transport, idempotent=True, clock=clock)

    def payload(self, digest: Digest, top: int) -> dict[str, Any]:
        return webhook_document(digest, top)

    def send(self, payload: dict[str, Any]) -> Delivery:
        return self._poster.post(payload, headers={DELIVERY_HEADER: str(payload["id"])},
                                 secret=self.secret)
