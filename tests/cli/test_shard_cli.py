"""reconcile --shard K/N from the command line: bad values are usage errors (exit 2)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from nhictl import schemas
from tests.conftest import Cli


def _export(tmp_path: Path) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([
        {"id": f"c{i}", "team_id": f"T{i % 4}", "owner_email": f"u{i}@example.com",
         "scopes": "chat:write"} for i in range(40)]), encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.mark.engine_neutral("argument parsing")
@pytest.mark.parametrize("value", ["0/2", "3/2", "2", "x/y", "1/0"])
def test_a_bad_shard_is_exit_2_naming_the_option(cli: Cli, tmp_path: Path, value: str) -> None:
    assert cli("init").code == 0
    got = cli("reconcile", "--source", f"file:{_export(tmp_path)}", "--no-validate",
              "--shard", value)
    assert got.code == 2, got
    assert "--shard" in got.err
    assert "K/N" in got.err or "between 1 and" in got.err
    assert "Traceback" not in got.output


def test_sharded_runs_cover_the_export_once_and_say_their_shard(cli: Cli,
                                                                tmp_path: Path) -> None:
    assert cli("init").code == 0
    export = _export(tmp_path)
    seen = 0
    for k in (1, 2):
        got = cli("reconcile", "--source", f"file:{export}", "--no-validate", "--shard",
                  f"{k}/2", "-o", "json")
        assert got.code == 0, got
        doc = got.json()
        assert doc["shard"] == f"{k}/2"
        Draft202012Validator(schemas.load("reconcile")).validate(doc)
        seen += doc["counts"]["seen"]
    assert seen == 40
    listed = cli("inventory", "list", "-o", "json").json()
    assert len(listed["bindings"]) == 40
