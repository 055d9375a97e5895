"""The reconciler's Validator, on top of the Slack client (nhictl.slack)."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from nhictl.models import ValidationResult
from nhictl.net import HttpPolicy
from nhictl.secret import Secret


class SlackValidator:
    """Adapts :class:`nhictl.slack.SlackClient` to :class:`nhictl.reconcile.Validator`."""

    def __init__(
        self,
        api_url: str,
        *,
        concurrency: int = 16,
        deadline_s: float | None = None,
        rate_limits: Mapping[str, float] | None = None,
        http: HttpPolicy | None = None,
    ) -> None:
        from nhictl.slack import DEFAULT_LIMITS, SlackClient

        self.http = http or HttpPolicy()
        limits = {**DEFAULT_LIMITS, **rate_limits} if rate_limits else None
        self.client = SlackClient(api_url, rate_limits=limits,  # type: ignore[arg-type]
                                  limits=self.http.limits,
                                  allow_insecure_http=self.http.allow_insecure_http)
        self.concurrency = concurrency
        self.deadline_s = deadline_s

    def validate_all(
        self,
        items: Sequence[tuple[str, Secret, str | None, str | None]],
        on_progress: Callable[[int, int], None] | None = None,
    ) -> dict[str, ValidationResult]:
        total = len(items)

        def progress(_key: str, _result: ValidationResult, stats: Any) -> None:
            if on_progress is not None:
                on_progress(int(stats.done), total)

        deadline_s = self.deadline_s
        left = self.http.remaining()  # what the run's deadline leaves after reading sources
        if left is not None:
            deadline_s = left if deadline_s is None else min(deadline_s, left)
        return self.client.validate_many(items, concurrency=self.concurrency,
                                         deadline_s=deadline_s, on_progress=progress)

    def stats(self) -> dict[str, Any]:
        snap = self.client.stats.snapshot()
        return {"slack calls": snap.calls, "429s": snap.http_429, "retries": snap.retries,
                "rate-limit waits": snap.rate_limit_waits}


def make_validator(
    api_url: str,
    *,
    concurrency: int = 16,
    deadline_s: float | None = None,
    rate_limits: Mapping[str, float] | None = None,
    http: HttpPolicy | None = None,
) -> SlackValidator:
    return SlackValidator(api_url, concurrency=concurrency, deadline_s=deadline_s,
                          rate_limits=rate_limits, http=http)
