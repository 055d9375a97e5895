"""Time in one place: UTC, ISO 8601 text with a Z, injectable for tests and reproducible runs."""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """Now, or the instant in ``NHICTL_NOW`` (ISO 8601) for reproducible runs and tests."""
    fixed = os.environ.get("NHICTL_NOW")
    if fixed:
        return parse_time(fixed)
    return datetime.now(UTC)


def parse_time(text: str) -> datetime:
    """Parse ISO 8601 (``Z`` or offset; a date alone means midnight UTC). Raises ValueError."""
    value = text.strip()
    if value.endswith(("Z", "z")):
        value = value[:-1] + "+00:00"
    parsed = datetime.fromisoformat(value)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:  # e.g. 0001-01-01T00:00:00+01:00: before datetime.min in UTC
        raise ValueError(f"{text[:40]!r} is out of range") from None


def iso(moment: datetime) -> str:
    """The canonical stored form: ``2026-11-29T19:41:14Z`` (second precision, UTC)."""
    utc = moment.astimezone(UTC)
    # strftime("%Y") does not pad years before 1000, which would not parse back.
    return f"{utc.year:04d}-{utc:%m-%dT%H:%M:%S}Z"


def parse_since(text: str, now: datetime) -> datetime:
    """``--since`` values: an ISO date/time, or a relative age like ``7d``, ``12h``, ``30m``."""
    value = text.strip().lower()
    units = {"d": "days", "h": "hours", "m": "minutes", "w": "weeks"}
    if value and value[-1] in units and value[:-1].isdigit():
        try:
            return now - timedelta(**{units[value[-1]]: int(value[:-1])})
        except (OverflowError, ValueError):  # 99999999d: before year 1
            raise ValueError(f"{text[:40]!r} is out of range") from None
    return parse_time(text)


def age_days(then: str | None, now: datetime) -> float | None:
    """Days between a stored timestamp and now, or None when there is no timestamp."""
    if not then:
        return None
    return (now - parse_time(then)).total_seconds() / 86400.0
