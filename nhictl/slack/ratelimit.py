"""Client-side rate limiting per (workspace, method): token buckets that keep nhictl under
Slack's tier limits, and that a 429's ``Retry-After`` can pause.

Limits are calls per minute, optionally with a burst: ``{"auth.test": 600}`` or
``{"auth.test": (120, 6)}``. A method without a limit, or a call without a known workspace,
is not throttled (a 429 is still honoured by the caller).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping

Limit = float | int | tuple[float, float]

# Slack tiers (calls per minute, per method, per workspace): auth.test is "special, hundreds
# per minute"; users.info tier 4; team.info, conversations.info, auth.revoke tier 3;
# conversations.list tier 2.
DEFAULT_LIMITS: dict[str, Limit] = {
    "auth.test": 600,
    "users.info": 100,
    "team.info": 50,
    "conversations.info": 50,
    "auth.revoke": 50,
    "conversations.list": 20,
}


def _parse(limit: Limit) -> tuple[float, float]:
    if isinstance(limit, tuple):
        per_minute, burst = float(limit[0]), float(limit[1])
    else:
        per_minute = float(limit)
        burst = per_minute / 20.0  # three seconds' worth
    if per_minute <= 0:
        raise ValueError("a rate limit must be positive")
    return per_minute / 60.0, max(1.0, burst)


class TokenBucket:
    """``capacity`` calls at once, refilled at ``rate`` per second; not thread-safe alone."""

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.updated = now
        self.blocked_until = 0.0

    def _refill(self, now: float) -> None:
        if now > self.updated:
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now

    def try_take(self, now: float) -> float:
        """Take one call and return 0.0, or return the seconds until one is available."""
        if now < self.blocked_until:
            return self.blocked_until - now
        self._refill(now)
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate

    def block(self, now: float, seconds: float) -> None:
        self._refill(now)
        self.blocked_until = max(self.blocked_until, now + seconds)
        self.tokens = 0.0
        self.updated = max(self.updated, self.blocked_until)


class RateLimiter:
    """Buckets per (workspace, method), thread-safe; ``clock`` and ``sleep`` are injectable."""

    def __init__(
        self,
        limits: Mapping[str, Limit] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        source = DEFAULT_LIMITS if limits is None else limits
        self._limits = {method: _parse(limit) for method, limit in source.items()}
        self._buckets: dict[tuple[str, str], TokenBucket] = {}
        self._lock = threading.Lock()
        self.clock = clock
        self.sleep = sleep

    def _bucket(self, workspace: str | None, method: str) -> TokenBucket | None:
        if workspace is None or method not in self._limits:
            return None
        key = (workspace, method)
        bucket = self._buckets.get(key)
        if bucket is None:
            rate, capacity = self._limits[method]
            bucket = self._buckets[key] = TokenBucket(rate, capacity, self.clock())
        return bucket

    def try_acquire(self, workspace: str | None, method: str) -> float:
        """0.0 when a call may go now (and it is counted), else seconds to wait first."""
        with self._lock:
            bucket = self._bucket(workspace, method)
            return 0.0 if bucket is None else bucket.try_take(self.clock())

    def acquire(self, workspace: str | None, method: str, deadline: float | None = None) -> float:
        """Wait for a call slot; return the seconds waited, or -1.0 if the deadline came first."""
        waited = 0.0
        while True:
            wait = self.try_acquire(workspace, method)
            if wait <= 0.0:
                return waited
            if deadline is not None and self.clock() + wait > deadline:
                return -1.0
            self.sleep(wait)
            waited += wait

    def block(self, workspace: str | None, method: str, seconds: float) -> None:
        """Pause a (workspace, method) for ``seconds`` (a 429's Retry-After)."""
        with self._lock:
            bucket = self._bucket(workspace, method)
            if bucket is not None:
                bucket.block(self.clock(), seconds)
