"""slack-audit against the sandbox through slack_sdk's real AuditLogsClient: cursor paging,
the oldest checkpoint (a cron run reads only new entries), a 429 and a cursor that expires
mid-way (resumes; nothing lost, nothing duplicated)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from nhictl.ledgers.runner import collect_ledgers
from nhictl.ledgers.store import get_checkpoint, iter_entries
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.slack.ratelimit import RateLimiter
from nhictl.store.engine import Inventory, open_inventory
from tests.ledgers.sandbox_world import AUDIT_TOKEN, T0, audit_collector, audit_entry, world

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.fixture
def inv(tmp_path: Path) -> Iterator[Inventory]:
    inventory, _ = open_inventory(str(tmp_path / "inv.db"), create=True)
    yield inventory
    inventory.dispose()


def run(inv: Inventory, slack: SlackSandbox, sleeps: list[float], **kw: object) -> object:
    return collect_ledgers(inv, [audit_collector(slack, sleeps, **kw)],  # type: ignore[arg-type]
                           now=NOW, actor="t", command="test")


def stored_ids(inv: Inventory) -> list[str]:
    with inv.engine.connect() as conn:
        return [e.id for e in iter_entries(conn)]


def audit_calls(slack: SlackSandbox) -> list[dict[str, object]]:
    return [r.params for r in slack.requests if r.method == "audit/v1/logs"]


def test_pages_are_read_and_normalized(inv: Inventory) -> None:
    with SlackSandbox(World.from_dict(world())) as slack:
        report = run(inv, slack, [])
    assert report.complete  # type: ignore[attr-defined]
    with inv.engine.connect() as conn:
        entries = list(iter_entries(conn))
    assert len(entries) == 7 and len(audit_calls(slack)) == 3  # 3 + 3 + 1 per page
    first = entries[0]
    assert first.id == "org-audit:00000001-aaaa-bbbb-cccc-000000000001"
    assert (first.action, first.app_id, first.workspace_id, first.user_id, first.actor_id,
            first.scopes) == ("app_installed", "A0APP1", "T1", "U1", "U1", ("chat:write",))
    assert first.at == datetime.fromtimestamp(T0 + 1, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert "ip_address" not in str(first.details) and "email" not in str(first.details)
    # Every request carried the token only in the Authorization header.
    assert all("token" not in p for p in audit_calls(slack))
    assert slack.count("audit/v1/logs", token=AUDIT_TOKEN) == 3


def test_a_cron_run_reads_only_new_entries(inv: Inventory) -> None:
    scenario = World.from_dict(world())
    with SlackSandbox(scenario) as slack:
        run(inv, slack, [])
        with inv.engine.connect() as conn:
            assert get_checkpoint(conn, "org-audit") == str(T0 + 7)
        slack.clear()
        scenario.add_audit_entry(audit_entry(8, "app_uninstalled", user="U1"))
        scenario.add_audit_entry(audit_entry(9, "user_deactivated", app=None, user="U2"))
        report = run(inv, slack, [])
        calls = audit_calls(slack)
    assert [c.get("oldest") for c in calls] == [str(T0 + 7)]  # one page: only what is new
    assert report.collectors[0].new == 2  # type: ignore[attr-defined]
    ids = stored_ids(inv)
    assert len(ids) == 9 == len(set(ids))
    with inv.engine.connect() as conn:
        (gone,) = iter_entries(conn, actions=["user_deactivated"])
        assert get_checkpoint(conn, "org-audit") == str(T0 + 9)
    assert (gone.user_id, gone.app_id, gone.actor_id) == ("U2", None, "U1")


def test_a_429_is_waited_out_and_nothing_is_lost(inv: Inventory) -> None:
    data = world()
    data["faults"] = [{"method": "audit/v1/logs", "kind": "429", "retry_after": 0,
                       "with_arg": "cursor", "times": 2}]
    sleeps: list[float] = []
    with SlackSandbox(World.from_dict(data)) as slack:
        report = run(inv, slack, sleeps)
    assert report.complete  # type: ignore[attr-defined]
    assert sleeps == [0.0, 0.0]  # Retry-After honoured on the injected sleep, not real time
    assert [r.status for r in slack.requests].count(429) == 2
    assert len(stored_ids(inv)) == 7


def test_a_429_beyond_the_budget_is_partial_and_keeps_the_checkpoint(inv: Inventory) -> None:
    data = world()
    data["faults"] = [{"method": "audit/v1/logs", "kind": "429", "retry_after": 0,
                       "with_arg": "cursor", "times": 50}]
    with SlackSandbox(World.from_dict(data)) as slack:
        report = run(inv, slack, [])
    outcome = report.collectors[0]  # type: ignore[attr-defined]
    assert not outcome.complete and "rate limited" in outcome.error
    assert report.exit_code == 4  # type: ignore[attr-defined]
    assert len(stored_ids(inv)) == 3  # the first page is kept
    with inv.engine.connect() as conn:
        assert get_checkpoint(conn, "org-audit") is None  # the next run reads it all again


def test_an_expiring_cursor_resumes_without_loss_or_duplicates(inv: Inventory) -> None:
    data = world(n_entries=10)
    # Two entries in the same second straddle the page boundary where the cursor expires.
    data["audit_log"][6]["date_create"] = data["audit_log"][7]["date_create"]
    data["faults"] = [{"method": "audit/v1/logs", "kind": "error", "error": "invalid_cursor",
                       "with_arg": "cursor", "times": 1}]
    with SlackSandbox(World.from_dict(data)) as slack:
        report = run(inv, slack, [])
        calls = audit_calls(slack)
    assert report.complete  # type: ignore[attr-defined]
    ids = stored_ids(inv)
    assert len(ids) == 10 == len(set(ids))
    # The restart carries no cursor and latest = the oldest second read before it expired.
    restart = calls[2]
    assert "cursor" not in restart and restart["latest"] == str(T0 + 8)


def test_app_ids_filter_and_other_actions_are_skipped(inv: Inventory) -> None:
    data = world(n_entries=2)
    data["audit_log"] += [audit_entry(3, "app_installed", app="A0OTHER"),
                          {**audit_entry(4, "user_login", app=None)},
                          audit_entry(5, "guest_deactivated", app=None, user="U3")]
    with SlackSandbox(World.from_dict(data)) as slack:
        report = run(inv, slack, [], app_ids=("A0APP1",))
    with inv.engine.connect() as conn:
        actions = [(e.action, e.app_id) for e in iter_entries(conn)]
    assert actions == [("app_installed", "A0APP1"), ("app_installed", "A0APP1"),
                       ("user_deactivated", None)]
    assert report.collectors[0].skipped == 2  # type: ignore[attr-defined]


def test_a_token_without_auditlogs_read_is_a_partial_run_with_a_hint(inv: Inventory) -> None:
    data = world()
    data["tokens"][0]["scopes"] = ["users:read"]
    with SlackSandbox(World.from_dict(data)) as slack:
        report = run(inv, slack, [])
    outcome = report.collectors[0]  # type: ignore[attr-defined]
    assert outcome.error.endswith("missing_scope") and "auditlogs:read" in outcome.hint


def test_calls_are_paced_to_tier_3_on_the_injected_clock(inv: Inventory) -> None:
    clock = [0.0]
    waits: list[float] = []

    def sleep(seconds: float) -> None:
        waits.append(seconds)
        clock[0] += seconds

    with SlackSandbox(World.from_dict(world(n_entries=12))) as slack:
        collector = audit_collector(slack, [])
        collector.limiter = RateLimiter({"audit/v1/logs": (60, 2)}, clock=lambda: clock[0],
                                        sleep=sleep)
        report = collect_ledgers(inv, [collector], now=NOW, actor="t", command="t")
    assert report.complete and len(audit_calls(slack)) == 4
    assert [round(w, 3) for w in waits] == [1.0, 1.0]  # a burst of 2, then one a second


def test_strange_entries_are_skipped_not_believed(inv: Inventory) -> None:
    data = world(n_entries=1)
    data["audit_log"] += [{**audit_entry(2, "app_installed"), "date_create": 10**20},
                          {**audit_entry(3, "app_installed"), "id": {"not": "an id"}},
                          {**audit_entry(4, "app_installed"), "date_create": True},
                          {**audit_entry(5, "app_installed"), "entity": "app"}]
    with SlackSandbox(World.from_dict(data)) as slack:
        report = run(inv, slack, [], page=10)
    assert report.complete  # type: ignore[attr-defined]
    with inv.engine.connect() as conn:
        kept = [(e.id[-2:], e.app_id) for e in iter_entries(conn)]
    assert kept == [("01", "A0APP1"), ("05", None)]
