"""Issue 10.5: a source not reconciled within the policy window is reported, and
`nhictl sources forget NAME` retires its bindings with events."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Cli, write_export
from tests.engines import InventoryDb

LATER = "2026-12-19T12:00:00Z"  # 20 days after the fixture's NOW


def _export(tmp_path: Path, name: str = "old.json") -> Path:
    return write_export(tmp_path / name, [
        {"id": f"c{i}", "owner_email": f"u{i}@acme.example", "tenant": "acme",
         "access_token": f"xoxp-fake-{secrets.token_hex(8)}"} for i in (1, 2)])


def _sources(cli: Cli) -> dict[str, dict[str, Any]]:
    result = cli("sources", "list", "-o", "json")
    assert result.code == 0, result
    return {r["name"]: r for r in result.json()["sources"]}


def _statuses(cli: Cli) -> dict[str, str]:
    rows = cli("inventory", "list", "-o", "json").json()["bindings"]
    return {r["id"]: r["status"] for r in rows}


def test_stale_source_is_reported_then_forgotten(cli: Cli, initialized: Path, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    path = _export(tmp_path)
    assert cli("reconcile", "--no-validate", "-s", "file:old.json").code == 0
    name = "file:" + os.path.realpath(path)
    fresh = _sources(cli)[name]
    assert fresh["configured"] is False and fresh["live_bindings"] == 2
    assert fresh["last_reconciled_at"] == "2026-11-29T12:00:00Z" and fresh["stale"] is False
    assert "source_stale" not in [f["rule_id"] for f in cli("check", "-o", "json").json()
                                  ["findings"]]

    monkeypatch.setenv("NHICTL_NOW", LATER)
    stale = _sources(cli)[name]
    assert stale["stale"] is True
    assert stale["last_reconciled"] == "2026-11-29, 2 live, stale 20d"
    monkeypatch.setenv("COLUMNS", "250")
    table = cli("sources", "list")
    assert "RECONCILED" in table.out and "2026-11-29, 2 live, stale 20d" in table.out
    found = [f for f in cli("check", "-o", "json").json()["findings"]
             if f["rule_id"] == "source_stale"]
    assert len(found) == 2 and found[0]["severity"] == "medium"
    evidence = found[0]["evidence"]
    assert evidence["source"] == name and evidence["age_days"] == 20
    assert evidence["source_stale_after_days"] == 14
    assert found[0]["frameworks"]["owasp_nhi"] == ["NHI1:2025"]
    assert f"nhictl sources forget {name}" in evidence["commands"]

    before = _statuses(cli)
    plan = cli("sources", "forget", "file:./old.json")  # any spelling of the place
    assert plan.code == 0, plan
    assert "would become removed" in plan.err and "--yes" in plan.err
    assert all(bid in plan.out for bid in before)
    assert _statuses(cli) == before  # a plan changes nothing

    done = cli("sources", "forget", name, "--yes", "--reason", "export retired")
    assert done.code == 0, done
    assert set(_statuses(cli).values()) == {"removed"}
    events = [e for e in cli("events", "--type", "removed", "-o", "json").json()["events"]]
    assert len(events) == 2
    assert {e["details"]["reason"] for e in events} == {"source forgotten"}
    assert {e["details"]["operator_reason"] for e in events} == {"export retired"}
    shown = cli("inventory", "show", next(iter(before)), "-o", "json").json()["binding"]
    assert "forgotten" in shown["status_reason"]
    assert "source_stale" not in [f["rule_id"] for f in cli("check", "-o", "json").json()
                                  ["findings"]]
    assert _sources(cli)[name]["live_bindings"] == 0

    # A source that comes back is read again: its bindings reappear.
    again = cli("reconcile", "--no-validate", "-s", "file:old.json")
    assert again.code == 0, again
    assert "removed" not in set(_statuses(cli).values())


def test_policy_window_is_configurable(cli: Cli, initialized: Path, tmp_path: Path,
                                       monkeypatch: pytest.MonkeyPatch) -> None:
    _export(tmp_path)
    assert cli("reconcile", "--no-validate", "-s", "file:old.json").code == 0
    (tmp_path / "nhictl.toml").write_text("[policy]\nsource_stale_after_days = 30\n")
    monkeypatch.setenv("NHICTL_NOW", LATER)
    rules = [f["rule_id"] for f in cli("check", "-o", "json").json()["findings"]]
    assert "source_stale" not in rules
    (tmp_path / "nhictl.toml").write_text("[policy]\nsource_stale_after_days = -1\n")
    assert cli("check").code == 3


def test_forget_refuses_a_configured_source_unless_forced(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    _export(tmp_path)
    (tmp_path / "nhictl.toml").write_text(
        '[[sources]]\nname = "export"\nkind = "file"\npath = "old.json"\n')
    assert cli("reconcile", "--no-validate").code == 0
    before = _statuses(cli)
    refused = cli("sources", "forget", "export", "--yes")
    assert refused.code == 3, refused
    assert "still listed" in refused.err and "nhictl.toml" in refused.err
    assert "--force" in refused.err
    assert _statuses(cli) == before
    forced = cli("sources", "forget", "export", "--yes", "--force")
    assert forced.code == 0, forced
    assert set(_statuses(cli).values()) == {"removed"}


def test_forget_an_unknown_source_names_the_known_ones(cli: Cli, initialized: Path,
                                                       tmp_path: Path) -> None:
    _export(tmp_path)
    assert cli("reconcile", "--no-validate", "-s", "file:old.json").code == 0
    result = cli("sources", "forget", "nope", "--yes")
    assert result.code == 2
    assert "nope" in result.err and "old.json" in result.err


def test_duplicates_left_by_an_older_nhictl_go_stale_and_are_forgotten_by_exact_name(
    cli: Cli, initialized: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    inventory_db: InventoryDb,
) -> None:
    """An older nhictl recorded one file under two spellings. The name with the most live
    bindings is kept by later reconciles; the other goes stale and is retired by name."""
    from nhictl.clock import parse_time
    from nhictl.reconcile import reconcile
    from nhictl.sources.export_file import ExportFileSource
    from nhictl.store.engine import open_inventory

    path = _export(tmp_path)
    inv, _ = open_inventory(inventory_db.url)
    try:
        for old_name in ("file:old.json", f"file:{path}"):
            reconcile(inv, [(ExportFileSource(old_name, path), f"file:{path}")],
                      clock=lambda: parse_time("2026-11-28T12:00:00Z"), actor="old",
                      command="old")
    finally:
        inv.dispose()
    ambiguous = cli("sources", "forget", "file:./old.json")
    assert ambiguous.code == 2, ambiguous
    assert "file:old.json" in ambiguous.err and f"file:{path}" in ambiguous.err
    assert "token_shared" not in [f["rule_id"] for f in cli("check", "-o", "json").json()
                                  ["findings"]]  # they agree: corroborating, not shared

    monkeypatch.setenv("NHICTL_NOW", LATER)
    assert cli("reconcile", "--no-validate", "-s", "file:old.json").code == 0
    kept, left = f"file:{path}", "file:old.json"  # tie on live count: the oldest, by name
    listed = _sources(cli)
    assert listed[kept]["stale"] is False and listed[left]["stale"] is True
    stale = {f["evidence"]["source"] for f in cli("check", "-o", "json").json()["findings"]
             if f["rule_id"] == "source_stale"}
    assert stale == {left}
    assert cli("sources", "forget", left, "--yes").code == 0
    assert _sources(cli)[left]["live_bindings"] == 0
    assert _sources(cli)[kept]["live_bindings"] == 2
