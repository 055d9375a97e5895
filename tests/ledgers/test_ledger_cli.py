"""`nhictl ledger collect|list`, the reconcile hook, `inventory show`'s Slack side, and the
collectors' own tokens as inventoried bindings: the real CLI against the sandbox Slack."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import write_private
from tests.conftest import Cli
from tests.ledgers.sandbox_world import (
    ADMIN_TOKEN,
    APP,
    AUDIT_TOKEN,
    DIRECTORY_TOKEN,
    T0,
    audit_entry,
    fake,
    world,
)

GRACE, LEFT = fake("xoxp-"), fake("xoxp-")
CONFIG = """
[[sources]]
name = "export"
kind = "file"
path = "export.json"
default_purpose = "notifications"

[[ledgers]]
name = "org-audit"
kind = "slack-audit"
token_env = "AUDIT_TOKEN"
app_ids = ["A0APP1"]

[[ledgers]]
name = "ws-logs"
kind = "slack-integration-logs"
token_env = "ADMIN_TOKEN"
app_ids = ["A0APP1"]

[[ledgers]]
name = "directory"
kind = "slack-directory"
token_env = "DIRECTORY_TOKEN"
"""


def scenario() -> dict[str, Any]:
    data = world(n_entries=3)
    data["users"].append({"id": "U5", "team_id": "T1", "name": "left5", "deleted": True})
    data["tokens"] += [
        {"token": GRACE, "team_id": "T1", "user_id": "U1", "kind": "user",
         "scopes": ["chat:write"]},
        # U5 was deactivated: Slack already answers token_revoked for their token.
        {"token": LEFT, "team_id": "T1", "user_id": "U5", "kind": "user",
         "scopes": ["chat:write"]},
    ]
    data["audit_log"].append(audit_entry(4, "user_deactivated", app=None, user="U5",
                                         actor="UADMIN"))
    data["integration_logs"] = {"T1": [
        {"app_id": APP, "app_type": "Notifier", "user_id": "U1", "user_name": "grace",
         "date": str(T0 + 10), "change_type": "added", "scope": "chat:write,channels:read"},
        {"app_id": "A0OTHER", "user_id": "U1", "date": str(T0 + 11), "change_type": "added",
         "scope": "files:read"},
    ]}
    return data


@pytest.fixture
def setup(nhictl_env: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("AUDIT_TOKEN", AUDIT_TOKEN)
    monkeypatch.setenv("ADMIN_TOKEN", ADMIN_TOKEN)
    monkeypatch.setenv("DIRECTORY_TOKEN", DIRECTORY_TOKEN)
    home = nhictl_env.parent.parent
    write_private(home / "export.json", [
        {"id": "grace", "owner_email": "grace@acme.example", "team_id": "T1",
         "slack_user_id": "U1", "access_token": GRACE, "app_id": APP},
        {"id": "left", "owner_email": "left@acme.example", "team_id": "T1",
         "slack_user_id": "U5", "access_token": LEFT, "app_id": APP},
    ])
    (home / "nhictl.toml").write_text(CONFIG)
    return home


def test_reconcile_collects_the_ledgers_and_list_shows_them(cli: Cli, setup: Path) -> None:
    with SlackSandbox(World.from_dict(scenario())) as slack:
        assert cli("init").code == 0
        result = cli("--slack-api-url", slack.url, "reconcile")
        assert result.code == 0, result
        listed = cli("ledger", "list", "-o", "json")
    entries = listed.json()["entries"]
    by_collector: dict[str, list[str]] = {}
    for e in entries:
        by_collector.setdefault(e["collector"], []).append(e["action"])
    assert by_collector["org-audit"] == ["app_installed"] * 3 + ["user_deactivated"]
    assert by_collector["ws-logs"] == ["app_installed"]  # the other app is filtered out
    directory = {e["user_id"]: e["details"] for e in entries if e["collector"] == "directory"}
    assert directory["U5"]["deleted"] is True and directory["U1"]["deleted"] is False
    for token in (AUDIT_TOKEN, ADMIN_TOKEN, DIRECTORY_TOKEN, GRACE, LEFT):
        assert token not in result.out + result.err + listed.out


def test_a_cron_collect_reads_only_new_audit_entries(cli: Cli, setup: Path) -> None:
    scene = World.from_dict(scenario())
    with SlackSandbox(scene) as slack:
        cli("init")
        assert cli("--slack-api-url", slack.url, "ledger", "collect").code == 0
        slack.clear()
        scene.add_audit_entry(audit_entry(20, "app_uninstalled", user="U1"))
        again = cli("--slack-api-url", slack.url, "ledger", "collect", "org-audit", "-o", "json")
        oldest = [r.params.get("oldest") for r in slack.requests if r.method == "audit/v1/logs"]
    assert again.code == 0, again
    report = again.json()
    assert [c["name"] for c in report["collectors"]] == ["org-audit"]
    assert report["collectors"][0]["new"] == 1 and oldest == [str(T0 + 4)]


def test_inventory_show_links_the_slack_side_history(cli: Cli, setup: Path) -> None:
    with SlackSandbox(World.from_dict(scenario())) as slack:
        cli("init")
        cli("--slack-api-url", slack.url, "reconcile")
    left = next(b["id"] for b in cli("inventory", "list", "-o", "json").json()["bindings"]
                if b["connection_id"] == "left")
    shown = cli("inventory", "show", left)
    assert "slack side (2)" in shown.out
    assert "user_deactivated       U5 by UADMIN" in shown.out
    assert "user_status            U5 deleted" in shown.out
    side = cli("inventory", "show", left, "-o", "json").json()["slack_side"]
    assert {(e["collector"], e["action"]) for e in side} == {
        ("org-audit", "user_deactivated"), ("directory", "user_status")}
    only = cli("ledger", "list", "--binding", left, "--action", "user_status", "-o", "csv")
    assert only.out.count("\n") == 2 and "users.info:T1:U5" in only.out


def test_collector_tokens_are_bindings_checked_against_their_job(
        cli: Cli, setup: Path) -> None:
    data = scenario()
    # The directory token holds more than users:read: a finding about nhictl's own token.
    data["tokens"][2]["scopes"] = ["users:read", "chat:write"]
    with SlackSandbox(World.from_dict(data)) as slack:
        cli("init")
        cli("--slack-api-url", slack.url, "reconcile")
    own = {b["connection_id"]: b for b in cli("inventory", "list", "--source", "nhictl",
                                              "-o", "json").json()["bindings"]}
    assert sorted(own) == ["ledger:directory", "ledger:org-audit", "ledger:ws-logs"]
    assert own["ledger:org-audit"]["purpose"] == ["nhictl-audit-logs"]
    assert own["ledger:org-audit"]["status"] == "active"
    findings = cli("check", "--source", "nhictl", "-o", "json").json()["findings"]
    by_binding = {(own_id, f["rule_id"]) for f in findings
                  for own_id, b in own.items() if b["id"] == f["binding_id"]}
    assert ("ledger:directory", "scope_exceeds_purpose") in by_binding
    listed = {r["name"]: r for r in cli("sources", "list", "-o", "json").json()["sources"]}
    assert listed["nhictl"]["kind"] == "nhictl" and listed["nhictl"]["secret_set"] is True
    # auditlogs:read and admin are what those jobs need: no privileged_scope cry wolf.
    assert ("ledger:org-audit", "privileged_scope") not in by_binding
    assert ("ledger:ws-logs", "privileged_scope") not in by_binding


def test_a_collector_token_beyond_its_job_is_still_privileged(cli: Cli, setup: Path) -> None:
    data = scenario()
    data["tokens"][0]["scopes"] = ["auditlogs:read", "admin.users:write"]
    with SlackSandbox(World.from_dict(data)) as slack:
        cli("init")
        cli("--slack-api-url", slack.url, "reconcile")
    findings = cli("check", "--source", "nhictl", "-o", "json").json()["findings"]
    privileged = [f for f in findings if f["rule_id"] == "privileged_scope"]
    assert [f["evidence"]["privileged"] for f in privileged] == [["admin.users:write"]]


@pytest.mark.engine_neutral("config and arguments refused before the store")
def test_a_missing_token_variable_is_exit_3_before_anything_is_written(
        cli: Cli, setup: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ADMIN_TOKEN")
    cli("init")
    with SlackSandbox(World.from_dict(scenario())) as slack:
        result = cli("--slack-api-url", slack.url, "reconcile")
        assert result.code == 3 and "ADMIN_TOKEN is not set" in result.err
        assert slack.requests == []
    assert cli("inventory", "list", "-o", "json").json()["bindings"] == []


@pytest.mark.engine_neutral("config and arguments refused before the store")
@pytest.mark.parametrize(("entry", "message"), [
    ('name = "x"\nkind = "slack-audits"\ntoken_env = "T"', "ledgers[0] (x).kind: must be one"),
    ('name = "x"\nkind = "slack-audit"\ntoken = "xoxp-1"', "literal secrets"),
    ('name = "x"\nkind = "slack-audit"\ntoken_env = "xoxp-123-abc"', "NAME of an environment"),
    ('name = "x"\nkind = "slack-integration-logs"\ntoken_env = "T"', "app_ids: is required"),
    ('name = "x"\nkind = "slack-audit"\ntoken_env = "T"\napp_ids = ["bad id"]', "app_ids"),
    ('name = "x"\nkind = "slack-audit"\ntoken_env = "T"\ncolour = "red"', "unknown key"),
])
def test_bad_ledger_entries_are_exit_3_naming_the_key(
        cli: Cli, nhictl_env: Path, entry: str, message: str) -> None:
    config = nhictl_env.parent.parent / "nhictl.toml"
    config.write_text(f"[[ledgers]]\n{entry}\n")
    result = cli("ledger", "collect")
    assert result.code == 3 and message in result.err and "xoxp-1" not in result.err


@pytest.mark.engine_neutral("config and arguments refused before the store")
def test_unknown_ledger_name_is_a_usage_error(cli: Cli, setup: Path) -> None:
    result = cli("ledger", "collect", "nope")
    assert result.code == 2 and "unknown ledger 'nope'" in result.err


def test_an_incomplete_collector_is_exit_4_and_keeps_the_others(cli: Cli, setup: Path) -> None:
    data = scenario()
    data["faults"] = [{"method": "team.integrationLogs", "kind": "error", "error": "paid_only",
                       "times": 9}]
    with SlackSandbox(World.from_dict(data)) as slack:
        cli("init")
        result = cli("--slack-api-url", slack.url, "ledger", "collect", "-o", "json")
    assert result.code == 4
    done = {c["name"]: c["complete"] for c in result.json()["collectors"]}
    assert done == {"org-audit": True, "ws-logs": False, "directory": True}
    assert "ledger ws-logs: incomplete" in result.err
    assert json.dumps(result.json()).count("paid_only") == 1


def test_a_reconcile_leaves_the_ledgers_to_another_run_collecting_them(
        cli: Cli, setup: Path) -> None:
    """Two reconciles of different sources (or shards) run at once; only one of them reads
    the ledgers (their checkpoints would race); the other says so and still succeeds."""
    import os

    from nhictl.store.lock import hold, ledgers_scope

    location = os.environ["NHICTL_DB"]
    connect = None
    if location.startswith("postgres"):
        from nhictl.store.pglock import session_factory

        connect = session_factory(location, None)
    with SlackSandbox(World.from_dict(scenario())) as slack:
        assert cli("init").code == 0
        with hold(location, [ledgers_scope()], command="nhictl reconcile -s other",
                  connect=connect):
            busy = cli("--slack-api-url", slack.url, "reconcile")
            assert cli("ledger", "list", "-o", "json").json()["entries"] == []
        assert busy.code == 0, busy
        assert "ledgers not collected by this run" in busy.err
        assert "nhictl reconcile -s other" in busy.err
        assert not [r for r in slack.requests if r.method == "audit/v1/logs"]
        free = cli("--slack-api-url", slack.url, "reconcile")
        assert free.code == 0, free
        assert cli("ledger", "list", "-o", "json").json()["entries"]
