"""Issue 10 points 3 and 4 end to end: the CLI reconciles against the sandbox Nango and
WorkOS, which answer as the real servers do."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

from nhictl.sandbox.brokers import NangoSandbox, WorkOSSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl
from tests.engines import InventoryDb


def _token(kind: str) -> str:
    return f"xox{kind[0]}-FAKE-" + secrets.token_hex(8)


def _world() -> World:
    t = {name: _token("bot" if name == "bot" else "user")
         for name in ("bot", "user", "fail", "org_a", "org_b")}
    users = [("U1", "grace"), ("U2", "alan"), ("U3", "ada"), ("UB", "bot")]
    return World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": u, "team_id": "T1", "name": n} for u, n in users],
        "tokens": [
            {"token": t["bot"], "team_id": "T1", "user_id": "UB", "kind": "bot",
             "bot_id": "B1", "scopes": ["chat:write"]},
            {"token": t["user"], "team_id": "T1", "user_id": "U1", "kind": "user",
             "scopes": ["search:read"]},
            {"token": t["fail"], "team_id": "T1", "user_id": "U2", "kind": "user",
             "scopes": ["chat:write"]},
            {"token": t["org_a"], "team_id": "T1", "user_id": "U3", "kind": "user",
             "scopes": ["chat:write"]},
            {"token": t["org_b"], "team_id": "T1", "user_id": "U3", "kind": "user",
             "scopes": ["chat:write"]}],
        "nango": {"secret_key": "nango-FAKE-" + secrets.token_hex(6), "connections": [
            {"id": 1, "connection_id": "c-both", "tags": {"end_user_id": "grace"},
             "token": t["user"], "bot_token": t["bot"], "refresh": True},
            {"id": 2, "connection_id": "c-fail", "tags": {"end_user_id": "alan"},
             "token": t["fail"], "state": "refresh_failed"}]},
        "workos": {"api_key": "sk_test_FAKE" + secrets.token_hex(6), "users": [
            {"id": "user_ada", "email": "ada@example.com", "first_name": "Ada",
             "memberships": [{"organization_id": "org_a", "status": "active"},
                             {"organization_id": "org_b", "status": "inactive"}],
             "slack": [{"id": "acct_a", "token": t["org_a"], "organization_id": "org_a"},
                       {"id": "acct_b", "token": t["org_b"], "organization_id": "org_b"}]}]},
    })


def test_reconcile_brokers_as_they_really_answer(tmp_path: Path, inventory_db: InventoryDb) -> None:
    world = _world()
    env = {**inventory_db.env(), "NANGO_KEY": world.nango["secret_key"],
           "PIPES_KEY": world.workos["api_key"]}
    with SlackSandbox(world) as slack, NangoSandbox(world) as nango, \
            WorkOSSandbox(world) as workos:
        config = tmp_path / "nhictl.toml"
        config.write_text(
            f'[[sources]]\nname = "nango"\nkind = "nango"\nsecret_key_env = "NANGO_KEY"\n'
            f'base_url = "{nango.url}"\n\n'
            f'[[sources]]\nname = "pipes"\nkind = "workos"\napi_key_env = "PIPES_KEY"\n'
            f'base_url = "{workos.url}"\n')
        assert nhictl("init", env=env).code == 0
        run = nhictl("--config", str(config), "--slack-api-url", slack.url, "reconcile",
                     "-o", "json", env=env)
        posted = [r["json"] for r in workos.requests if r["method"] == "POST"]
        rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
        # Later Nango gives up on c-both: its bot binding is dead, its user binding (whose
        # token Nango no longer hands out) is neither removed nor blanked.
        nango.set_state("c-both", "refresh_exhausted")
        later = nhictl("--config", str(config), "--slack-api-url", slack.url, "reconcile",
                       "--source", "nango", env=env)
        assert later.code == 4, later.err  # c-fail is still inconclusive
        after = {b["connection_id"]: b for b in nhictl(
            "inventory", "list", "-o", "json", env=env).json()["bindings"]}
        assert after["c-both"]["status"] == "needs_reconnect"
        assert after["c-both"]["token_kind"] == "bot"
        assert after["c-both"]["declared_scopes"] == ["chat:write"]
        assert after["c-both#user"]["status"] == "active"
    # One inconclusive connection (its refresh failed at Nango): partial, not a lost source.
    assert run.code == 4, run.err
    report = run.json()
    assert all(s["complete"] for s in report["sources"])
    (inconclusive,) = report["inconclusive"]
    assert "connection c-fail: Nango could not refresh the token" in inconclusive["reason"]
    got: dict[str, Any] = {
        (b["source"], b["connection_id"]): (b["status"], b["token_kind"], b["tenant"],
                                            b["owner_status"]) for b in rows}
    assert got == {
        ("nango", "c-both"): ("active", "bot", None, None),
        ("nango", "c-both#user"): ("active", "user", None, None),
        ("nango", "c-fail"): ("unvalidated", None, None, None),
        ("pipes", "acct_a"): ("active", "user", "org_a", "active"),
        ("pipes", "acct_b"): ("active", "user", "org_b", "inactive"),
    }
    assert sorted(p["organization_id"] for p in posted) == ["org_a", "org_b"]
    by_conn = {b["connection_id"]: b for b in rows}
    assert by_conn["c-both#user"]["slack_user_id"] == "U1"
    assert by_conn["acct_b"]["owner_id"] == by_conn["acct_a"]["owner_id"] == "user_ada"
