"""Issue 10.5: one connection, one binding, however the source is spelled.

End to end through the real CLI: ad-hoc file specs resolve to the real path they read, an
inventory written under an older spelling keeps its binding ids, two configured sources on one
place are a config error, and one token seen through two agreeing sources corroborates instead
of raising a false critical `token_shared`.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.clock import parse_time
from nhictl.models import binding_id
from nhictl.reconcile import reconcile
from nhictl.sources.export_file import ExportFileSource
from nhictl.store.engine import open_inventory
from tests.conftest import Cli, write_export
from tests.engines import InventoryDb


def _records(n: int = 3, **extra: Any) -> list[dict[str, Any]]:
    return [{"id": f"c{i}", "owner_id": f"u{i}", "owner_email": f"user{i}@acme.example",
             "tenant": "acme", "team_id": "T1", "slack_user_id": f"U{i}",
             "access_token": f"xoxp-fake-{secrets.token_hex(8)}", **extra}
            for i in range(1, n + 1)]


def _bindings(cli: Cli) -> list[dict[str, Any]]:
    result = cli("inventory", "list", "-o", "json")
    assert result.code == 0, result
    rows: list[dict[str, Any]] = result.json()["bindings"]
    return rows


def _rules(cli: Cli) -> list[str]:
    result = cli("check", "-o", "json")
    assert result.code in (0, 1), result
    return [f["rule_id"] for f in result.json()["findings"]]


def test_three_spellings_give_one_binding_per_connection(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    records = _records()
    write_export(tmp_path / "x.json", records)
    (tmp_path / "sub").mkdir()
    os.symlink(tmp_path / "x.json", tmp_path / "sub" / "link.json")
    for spelling in ("x.json", "./x.json", str(tmp_path / "x.json"), "sub/../x.json",
                     "sub/link.json"):
        result = cli("reconcile", "--no-validate", "--source", f"file:{spelling}")
        assert result.code == 0, result
    rows = _bindings(cli)
    assert sorted(r["connection_id"] for r in rows) == ["c1", "c2", "c3"]
    assert {r["source"] for r in rows} == {"file:" + os.path.realpath(tmp_path / "x.json")}
    assert {r["status"] for r in rows} == {"unvalidated"}  # nothing swept as removed
    assert "token_shared" not in _rules(cli)


@pytest.mark.engine_neutral("config validation and file reads")
def test_spellings_in_one_run_read_the_file_once(cli: Cli, initialized: Path,
                                                 tmp_path: Path) -> None:
    write_export(tmp_path / "x.json", _records())
    result = cli("reconcile", "--no-validate", "-o", "json", "-s", "file:x.json",
                 "-s", "file:./x.json", "-s", f"file:{tmp_path}/x.json")
    assert result.code == 0, result
    report = result.json()
    assert len(report["sources"]) == 1 and report["counts"]["seen"] == 3
    assert len(_bindings(cli)) == 3


def test_an_older_inventory_keeps_its_binding_ids(cli: Cli, initialized: Path,
                                                  tmp_path: Path,
                                                  inventory_db: InventoryDb) -> None:
    """Bindings an older nhictl recorded under the spelling ``file:x.json`` (with the absolute
    path as source_spec) keep their ids when the same file is reconciled by any spelling."""
    path = write_export(tmp_path / "x.json", _records())
    inv, _ = open_inventory(inventory_db.url)
    try:
        reconcile(inv, [(ExportFileSource("file:x.json", path), f"file:{path}")],
                  clock=lambda: parse_time("2026-11-28T12:00:00Z"), actor="old", command="old")
    finally:
        inv.dispose()
    old_ids = {binding_id("file:x.json", f"c{i}") for i in (1, 2, 3)}
    assert {r["id"] for r in _bindings(cli)} == old_ids
    for spelling in (str(path), "./x.json"):
        assert cli("reconcile", "--no-validate", "-s", f"file:{spelling}").code == 0
    rows = _bindings(cli)
    assert {r["id"] for r in rows} == old_ids
    assert {r["source"] for r in rows} == {"file:x.json"}
    assert {r["status"] for r in rows} == {"unvalidated"}


@pytest.mark.engine_neutral("config validation and file reads")
def test_two_configured_sources_on_one_place_are_a_config_error(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    write_export(tmp_path / "x.json", _records())
    (tmp_path / "nhictl.toml").write_text(
        '[[sources]]\nname = "export"\nkind = "file"\npath = "x.json"\n\n'
        '[[sources]]\nname = "export-again"\nkind = "file"\npath = "./sub/../x.json"\n')
    result = cli("reconcile", "--no-validate")
    assert result.code == 3, result
    assert "'export'" in result.err and "export-again" in result.err
    assert "same place" in result.err
    assert cli("sources", "list").code == 3


def test_a_spec_for_a_configured_place_is_that_source(cli: Cli, initialized: Path,
                                                      tmp_path: Path) -> None:
    write_export(tmp_path / "x.json", _records())
    (tmp_path / "nhictl.toml").write_text(
        '[[sources]]\nname = "export"\nkind = "file"\npath = "x.json"\n')
    assert cli("reconcile", "--no-validate").code == 0
    assert cli("reconcile", "--no-validate", "-s", f"file:{tmp_path}/x.json").code == 0
    rows = _bindings(cli)
    assert len(rows) == 3 and {r["source"] for r in rows} == {"export"}


def test_agreeing_sources_corroborate_and_disagreeing_ones_share(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    records = _records(2)
    write_export(tmp_path / "app.json", records)
    write_export(tmp_path / "store.json",  # another holder of the same tokens, same owners
                 [{k: v for k, v in r.items() if k != "owner_email"} for r in records])
    for name in ("app.json", "store.json"):
        assert cli("reconcile", "--no-validate", "-s", f"file:{name}").code == 0
    rows = _bindings(cli)
    assert len(rows) == 4
    assert "token_shared" not in _rules(cli)
    mine = next(r for r in rows if r["connection_id"] == "c1" and r["source"].endswith("app.json"))
    other = next(r for r in rows if r["connection_id"] == "c1" and r["source"] != mine["source"])
    assert [s["binding_id"] for s in mine["corroborated_by"]] == [other["id"]]
    shown = cli("inventory", "show", mine["id"], "-o", "json").json()["binding"]
    assert shown["corroborated_by"][0]["source"] == other["source"]
    table = cli("inventory", "show", mine["id"])
    assert "corroborated by (1)" in table.out and other["id"] in table.out

    # The second holder files the token under someone else: now it is shared.
    moved = [dict(r, owner_id="u-mallory") if r["id"] == "c1" else r for r in records]
    write_export(tmp_path / "store.json", moved)
    assert cli("reconcile", "--no-validate", "-s", "file:store.json").code == 0
    result = cli("check", "-o", "json", "--rule", "token_shared")
    findings = result.json()["findings"]
    assert sorted(f["binding_id"] for f in findings) == sorted([mine["id"], other["id"]])
    assert findings[0]["evidence"]["differs"] == {"owner_id": ["u-mallory", "u1"]}
    after = {r["id"]: r for r in _bindings(cli)}
    assert after[mine["id"]]["corroborated_by"] == []  # shared is not corroboration


def test_a_slack_sdk_store_under_two_spellings_is_one_source(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    """``slack-store:sqlite:`` and ``slack-store:dir:`` specs are identified by real path too."""
    from tests.sources.test_slack_store import build

    for kind in ("sqlite", "dir"):
        (tmp_path / kind).mkdir()
        built = build(kind, tmp_path / kind)
        scheme, _, location = built.store.partition(":")
        relative = os.path.relpath(location, tmp_path)
        for spelling in (location, relative, "./" + relative):
            result = cli("reconcile", "--no-validate", "-s",
                         f"slack-store:{scheme}:{spelling}")
            assert result.code == 0, result
    rows = _bindings(cli)
    by_source: dict[str, list[str]] = {}
    for r in rows:
        by_source.setdefault(r["source"], []).append(r["connection_id"])
    assert len(by_source) == 2, by_source  # one source per store, not one per spelling
    for ids in by_source.values():
        assert len(ids) == len(set(ids))
    assert "token_shared" not in _rules(cli)


def test_usage_lines_may_name_an_ad_hoc_source_by_any_spelling(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    import json

    write_export(tmp_path / "x.json", _records(1))
    assert cli("reconcile", "--no-validate", "-s", "file:x.json").code == 0
    usage = tmp_path / "usage.jsonl"
    usage.write_text(json.dumps({"time": "2026-11-28T10:00:00Z", "connection_id": "c1",
                                 "source": "file:./x.json", "action": "message_posted"}) + "\n")
    result = cli("usage", "ingest", str(usage))
    assert result.code == 0, result
    assert _bindings(cli)[0]["last_used_at"] == "2026-11-28T10:00:00Z"
