"""With --log-format json, errors are JSON lines too (cron parses stderr)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.e2e import nhictl
from tests.engines import InventoryDb


def test_user_error_is_one_json_line(tmp_path: Path) -> None:
    result = nhictl("--log-format", "json", "--db", str(tmp_path / "none.db"), "inventory",
                    "list")
    assert result.code == 3
    lines = result.err.strip().splitlines()
    assert len(lines) == 1
    record = json.loads(lines[0])
    assert record["level"] == "error" and record["exit_code"] == 3
    assert "no inventory" in record["event"] and record["hint"]


def test_text_errors_by_default(tmp_path: Path) -> None:
    result = nhictl("--db", str(tmp_path / "none.db"), "inventory", "list")
    assert result.code == 3
    assert result.err.startswith("nhictl: error: no inventory")


def test_error_messages_are_one_line(tmp_path: Path) -> None:
    config = tmp_path / "nhictl.toml"
    config.write_text('[slack]\n"bad\\nkey" = 1\n')
    result = nhictl("--config", str(config), "sources", "list")
    assert result.code == 3
    assert len(result.err.strip().splitlines()) == 1
    assert "\\n" in result.err


def test_usage_errors_are_json_lines_too() -> None:
    result = nhictl("--log-format", "json", "reconcile", "--fail-on", "bogus")
    assert result.code == 2
    (line,) = result.err.strip().splitlines()
    record = json.loads(line)
    assert record["exit_code"] == 2 and "--fail-on" in record["event"]
    plain = nhictl("reconcile", "--fail-on", "bogus")
    assert plain.code == 2 and "Usage:" in plain.err


def test_run_records_the_real_command_line_with_tokens_masked(tmp_path: Path,
                                                              inventory_db: InventoryDb) -> None:
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    odd = tmp_path / "xoxp-FAKE-0123456789abcdef.json"
    odd.write_text('[{"id": "c1"}]')
    result = nhictl("-q", "reconcile", "-s", f"file:{odd}", "--no-validate", env=env)
    assert result.code == 0, result.err
    command = inventory_db.scalar("SELECT command FROM runs WHERE kind='reconcile'")
    assert command.startswith("nhictl -q reconcile -s ")
    assert "0123456789abcdef" not in command


def test_init_makes_every_new_directory_private(tmp_path: Path) -> None:
    import os

    old = os.umask(0o022)
    try:
        result = nhictl("--db", str(tmp_path / "a" / "b" / "inv.db"), "init")
    finally:
        os.umask(old)
    assert result.code == 0, result.err
    for d in (tmp_path / "a", tmp_path / "a" / "b"):
        assert d.stat().st_mode & 0o777 == 0o700
