"""validate_many: concurrency-independent results, tight limits, deadline, progress; the limiter."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import pytest

from nhictl.models import ValidationResult
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.secret import Secret
from nhictl.slack import ClientStats, RateLimiter, SlackClient, ValidationItem

NOW = datetime(2026, 11, 29, 12, 0, 0, tzinfo=UTC)


def mixed_world(teams: int = 4, per_team: int = 10, **extra: Any) -> tuple[World, list[Any]]:
    tokens: list[dict[str, Any]] = []
    users: list[dict[str, Any]] = []
    states = ["active", "active", "active", "revoked", "expired", "invalid", "active"]
    for t in range(teams):
        for i in range(per_team):
            uid = f"U{t}{i:03d}"
            users.append({"id": uid, "team_id": f"T{t}", "name": uid, "deleted": i % 4 == 3})
            tokens.append(
                {
                    "token": "xoxp-fake" + secrets.token_hex(8),
                    "team_id": f"T{t}",
                    "user_id": uid,
                    "kind": "user",
                    "scopes": ["chat:write", "users:read"] if i % 2 else ["chat:write"],
                    "state": states[(t + i) % len(states)],
                    "dead_when_user_deleted": i % 8 != 7,
                }
            )
    world = World.from_dict(
        {
            "teams": [{"id": f"T{t}", "name": f"Team {t}"} for t in range(teams)],
            "users": users,
            "tokens": tokens,
            **extra,
        }
    )
    items = [
        ValidationItem(f"b-{n:04d}", Secret(tok["token"]), tok["team_id"])
        for n, tok in enumerate(tokens)
    ]
    return world, items


def test_results_identical_whatever_the_concurrency() -> None:
    world, items = mixed_world()
    with SlackSandbox(world) as slack:
        runs = {}
        for workers in (1, 8):
            client = SlackClient(slack.url, now=lambda: NOW)
            runs[workers] = client.validate_many(items, concurrency=workers)
    assert runs[1] == runs[8]
    assert list(runs[8]) == [item.key for item in items]
    outcomes = {r.outcome for r in runs[1].values()}
    assert outcomes == {"ok", "dead"}
    assert any(r.slack_user_deleted for r in runs[1].values())


def test_tight_rate_limit_completes_with_few_429s() -> None:
    # Server: 20 auth.test/s per team with a burst of 2; client allows a burst of 4, so the
    # first calls overshoot, get 429 (Retry-After 0 here), and the bucket re-paces.
    world, items = mixed_world(
        teams=3,
        per_team=8,
        rate_limits={"auth.test": {"per_minute": 1200, "burst": 2}},
        retry_after=0,
    )
    with SlackSandbox(world) as slack:
        client = SlackClient(slack.url, rate_limits={"auth.test": (1200, 4)}, now=lambda: NOW)
        results = client.validate_many(items, concurrency=8)
        served_429 = sum(1 for r in slack.requests if r.status == 429)
    assert len(results) == len(items)
    assert all(r.outcome in {"ok", "dead"} for r in results.values())
    stats = client.stats
    assert stats.http_429 == served_429
    assert 0 < stats.http_429 <= 3 * 6  # bounded: the overshoot only, not a storm
    assert (stats.done, stats.total, stats.inconclusive) == (len(items), len(items), 0)


def test_client_limit_under_the_server_limit_gives_no_429() -> None:
    world, items = mixed_world(
        teams=2, per_team=6, rate_limits={"auth.test": {"per_minute": 1200, "burst": 2}}
    )
    with SlackSandbox(world) as slack:
        client = SlackClient(slack.url, rate_limits={"auth.test": (900, 1)}, now=lambda: NOW)
        results = client.validate_many(items, concurrency=6)
    assert all(r.outcome != "inconclusive" for r in results.values())
    assert client.stats.http_429 == 0
    assert client.stats.rate_limit_wait_s > 0


def test_deadline_already_passed_makes_everything_inconclusive() -> None:
    world, items = mixed_world(teams=1, per_team=5)
    with SlackSandbox(world) as slack:
        client = SlackClient(slack.url)
        results = client.validate_many(items, deadline_s=0)
        assert slack.count() == 0
    assert {r.outcome for r in results.values()} == {"inconclusive"}
    assert {r.detail for r in results.values()} == {"run deadline reached"}


def test_progress_callback_and_unique_keys() -> None:
    world, items = mixed_world(teams=2, per_team=3)
    seen: list[tuple[str, ValidationResult, ClientStats]] = []
    with SlackSandbox(world) as slack:
        client = SlackClient(slack.url)
        client.validate_many(items, concurrency=3, on_progress=lambda *a: seen.append(a))
        with pytest.raises(ValueError):
            client.validate_many([items[0], items[0]])
    assert sorted(k for k, _, _ in seen) == sorted(i.key for i in items)
    assert max(s.done for _, _, s in seen) == len(items)
    assert all(s.calls >= 1 for _, _, s in seen)


class FakeTime:
    def __init__(self) -> None:
        self.now = 0.0

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_token_bucket_burst_refill_block_and_deadline() -> None:
    t = FakeTime()
    limiter = RateLimiter({"auth.test": (60, 2)}, clock=lambda: t.now, sleep=t.sleep)
    assert limiter.try_acquire("T1", "auth.test") == 0.0
    assert limiter.try_acquire("T1", "auth.test") == 0.0
    assert limiter.try_acquire("T1", "auth.test") == pytest.approx(1.0)
    assert limiter.try_acquire("T2", "auth.test") == 0.0  # per workspace
    assert limiter.try_acquire("T1", "users.info") == 0.0  # no limit configured
    assert limiter.try_acquire(None, "auth.test") == 0.0  # unknown workspace
    assert limiter.acquire("T1", "auth.test") == pytest.approx(1.0)
    limiter.block("T1", "auth.test", 5)
    assert limiter.try_acquire("T1", "auth.test") == pytest.approx(5.0)
    assert limiter.acquire("T1", "auth.test", deadline=t.now + 2) == -1.0
    assert limiter.acquire("T1", "auth.test") == pytest.approx(6.0)  # block, then one refill


def test_default_limits_follow_slack_tiers() -> None:
    t = FakeTime()
    limiter = RateLimiter(clock=lambda: t.now, sleep=t.sleep)
    calls = 0
    while limiter.try_acquire("T1", "users.info") == 0.0:
        calls += 1
    assert calls == 5  # tier 4: 100/min, a 3-second burst
    t.now += 60
    assert limiter.acquire("T1", "users.info") == 0.0
