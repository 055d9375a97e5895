"""slack-integration-logs and slack-directory against the sandbox Slack through nhictl's
Web API client: page paging, the app filter, the newest-date checkpoint, users.info flags."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nhictl.ledgers.base import LedgerContext, Subject
from nhictl.ledgers.directory import DirectoryCollector
from nhictl.ledgers.integration_logs import IntegrationLogCollector
from nhictl.ledgers.runner import collect_ledgers
from nhictl.ledgers.store import get_checkpoint, iter_entries
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.secret import Secret
from nhictl.slack.client import SlackClient
from nhictl.store.engine import Inventory, open_inventory
from tests.ledgers.sandbox_world import ADMIN_TOKEN, APP, DIRECTORY_TOKEN, T0, world

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.fixture
def inv(tmp_path: Path) -> Iterator[Inventory]:
    inventory, _ = open_inventory(str(tmp_path / "inv.db"), create=True)
    yield inventory
    inventory.dispose()


def line(n: int, change: str, app: str = APP, user: str = "U1", **extra: str) -> dict[str, Any]:
    return {"app_id": app, "app_type": "Notifier", "user_id": user, "user_name": "x",
            "date": str(T0 + n), "change_type": change, "scope": "chat:write,channels:read",
            **extra}


def logs_collector(slack: SlackSandbox, page: int = 2) -> IntegrationLogCollector:
    web = SlackClient(slack.url, sleep=lambda s: None)
    return IntegrationLogCollector("ws-logs", web, Secret(ADMIN_TOKEN), app_ids=(APP,),
                                   page_count=page)


def test_pages_filter_and_checkpoint(inv: Inventory) -> None:
    data = world(n_entries=0)
    data["integration_logs"] = {"T1": [line(1, "added"), line(2, "expanded"),
                                       line(3, "added", app="A0OTHER"),
                                       line(4, "disabled", reason="deauth"),
                                       line(5, "removed", user="U2")]}
    scene = World.from_dict(data)
    with SlackSandbox(scene) as slack:
        first = collect_ledgers(inv, [logs_collector(slack)], now=NOW, actor="t", command="t")
        pages = [r.params.get("page") for r in slack.requests
                 if r.method == "team.integrationLogs"]
        slack.clear()
        scene.add_integration_log("T1", line(9, "updated"))
        second = collect_ledgers(inv, [logs_collector(slack)], now=NOW, actor="t", command="t")
        again = [r.params.get("page") for r in slack.requests
                 if r.method == "team.integrationLogs"]
    assert first.complete and pages == ["1", "2"]  # 4 lines of the app, 2 per page
    # 5 lines, 3 pages now: the second page reaches below the checkpoint, the third is
    # never asked for; the line at the checkpoint second comes again and is dropped by id.
    assert second.collectors[0].new == 1 and again == ["1", "2"]
    with inv.engine.connect() as conn:
        actions = [(e.action, e.user_id, e.details.get("reason")) for e in iter_entries(conn)]
        assert get_checkpoint(conn, "ws-logs") == str(T0 + 9)
    assert actions == [("app_installed", "U1", None), ("app_scopes_expanded", "U1", None),
                       ("app_disabled", "U1", "deauth"), ("app_uninstalled", "U2", None),
                       ("app_updated", "U1", None)]
    with inv.engine.connect() as conn:
        (installed, *_rest) = iter_entries(conn)
    assert installed.scopes == ("channels:read", "chat:write")
    assert installed.workspace_id == "T1" and installed.id.startswith("ws-logs:")


def test_a_token_without_admin_is_partial_with_a_hint(inv: Inventory) -> None:
    data = world(n_entries=0)
    data["tokens"][1]["scopes"] = ["users:read"]
    with SlackSandbox(World.from_dict(data)) as slack:
        report = collect_ledgers(inv, [logs_collector(slack)], now=NOW, actor="t", command="t")
    outcome = report.collectors[0]
    assert not outcome.complete and outcome.hint and "admin" in outcome.hint


def test_directory_records_users_info_flags_in_place(inv: Inventory) -> None:
    scene = World.from_dict(world(n_entries=0))
    web = SlackClient("http://127.0.0.1:1/api/", sleep=lambda s: None)
    people = (Subject("T1", "U1"), Subject("T1", "U2"), Subject("T1", "U3"),
              Subject("T1", "UNOBODY"), Subject("T9", "U1"))
    with SlackSandbox(scene) as slack:
        web = SlackClient(slack.url, sleep=lambda s: None)
        collector = DirectoryCollector("directory", web, Secret(DIRECTORY_TOKEN))
        pages = list(collector.collect(LedgerContext(subjects=people, now="2026-11-29T12:00:00Z")))
        looked_up = sorted(r.params["user"] for r in slack.requests if r.method == "users.info")
    entries = {e.user_id: e for p in pages for e in p.entries}
    assert looked_up == ["U1", "U2", "U3", "UNOBODY"]  # T9 is not this token's workspace
    assert entries["U2"].details == {"deleted": True, "is_restricted": False,
                                     "is_ultra_restricted": False, "is_bot": False,
                                     "call": "users.info"}
    assert entries["U3"].details["is_restricted"] is True
    assert entries["U1"].id == "directory:users.info:T1:U1"
    assert sum(p.skipped for p in pages) == 2 and pages[-1].position is not None
