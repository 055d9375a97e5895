"""Timestamps: one stored form that always parses back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from nhictl.clock import age_days, iso, parse_since, parse_time


def test_iso_round_trips_including_early_years() -> None:
    for text in ("2026-11-29T19:41:14Z", "0999-01-01T00:00:00Z", "0001-01-02T00:00:00Z"):
        assert iso(parse_time(text)) == text


def test_offsets_and_dates_become_utc() -> None:
    assert iso(parse_time("2026-11-29T21:00:00+02:00")) == "2026-11-29T19:00:00Z"
    assert iso(parse_time("2026-11-29")) == "2026-11-29T00:00:00Z"


def test_out_of_range_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_time("0001-01-01T00:00:00+01:00")


def test_since_accepts_ages() -> None:
    now = datetime(2026, 11, 29, tzinfo=UTC)
    assert parse_since("7d", now) == now - timedelta(days=7)
    assert parse_since("12h", now) == now - timedelta(hours=12)
    assert age_days("2026-11-28T00:00:00Z", now) == 1.0
    assert age_days(None, now) is None
