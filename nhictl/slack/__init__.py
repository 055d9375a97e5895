"""Live Slack validation and revocation on slack_sdk, with per-workspace rate limiting."""

from nhictl.slack.client import ClientStats, RetryPolicy, RevokeResult, SlackClient
from nhictl.slack.errors import SLACK_DEAD_CODES, SlackUnavailableError
from nhictl.slack.ratelimit import DEFAULT_LIMITS, RateLimiter
from nhictl.slack.validator import ValidationItem, validate_many

__all__ = [
    "DEFAULT_LIMITS",
    "SLACK_DEAD_CODES",
    "ClientStats",
    "RateLimiter",
    "RetryPolicy",
    "RevokeResult",
    "SlackClient",
    "SlackUnavailableError",
    "ValidationItem",
    "validate_many",
]
