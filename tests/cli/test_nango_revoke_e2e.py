"""Revoking one Nango binding asks Nango for that connection only, then deletes it."""

from __future__ import annotations

import secrets
from pathlib import Path

from nhictl.sandbox.brokers import NangoSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl


def test_revoke_one_nango_connection(tmp_path: Path) -> None:
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
    env = {"NHICTL_DB": str(tmp_path / "inv.db"), "NANGO_KEY": world.nango["secret_key"]}
    with SlackSandbox(world) as slack, NangoSandbox(world) as nango:
        config = tmp_path / "nhictl.toml"
        config.write_text(f'[[sources]]\nname = "nango"\nkind = "nango"\n'
                          f'secret_key_env = "NANGO_KEY"\nbase_url = "{nango.url}"\n')
        base = ["--config", str(config), "--slack-api-url", slack.url]
        assert nhictl("init", env=env).code == 0
        assert nhictl(*base, "reconcile", env=env).code == 0
        rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
        target = next(b for b in rows if b["connection_id"] == "c-1")
        nango.requests.clear()
        before = slack.count("auth.revoke")
        done = nhictl(*base, "revoke", target["id"], "--yes", env=env)
        assert done.code == 0, done.err
        calls = [(r["method"], r["path"]) for r in nango.requests]
        assert calls == [("GET", "/connections/c-1"), ("DELETE", "/connections/c-1")]
        assert slack.count("auth.revoke") == before + 1
        assert slack.count("auth.revoke", tokens[1]) == 1
