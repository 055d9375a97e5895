"""What every notification transport is, and the one retry rule they share.

A transport turns a :class:`~nhictl.notifiers.digest.Digest` into its payload (what
``--dry-run`` prints) and delivers it, or raises :class:`~nhictl.errors.NotifyFailedError`.

Retrying without double-posting. Slack has no idempotency key for ``chat.postMessage`` or
incoming webhooks, and a failure after the request was sent may hide a message that was
posted (Slack's ``internal_error``/``fatal_error`` say "it's possible some aspect of the
operation succeeded"). So a Slack delivery is retried only when it certainly did not happen:

* HTTP 429 (Slack rejects a rate-limited call; wait ``Retry-After``, capped);
* a connection that could not be made or a request that could not be written (nothing
  reached Slack);
* a 5xx whose body is not JSON: an HTML error page from Slack's edge, which answers before
  the API method ran (slack_sdk's own test server models its 500/503 this way,
  tests/slack_sdk/web/mock_web_api_handler.py ``error_html_response_body``).

Anything else (a JSON 5xx or ``ok: false`` error, a reset or timeout while waiting for the
answer) is not retried: the run exits 4, nothing is recorded as announced, and the next run
sends the news again; at most one duplicate, never a lost alert. The message carries the
notification id (same news, same id) so a reader can tell a repeat.

The generic webhook sends ``X-Nhictl-Delivery`` (that id) with every attempt, so a receiver
can drop repeats; it is also retried on any 5xx and on timeouts.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from email.utils import parsedate_to_datetime
from typing import Any, Protocol

from nhictl.notifiers.digest import Digest

Sleep = Callable[[float], None]


@dataclass(frozen=True)
class Delivery:
    """A confirmed delivery: how many attempts it took and what the receiver said."""

    attempts: int
    detail: str


@dataclass(frozen=True)
class RetryPolicy:
    max_attempts: int = 4
    backoff_base_s: float = 0.5
    backoff_max_s: float = 8.0
    max_retry_after_s: float = 60.0  # a longer Retry-After is not waited for

    def backoff(self, attempt: int, rng: random.Random | None = None) -> float:
        """Exponential backoff with jitter before retry number ``attempt`` (1-based)."""
        base = min(self.backoff_max_s, self.backoff_base_s * float(2 ** (attempt - 1)))
        return base / 2 + (rng or random).uniform(0, base / 2)


def retry_after_seconds(raw: Any) -> float:
    """``Retry-After`` as seconds (integer seconds or an HTTP date; 1 when absent/garbled).
    slack_sdk hands headers as a str or a one-element list."""
    if isinstance(raw, list | tuple):
        raw = raw[0] if raw else None
    if raw is None:
        return 1.0
    text = str(raw).strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(text).timestamp() - time.time())
    except (TypeError, ValueError, IndexError):
        return 1.0


def is_edge_error_page(status: int, body: bytes | str | None, content_type: str | None) -> bool:
    """A 5xx answered by Slack's edge (an HTML page, not the API's JSON envelope)."""
    if not 500 <= status < 600:
        return False
    ctype = (content_type or "").lower()
    text = body.decode("utf-8", "replace") if isinstance(body, bytes) else (body or "")
    return "json" not in ctype and not text.lstrip().startswith("{")


def check_secret_url(url: str, *, where: str, allow_insecure_http: bool) -> None:
    """A webhook URL (a secret: its path is the key) must be https (or loopback http, or
    ``--allow-insecure-http``) without ``user:pass@``; the error shows only its origin."""
    from nhictl.errors import ConfigError
    from nhictl.net import credentialed_url_problem, origin

    problem = credentialed_url_problem(url, allow_insecure_http=allow_insecure_http)
    if problem is not None:
        message, hint = problem
        raise ConfigError(f"{where} {origin(url)}/…: {message}", hint=hint)


class Transport(Protocol):
    """One way to deliver a notification."""

    description: str  # for messages: kind and a masked destination, never a secret

    def payload(self, digest: Digest, top: int) -> dict[str, Any]:
        """What would be sent (``--dry-run`` prints it)."""
        ...

    def send(self, payload: dict[str, Any]) -> Delivery:
        """Deliver ``payload``; raise NotifyFailedError when it was not confirmed."""
        ...
