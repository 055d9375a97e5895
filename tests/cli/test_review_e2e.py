"""Export -> fill in -> review apply -> revoke --from-review --yes, against the sandbox."""

from __future__ import annotations

import csv
import io
import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.brokers import BrokerSandbox, WorkOSSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl, write_private
from tests.engines import InventoryDb


def _tok(prefix: str = "xoxp-") -> str:
    return prefix + "fake" + secrets.token_hex(10)


@pytest.fixture
def setup(tmp_path: Path, inventory_db: InventoryDb) -> dict[str, Any]:
    t = {"grace": _tok(), "alan": _tok(), "bot": _tok("xoxb-"), "ada": _tok(), "lin": _tok(),
         "ken": _tok()}
    users: list[dict[str, Any]] = [{"id": f"U{i}", "team_id": "T1", "name": n}
                                   for i, n in enumerate(t, 1)]
    users[2]["is_bot"] = True
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": users,
        "tokens": [{"token": tok, "team_id": "T1", "user_id": f"U{i}",
                    "kind": "bot" if name == "bot" else "user", "scopes": ["chat:write"],
                    **({"bot_id": "B1"} if name == "bot" else {})}
                   for i, (name, tok) in enumerate(t.items(), 1)],
        "workos": {"api_key": "sk_test_fake" + secrets.token_hex(6), "users": [
            {"id": "user_ada", "email": "ada@acme.example", "organization_id": "acme",
             "slack": {"id": "acct_ada", "token": t["ada"], "state": "connected"}},
            {"id": "user_lin", "email": "lin@acme.example", "organization_id": "acme",
             "slack": {"id": "acct_lin", "token": t["lin"], "state": "connected"}},
        ]},
    })
    export = [{"id": name, "owner_email": f"{name}@acme.example", "tenant": "acme",
               "purpose": "notifications", "access_token": t[name]}
              for name in ("grace", "alan", "bot")]
    export.append({"id": "ken", "owner_email": "ken@acme.example", "tenant": "acme",
                   "purpose": "notifications"})  # the app exported no token for it
    write_private(tmp_path / "export.json", export)
    return {"world": world, "tokens": t, "tmp": tmp_path,
            "env": {**inventory_db.env(), "PIPES_KEY": world.workos["api_key"],
                    "NHICTL_ACTOR": "auditor"}}


def _config(tmp: Path, workos_url: str) -> Path:
    path = tmp / "nhictl.toml"
    path.write_text(f"""
[[sources]]
name = "export"
kind = "file"
path = "export.json"

[[sources]]
name = "pipes"
kind = "workos"
api_key_env = "PIPES_KEY"
base_url = "{workos_url}"
default_purpose = "notifications"
""")
    return path


def _fill(packet: Path, decisions: dict[str, str]) -> Path:
    """What a reviewer's spreadsheet gives back: BOM, CRLF, decisions by owner."""
    rows = list(csv.DictReader(io.StringIO(packet.read_text(encoding="utf-8"), newline="")))
    for row in rows:
        owner = row["owner_email"].split("@")[0]
        if owner in decisions:
            row.update(decision=decisions[owner], reviewer="ann@acme.example",
                       decided_at="2026-11-28", justification=f"quarterly review: {owner}")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    filled = packet.with_name("filled.csv")
    filled.write_bytes(b"\xef\xbb\xbf" + out.getvalue().encode() + b",,,\r\n\r\n")
    return filled


def _status(env: dict[str, str]) -> dict[str, str]:
    result = nhictl("inventory", "list", "-o", "json", env=env)
    assert result.code == 0, result.err
    return {b["connection_id"]: b["status"] for b in result.json()["bindings"]}


def _deletes(workos: BrokerSandbox) -> list[str]:
    return [r["path"] for r in workos.requests if r["method"] == "DELETE"]


def test_review_round_trip_and_revoke(setup: dict[str, Any]) -> None:
    env, tmp, tokens = setup["env"], setup["tmp"], setup["tokens"]
    with SlackSandbox(setup["world"]) as slack, WorkOSSandbox(setup["world"]) as workos:
        cli = ("--config", str(_config(tmp, workos.url)), "--slack-api-url", slack.url)
        assert nhictl("init", env=env).code == 0
        assert nhictl(*cli, "reconcile", env=env).code == 0
        packet = tmp / "review.csv"
        result = nhictl(*cli, "report", "access-review", "-o", "csv", "--out", str(packet),
                        env=env)
        assert result.code == 0, result.err
        assert len(packet.read_text().splitlines()) == 1 + 6
        filled = _fill(packet, {"grace": "keep", "lin": "Keep", "alan": "revoke",
                                "bot": "revoke", "ada": "revoke"})

        applied = nhictl(*cli, "review", "apply", str(filled), env=env)
        assert applied.code == 0, applied.err
        assert "5 decision(s) applied" in applied.err

        plan = nhictl(*cli, "revoke", "--from-review", str(filled), "-o", "json", env=env)
        assert plan.code == 0, plan.err
        steps = {s["binding_id"]: s for s in plan.json()["plan"]}
        assert len(steps) == 3 and "plan only, nothing changed" in plan.err
        assert any("WorkOS Pipes removal" in s["will_call"] for s in steps.values())
        assert sorted(s["obtained_from"] for s in steps.values()) == [
            "fetched on demand from WorkOS Pipes 'pipes'", "held by file source 'export'",
            "held by file source 'export'"]
        assert any("does NOT uninstall the app" in s["notes"] for s in steps.values())
        assert slack.count("auth.revoke") == 0 and _deletes(workos) == []

        done = nhictl(*cli, "revoke", "--from-review", str(filled), "--yes", "--preflight",
                      "-o", "json", env=env)
        assert done.code == 0, done.err
        assert {o["outcome"] for o in done.json()["outcomes"]} == {"revoked"}
        assert "deactivates the bot user" in done.err
        for name in ("alan", "bot", "ada"):  # one preflight and one real call each
            assert slack.count("auth.revoke", tokens[name]) == 2
        real = [r for r in slack.requests if r.method == "auth.revoke" and not r.params.get(
            "test")]
        assert len(real) == 3
        assert _deletes(workos) == ["/user_management/users/user_ada/connected_accounts/slack"]

        again = nhictl(*cli, "revoke", "--from-review", str(filled), "--yes", "-o", "json",
                       env=env)
        assert again.code == 0, again.err
        assert {o["outcome"] for o in again.json()["outcomes"]} == {"already_revoked"}
        assert slack.count("auth.revoke") == 6 and len(_deletes(workos)) == 1
        reapplied = nhictl(*cli, "review", "apply", str(filled), env=env)
        assert reapplied.code == 0 and "5 already applied" in reapplied.err

    status = _status(env)
    assert {k: v for k, v in status.items() if v == "revoked"} == {
        "alan": "revoked", "bot": "revoked", "acct_ada": "revoked"}
    assert status["grace"] == "active" and status["acct_lin"] == "active"
    events = nhictl("events", "-o", "json", env=env).json()["events"]
    changes = [e for e in events if e["type"] in ("review_decision", "revoke_planned",
                                                  "revoked")]
    assert len(changes) == 5 + 3 + 3 and all(e["actor"] == "auditor" for e in changes)
    for token in tokens.values():
        assert token not in str(events)
    evidence = nhictl("report", "evidence", "--since", "1d", "-o", "json", env=env)
    assert evidence.code == 0, evidence.err
    counts = evidence.json()["counts"]
    assert counts == {"reviewed": 5, "kept": 2, "reduced": 0, "revoked": 3,
                      "not_revoked_at_slack": 0, "open": 1}
    assert evidence.json()["open"][0]["owner"] == "ken@acme.example"
    md = nhictl("report", "evidence", "--since", "1d", "-o", "markdown", env=env)
    assert "## Revoked" in md.out and "auditor" in md.out


def test_failed_revocation_exits_5_and_others_proceed(setup: dict[str, Any]) -> None:
    env, tmp, tokens = setup["env"], setup["tmp"], setup["tokens"]
    with SlackSandbox(setup["world"]) as slack, WorkOSSandbox(setup["world"]) as workos:
        cli = ("--config", str(_config(tmp, workos.url)), "--slack-api-url", slack.url)
        assert nhictl("init", env=env).code == 0
        assert nhictl(*cli, "reconcile", env=env).code == 0
        rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
        ids = {b["connection_id"]: b["id"] for b in rows}
        result = nhictl(*cli, "revoke", ids["ken"], ids["grace"], "--reason", "offboarded",
                        "--yes", "-o", "json", env=env)
        assert result.code == 5, result.err
        outcomes = {o["binding_id"]: o for o in result.json()["outcomes"]}
        assert outcomes[ids["ken"]]["outcome"] == "failed"
        assert "holds no token" in outcomes[ids["ken"]]["detail"]
        assert outcomes[ids["grace"]]["outcome"] == "revoked"
        assert slack.count("auth.revoke", tokens["grace"]) == 1
        assert "1 of 2 revocation(s) failed" in result.err
        noop = nhictl(*cli, "revoke", ids["grace"], env=env)
        assert noop.code == 0 and f"{ids['grace']}: already revoked at" in noop.err
