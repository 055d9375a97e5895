"""Revoking one Nango binding asks Nango for that connection only, then deletes it."""

from __future__ import annotations

import secrets
from pathlib import Path

from nhictl.sandbox.brokers import NangoSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl
from tests.engines import InventoryDb


def nango_cli(tmp_path: Path, slack_url: str, nango_url: str) -> list[str]:
    """Global options for a config with one Nango source (key in NANGO_KEY) and the sandbox
    Slack."""
    config = tmp_path / "nhictl.toml"
    config.write_text(f'[[sources]]\nname = "nango"\nkind = "nango"\n'
                      f'secret_key_env = "NANGO_KEY"\nbase_url = "{nango_url}"\n')
    return ["--config", str(config), "--slack-api-url", slack_url]


def test_revoke_one_nango_connection(tmp_path: Path, inventory_db: InventoryDb) -> None:
    tokens = ["xoxp-FAKE-" + secrets.token_hex(8) for _ in range(3)]
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": f"U{i}", "team_id": "T1", "name": f"u{i}"} for i in range(3)],
        "tokens": [{"token": t, "team_id": "T1", "user_id": f"U{i}", "kind": "user",
                    "scopes": ["chat:write"]} for i, t in enumerate(tokens)],
        "nango": {"secret_key": "nango-FAKE-" + secrets.token_hex(6), "connections": [
            {"id": i, "connection_id": f"c-{i}", "provider": "slack",
             "provider_config_key": "slack", "tags": {"end_user_id": f"app-user-{i}"},
             "token": t, "state": "ok"} for i, t in enumerate(tokens)]},
    })
    env = {**inventory_db.env(), "NANGO_KEY": world.nango["secret_key"]}
    with SlackSandbox(world) as slack, NangoSandbox(world) as nango:
        base = nango_cli(tmp_path, slack.url, nango.url)
        assert nhictl("init", env=env).code == 0
        assert nhictl(*base, "reconcile", env=env).code == 0
        rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
        target = next(b for b in rows if b["connection_id"] == "c-1")
        nango.requests.clear()
        before = slack.count("auth.revoke")
        done = nhictl(*base, "revoke", target["id"], "--reason", "test", "--yes", env=env)
        assert done.code == 0, done.err
        calls = [(r["method"], r["path"]) for r in nango.requests]
        assert calls == [("GET", "/connections/c-1"), ("DELETE", "/connections/c-1")]
        assert slack.count("auth.revoke") == before + 1
        assert slack.count("auth.revoke", tokens[1]) == 1


def _bot_and_user_world() -> tuple[World, dict[str, str]]:
    t = {"bot": "xoxb-FAKE-" + secrets.token_hex(8), "user": "xoxp-FAKE-" + secrets.token_hex(8),
         "other": "xoxp-FAKE-" + secrets.token_hex(8)}
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"},
                  {"id": "U2", "team_id": "T1", "name": "alan"},
                  {"id": "UB", "team_id": "T1", "name": "bot", "is_bot": True}],
        "tokens": [
            {"token": t["bot"], "team_id": "T1", "user_id": "UB", "kind": "bot", "bot_id": "B1",
             "scopes": ["chat:write"]},
            {"token": t["user"], "team_id": "T1", "user_id": "U1", "kind": "user",
             "scopes": ["search:read"]},
            {"token": t["other"], "team_id": "T1", "user_id": "U2", "kind": "user",
             "scopes": ["chat:write"]}],
        "nango": {"secret_key": "nango-FAKE-" + secrets.token_hex(6), "connections": [
            {"id": 1, "connection_id": "c-both", "tags": {"end_user_id": "grace"},
             "token": t["user"], "bot_token": t["bot"], "refresh": True},
            {"id": 2, "connection_id": "c-fail", "tags": {"end_user_id": "alan"},
             "token": t["other"]}]},
    })
    return world, t


def test_refresh_failure_is_one_connection_and_bot_plus_user_revoke(
    tmp_path: Path, inventory_db: InventoryDb
) -> None:
    """A refresh failing at Nango makes that connection inconclusive (400, then 424 backoff)
    or dead (424 exhausted), never the source; a bot+user connection is two bindings, and
    revoking either revokes both tokens at Slack before the connection is deleted."""
    world, t = _bot_and_user_world()
    env = {**inventory_db.env(), "NANGO_KEY": world.nango["secret_key"]}
    with SlackSandbox(world) as slack, NangoSandbox(world) as nango:
        base = nango_cli(tmp_path, slack.url, nango.url)

        def bindings() -> dict[str, dict[str, object]]:
            rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
            return {str(b["connection_id"]): b for b in rows}

        assert nhictl("init", env=env).code == 0
        assert nhictl(*base, "reconcile", env=env).code == 0
        rows = bindings()
        assert set(rows) == {"c-both", "c-both#user", "c-fail"}
        assert {k: (r["status"], r["token_kind"]) for k, r in rows.items()} == {
            "c-both": ("active", "bot"), "c-both#user": ("active", "user"),
            "c-fail": ("active", "user")}
        assert rows["c-both"]["has_refresh_token"] and rows["c-both#user"]["has_refresh_token"]

        for state in ("refresh_failed", "refresh_failed"):  # 400, then 424 backoff
            nango.set_state("c-fail", state)
            run = nhictl(*base, "reconcile", env=env)
            assert run.code == 4, run.err  # partial: one inconclusive binding
            assert "inconclusive" in run.out + run.err
            rows = bindings()
            assert rows["c-fail"]["status"] == "active"  # status unchanged
            assert rows["c-both"]["status"] == rows["c-both#user"]["status"] == "active"
        assert [r["path"] for r in nango.requests].count("/connections") >= 3
        nango.set_state("c-fail", "refresh_exhausted")
        assert nhictl(*base, "reconcile", env=env).code == 0
        rows = bindings()
        assert rows["c-fail"]["status"] == "needs_reconnect"
        assert rows["c-fail"]["token_kind"] == "user"  # what was known is kept

        nango.requests.clear()
        done = nhictl(*base, "revoke", str(rows["c-both#user"]["id"]), "--reason", "test",
                      "--yes", env=env)
        assert done.code == 0, done.err
        assert slack.count("auth.revoke", t["user"]) == 1
        assert slack.count("auth.revoke", t["bot"]) == 1
        deletes = [r for r in nango.requests if r["method"] == "DELETE"]
        assert [r["path"] for r in deletes] == ["/connections/c-both"]
        revokes = [r.at for r in slack.requests if r.method == "auth.revoke"]
        assert max(revokes) <= deletes[0]["at"]
        rows = bindings()
        assert rows["c-both"]["status"] == rows["c-both#user"]["status"] == "revoked"
        # A connection deleted at Nango meanwhile: GET answers 404 not_found, it is gone, and
        # with it the only way to its token: Slack was never told, so the revoke fails
        # (issue 10.6) and names the way forward; nothing else is called.
        world.nango["connections"] = [c for c in world.nango["connections"]
                                      if c["connection_id"] != "c-fail"]
        nango.requests.clear()
        before = slack.count("auth.revoke")
        again = nhictl(*base, "revoke", str(rows["c-fail"]["id"]), "--reason", "test",
                       "--yes", env=env)
        assert again.code == 5, again.err
        assert "no longer holds it" in again.err and "--mark-removed" in again.err
        assert [(r["method"], r["path"]) for r in nango.requests] == [
            ("GET", "/connections/c-fail")]
        assert slack.count("auth.revoke") == before
        assert bindings()["c-fail"]["status"] == "needs_reconnect"


def test_connection_stays_at_nango_until_its_other_token_is_revoked(
    tmp_path: Path, inventory_db: InventoryDb
) -> None:
    world, t = _bot_and_user_world()
    world.faults.append({"method": "auth.revoke", "token": t["bot"], "kind": "error",
                         "error": "not_allowed_token_type", "times": 1})
    env = {**inventory_db.env(), "NANGO_KEY": world.nango["secret_key"]}
    with SlackSandbox(world) as slack, NangoSandbox(world) as nango:
        base = nango_cli(tmp_path, slack.url, nango.url)
        assert nhictl("init", env=env).code == 0
        assert nhictl(*base, "reconcile", env=env).code == 0
        rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
        user = next(b for b in rows if b["connection_id"] == "c-both#user")
        failed = nhictl(*base, "revoke", user["id"], "--reason", "test", "--yes", env=env)
        assert failed.code == 5
        assert not [r for r in nango.requests if r["method"] == "DELETE"]
        retried = nhictl(*base, "revoke", user["id"], "--reason", "test", "--yes", env=env)
        assert retried.code == 0, retried.err
        assert [r["path"] for r in nango.requests if r["method"] == "DELETE"] == [
            "/connections/c-both"]
        assert slack.count("auth.revoke", t["bot"]) == 2
        rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
        assert {b["connection_id"]: b["status"] for b in rows
                if b["connection_id"].startswith("c-both")} == {
            "c-both": "revoked", "c-both#user": "revoked"}
