"""Exit codes cron can alert on: partial (4) over findings (1), named together; event types."""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import pytest

from nhictl.sandbox.brokers import WorkOSSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import Result, nhictl, write_private
from tests.engines import InventoryDb

GOOD_KEY = "sk_test_FAKE" + secrets.token_hex(8)


@pytest.fixture
def env(tmp_path: Path, inventory_db: InventoryDb) -> dict[str, str]:
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    # One binding whose owner the app directory says left: owner_offboarded (critical).
    write_private(tmp_path / "export.json", [
        {"id": "c-left", "team_id": "T1", "owner_email": "leaver@example.com",
         "owner_status": "deactivated", "scopes": "chat:write"},
    ])
    return env


def _config(tmp_path: Path, workos_url: str) -> Path:
    path = tmp_path / "nhictl.toml"
    path.write_text(f"""
[[sources]]
name = "export"
kind = "file"
path = "{tmp_path / 'export.json'}"

[[sources]]
name = "pipes"
kind = "workos"
api_key_env = "TEST_EXIT_PIPES_KEY"
base_url = "{workos_url}"
""")
    return path


def _reconcile(tmp_path: Path, env: dict[str, str], key: str, *args: str) -> Result:
    world = World.from_dict({"tokens": [], "workos": {"api_key": GOOD_KEY, "users": []}})
    with WorkOSSandbox(world) as workos:
        config = _config(tmp_path, workos.url)
        return nhictl("--config", str(config), *args, "reconcile", "--no-validate",
                      "--fail-on", "critical", env={**env, "TEST_EXIT_PIPES_KEY": key})


def test_complete_run_with_findings_exits_1(tmp_path: Path, env: dict[str, str]) -> None:
    result = _reconcile(tmp_path, env, GOOD_KEY)
    assert result.code == 1, result.err
    assert "exit 4" not in result.err


def test_partial_run_with_findings_exits_4_and_names_both(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = _reconcile(tmp_path, env, "sk_test_wrong", "-q")
    assert result.code == 4, result.err  # was 1: the outage was hidden behind the findings
    line = next(x for x in result.err.splitlines() if "exit 4" in x)
    assert "partial run" in line and "1 unsuppressed finding(s) at or above critical" in line
    assert "takes precedence" in line


def test_partial_run_with_findings_json_log_names_both(
    tmp_path: Path, env: dict[str, str]
) -> None:
    result = _reconcile(tmp_path, env, "sk_test_wrong", "-q", "--log-format", "json")
    assert result.code == 4, result.err
    records = [json.loads(x) for x in result.err.splitlines()]
    last = records[-1]
    assert (last["level"], last["exit_code"], last["partial"], last["findings"]) == (
        "warning", 4, True, 1)
    assert last["fail_on"] == "critical"


def test_no_fail_on_partial_exits_by_findings(tmp_path: Path, env: dict[str, str]) -> None:
    world = World.from_dict({"tokens": [], "workos": {"api_key": GOOD_KEY, "users": []}})
    with WorkOSSandbox(world) as workos:
        config = _config(tmp_path, workos.url)
        base = ("--config", str(config), "-q", "reconcile", "--no-validate",
                "--no-fail-on-partial")
        keyed = {**env, "TEST_EXIT_PIPES_KEY": "sk_test_wrong"}
        with_findings = nhictl(*base, "--fail-on", "critical", env=keyed)
        without = nhictl(*base, env=keyed)
    assert with_findings.code == 1, with_findings.err
    assert "partial run" in with_findings.err and "--no-fail-on-partial" in with_findings.err
    assert without.code == 0, without.err
    assert "partial run" in without.err  # still said, even with -q


@pytest.mark.engine_neutral("argument validation")
def test_events_rejects_unknown_type_with_the_list(env: dict[str, str]) -> None:
    result = nhictl("events", "--type", "scope_change", env=env)
    assert result.code == 2
    assert "'scope_change'" in result.err
    assert "scope_changed" in result.err and "revoke_failed" in result.err
    ok = nhictl("events", "--type", "scope_changed", "-o", "json", env=env)
    assert ok.code == 0, ok.err
