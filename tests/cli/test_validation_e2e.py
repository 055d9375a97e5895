"""reconcile with live validation against the sandbox Slack, through the real CLI."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl, write_private
from tests.conftest import NewInventoryDb
from tests.engines import InventoryDb


def _token(kind: str = "xoxp") -> str:
    return f"{kind}-FAKE-{secrets.token_hex(10)}"


def _world(tokens: list[dict[str, Any]], **extra: Any) -> World:
    return World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}, {"id": "T2", "name": "Beta"}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"},
                  {"id": "U2", "team_id": "T1", "name": "alan", "deleted": True},
                  {"id": "U3", "team_id": "T2", "name": "ada"}],
        "tokens": tokens,
        "retry_after": 0,
        **extra,
    })


@pytest.fixture
def env(inventory_db: InventoryDb) -> dict[str, str]:
    return inventory_db.env()


def _reconcile(env: dict[str, str], url: str, export: Path, *args: str) -> Any:
    return nhictl("--slack-api-url", url, "reconcile", "--source", f"file:{export}",
                  "-o", "json", *args, env=env)


def _by_conn(env: dict[str, str]) -> dict[str, dict[str, Any]]:
    listed = nhictl("inventory", "list", "-o", "json", env=env)
    assert listed.code == 0, listed.err
    return {b["connection_id"]: b for b in listed.json()["bindings"]}


CODES = [
    ("revoked", "token_revoked", "needs_reconnect"),
    ("expired", "token_expired", "expired"),
    ("invalid", "invalid_auth", "needs_reconnect"),
    ("inactive", "account_inactive", "needs_reconnect"),
]


@pytest.mark.engine_neutral("Slack's answers mapped to a status")
@pytest.mark.parametrize(("state", "code", "status"), CODES)
def test_each_dead_code_lands_in_its_status(
    tmp_path: Path, env: dict[str, str], state: str, code: str, status: str
) -> None:
    tok = _token("xoxb" if state == "inactive" else "xoxp")
    world = _world([{"token": tok, "team_id": "T1", "user_id": "U1", "kind":
                     "bot" if state == "inactive" else "user", "scopes": ["chat:write"],
                     "state": state}])
    export = write_private(tmp_path / "e.json", [{"id": "c1", "access_token": tok}])
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        result = _reconcile(env, slack.url, export)
    assert result.code == 0, result.err
    binding = _by_conn(env)["c1"]
    assert binding["status"] == status
    # The reason names the code and what it honestly means (ambiguous where Slack is).
    assert binding["status_reason"].startswith(f"slack: {code} (")


@pytest.mark.engine_neutral("Slack's answers mapped to a status")
def test_not_authed_lands_in_needs_reconnect(tmp_path: Path, env: dict[str, str]) -> None:
    # An empty bearer token is what Slack answers not_authed to; the sandbox does the same
    # for a token it has never seen with no auth at all. Use the client directly.
    from nhictl.secret import Secret
    from nhictl.slack import SlackClient

    with SlackSandbox(_world([])) as slack:
        result = SlackClient(slack.url).validate(Secret(""))
    assert result.outcome == "dead"
    assert result.error in ("not_authed", "invalid_auth")


def test_identity_scopes_and_drift(tmp_path: Path, env: dict[str, str]) -> None:
    good, other = _token(), _token()
    world = _world([
        {"token": good, "team_id": "T1", "user_id": "U1", "kind": "user",
         "scopes": ["chat:write", "users:read"]},
        {"token": other, "team_id": "T2", "user_id": "U3", "kind": "user",
         "scopes": ["chat:write"]},
    ])
    export = write_private(tmp_path / "e.json", [
        {"id": "c1", "access_token": good, "team_id": "T1", "slack_user_id": "U1",
         "scopes": "chat:write"},
        # The app recorded U9 in T1, but the token acts for U3 in T2: identity drift.
        {"id": "c2", "access_token": other, "team_id": "T1", "slack_user_id": "U9",
         "scopes": "chat:write"},
    ])
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        first = _reconcile(env, slack.url, export)
        assert first.code == 0, first.err
        c1 = _by_conn(env)["c1"]
        assert c1["status"] == "active"
        assert c1["granted_scopes"] == ["chat:write", "users:read"]
        assert c1["declared_scopes"] == ["chat:write"]
        assert c1["workspace_name"] == "Acme"
        assert c1["slack_user_deleted"] is False
        c2 = _by_conn(env)["c2"]
        assert (c2["workspace_id"], c2["slack_user_id"]) == ("T2", "U3")
        assert (c2["source_team_id"], c2["source_slack_user_id"]) == ("T1", "U9")
        # The grant widens between runs.
        entry = world.token(good)
        assert entry is not None
        entry["scopes"] = ["chat:write", "users:read", "channels:history"]
        second = _reconcile(env, slack.url, export)
        assert second.code == 0, second.err
    events = nhictl("events", "-o", "json", env=env).json()["events"]
    scope_events = [e for e in events if e["type"] == "scope_changed"]
    assert scope_events[-1]["details"]["added"] == ["channels:history"]
    assert scope_events[-1]["details"]["basis"] == "previous_validation"
    identity = [e for e in events if e["type"] == "identity_changed"]
    assert len(identity) == 1
    assert identity[0]["details"]["fields"]["workspace_id"] == ["T1", "T2"]


@pytest.mark.engine_neutral("Slack's answers mapped to a status")
def test_transient_faults_never_change_status(tmp_path: Path, env: dict[str, str]) -> None:
    tok = _token()
    world = _world([{"token": tok, "team_id": "T1", "user_id": "U1", "kind": "user",
                     "scopes": ["chat:write"]}])
    export = write_private(tmp_path / "e.json", [{"id": "c1", "access_token": tok}])
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        assert _reconcile(env, slack.url, export).code == 0
        before = _by_conn(env)["c1"]
        assert before["status"] == "active"
        # Every auth.test now fails with a 503 HTML page, past the retry budget.
        world.faults.append({"method": "auth.test", "kind": "503_html"})
        result = _reconcile(env, slack.url, export)
    assert result.code == 4
    assert "inconclusive" in result.err
    after = _by_conn(env)["c1"]
    assert after["status"] == "active"
    assert after["last_validation_outcome"] == "inconclusive"
    assert after["last_validated_at"] == before["last_validated_at"]
    report = result.json()
    assert report["counts"]["inconclusive"] == 1


@pytest.mark.engine_neutral("Slack's answers mapped to a status")
def test_fault_that_clears_matches_clean_run(
    tmp_path: Path, new_inventory_db: NewInventoryDb
) -> None:
    tok = _token()

    def run_once(faults: list[dict[str, Any]], where: Path) -> dict[str, Any]:
        env = new_inventory_db(where.name).env()
        where.mkdir()
        world = _world([{"token": tok, "team_id": "T1", "user_id": "U1", "kind": "user",
                         "scopes": ["chat:write", "users:read"]}], faults=faults)
        export = write_private(where / "e.json", [{"id": "c1", "access_token": tok}])
        assert nhictl("init", env=env).code == 0
        with SlackSandbox(world) as slack:
            result = _reconcile(env, slack.url, export)
        assert result.code == 0, result.err
        row = _by_conn(env)["c1"]
        return {k: v for k, v in row.items() if not k.endswith("_at") and k not in ("source", "id")
                and k != "token_fingerprint"}

    clean = run_once([], tmp_path / "clean")
    flaky = run_once([{"method": "auth.test", "kind": "500_once"}], tmp_path / "flaky")
    assert flaky == clean


@pytest.mark.engine_neutral("Slack's answers mapped to a status")
def test_no_validate_makes_no_slack_calls(tmp_path: Path, env: dict[str, str]) -> None:
    tok = _token()
    world = _world([{"token": tok, "team_id": "T1", "user_id": "U1", "kind": "user",
                     "scopes": ["chat:write"]}])
    export = write_private(tmp_path / "e.json", [{"id": "c1", "access_token": tok}])
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        result = _reconcile(env, slack.url, export, "--no-validate")
        assert slack.count() == 0
    assert result.code == 0
    assert _by_conn(env)["c1"]["status"] == "unvalidated"


def test_revoked_tokens_are_not_validated_again(tmp_path: Path, env: dict[str, str]) -> None:
    tok = _token()
    world = _world([{"token": tok, "team_id": "T1", "user_id": "U1", "kind": "user",
                     "scopes": ["chat:write"]}])
    export = write_private(tmp_path / "e.json", [{"id": "c1", "access_token": tok}])
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        assert _reconcile(env, slack.url, export).code == 0
        bid = _by_conn(env)["c1"]["id"]
        revoked = nhictl("--slack-api-url", slack.url, "revoke", bid, "--reason", "test",
                         "--yes", env=env)
        assert revoked.code == 0, revoked.err
        calls = slack.count("auth.test")
        again = _reconcile(env, slack.url, export)
        assert again.code == 0, again.err
        assert slack.count("auth.test") == calls
    assert again.json()["counts"]["not_revalidated_revoked"] == 1
    assert _by_conn(env)["c1"]["status"] == "revoked"


def test_evidence_flags_a_kept_binding_whose_scopes_grew(
    tmp_path: Path, env: dict[str, str]
) -> None:
    import csv

    tok = _token()
    world = _world([{"token": tok, "team_id": "T1", "user_id": "U1", "kind": "user",
                     "scopes": ["chat:write"]}])
    export = write_private(tmp_path / "e.json", [{"id": "c1", "access_token": tok,
                                                  "owner_email": "grace@example.com"}])
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        assert _reconcile(env, slack.url, export).code == 0
        packet = tmp_path / "review.csv"
        assert nhictl("report", "access-review", "--out", str(packet), env=env).code == 0
        with packet.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
        rows[0].update(decision="keep", reviewer="ciso@example.com")
        with packet.open("w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=list(rows[0]))
            writer.writeheader()
            writer.writerows(rows)
        applied = nhictl("review", "apply", str(packet), env=env)
        assert applied.code == 0, applied.err
        entry = world.token(tok)
        assert entry is not None
        entry["scopes"] = ["chat:write", "im:history"]
        assert _reconcile(env, slack.url, export).code == 0
    evidence = nhictl("report", "evidence", "-o", "json", env=env)
    assert evidence.code == 0, evidence.err
    (still_open,) = evidence.json()["open"]
    assert "scopes grew since the decision: im:history" in still_open["why"]
