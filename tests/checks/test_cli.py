"""`nhictl check`, `scopes`, `usage` end to end through the real entry point."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nhictl.cli.main import run
from tests.checks.store_helpers import add_binding, make_inventory
from tests.engines import InventoryDb


def nhictl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        run(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inventory_db: InventoryDb) -> Path:
    monkeypatch.setenv("NHICTL_DB", inventory_db.url)
    monkeypatch.setenv("NHICTL_NOW", "2026-06-01T12:00:00Z")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NHICTL_CONFIG", raising=False)
    inv = make_inventory(inventory_db)
    add_binding(inv, "b-00000000a1", owner_status="deactivated", owner_email="leaver@example.com")
    add_binding(inv, "b-00000000a2", connection_id="c-a2", owner_id="u2",
                owner_email="bob@example.com", slack_user_id="U2", source_slack_user_id="U2",
                granted_scopes=["chat:write", "files:read"])
    inv.dispose()
    return tmp_path


def test_check_json_summary_and_fail_on(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = nhictl(capsys, "check", "-o", "json", "--fail-on", "critical")
    assert code == 1
    doc = json.loads(out)
    assert doc["schema_version"] == 1 and "generated_at" in doc
    rules = {(f["rule_id"], f["binding_id"]) for f in doc["findings"]}
    assert rules == {("owner_offboarded", "b-00000000a1"),
                     ("scope_exceeds_purpose", "b-00000000a2")}
    assert doc["summary"]["by_severity"]["critical"] == 1
    assert "1 critical" in err and "2 new" in err

    code, out, _ = nhictl(capsys, "check", "-o", "json", "--min-severity", "critical",
                          "--fail-on", "critical")
    assert code == 1
    doc = json.loads(out)
    assert [f["rule_id"] for f in doc["findings"]] == ["owner_offboarded"]
    assert not doc["findings"][0]["new"]


def test_suppressed_finding_does_not_fail(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "accepted.toml").write_text(
        '[[suppressions]]\nrule = "owner_offboarded"\nbinding = "b-00000000a1"\n'
        'reason = "handover until June"\nticket = "SEC-7"\napprover = "ciso"\n'
        "expires = 2026-06-30\n", encoding="utf-8")
    (env / "nhictl.toml").write_text('[policy]\nsuppressions = "accepted.toml"\n',
                                     encoding="utf-8")
    code, out, _ = nhictl(capsys, "check", "--fail-on", "critical", "-o", "csv")
    assert code == 0
    assert "handover until June" in out
    code, _, _ = nhictl(capsys, "check", "--fail-on", "high")
    assert code == 1  # scope_exceeds_purpose (files:read is high risk)


@pytest.mark.engine_neutral("rule listing, scopes and usage errors")
def test_check_usage_errors(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = nhictl(capsys, "check", "--rule", "owner_mising")
    assert code == 2 and "owner_missing" in err
    (env / "bad.toml").write_text('[policy]\ndormant_after_days = "soon"\n', encoding="utf-8")
    code, _, err = nhictl(capsys, "check", "--policy", "bad.toml")
    assert code == 3 and "policy.dormant_after_days" in err and "bad.toml" in err


@pytest.mark.engine_neutral("rule listing, scopes and usage errors")
def test_list_rules(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = nhictl(capsys, "check", "--list-rules", "-o", "json")
    assert code == 0
    rules = json.loads(out)["rules"]
    assert len(rules) == 23 and rules[0]["frameworks"]["owasp_nhi"] == ["NHI5:2025"]


@pytest.mark.engine_neutral("rule listing, scopes and usage errors")
def test_scopes_commands(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = nhictl(capsys, "scopes", "list", "--risk", "critical", "-o", "csv")
    assert code == 0 and "im:history" in out and "\nchat:write," not in out
    code, out, _ = nhictl(capsys, "scopes", "explain", "chat:write")
    assert code == 0 and "notifications" in out and "medium" in out
    code, _, err = nhictl(capsys, "scopes", "explain", "chat:wirte")
    assert code == 2 and "did you mean 'chat:write'" in err


@pytest.mark.engine_neutral("rule listing, scopes and usage errors")
def test_policy_warning_for_unknown_scope(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (env / "p.toml").write_text('[purposes.alerts]\nscopes = ["chat:wirte"]\n',
                                encoding="utf-8")
    code, out, err = nhictl(capsys, "scopes", "explain", "chat:write", "--policy", "p.toml",
                            "-o", "json")
    assert code == 0 and "did you mean 'chat:write'" in err
    assert "alerts" not in json.loads(out)["scope"]["allowed_by_purposes"]


def test_usage_ingest(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    f = env / "use.jsonl"
    f.write_text(json.dumps({"time": "2026-05-30T00:00:00Z", "connection_id": "c-a2",
                             "action": "message_posted"}) + "\n" +
                 json.dumps({"time": "2026-05-30T00:00:00Z", "connection_id": "nobody",
                             "action": "message_posted"}) + "\n", encoding="utf-8")
    code, _, err = nhictl(capsys, "usage", "ingest", str(f))
    assert code == 0 and "1 new" in err and "nobody" in err
    code, _, err = nhictl(capsys, "usage", "ingest", str(f))
    assert code == 0 and "0 new" in err
    f.write_text("{oops\n", encoding="utf-8")
    code, _, err = nhictl(capsys, "usage", "ingest", str(f))
    assert code == 3 and "line 1" in err
