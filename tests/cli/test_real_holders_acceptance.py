"""Issue 10 "Done when", end to end through the real CLI against the loopback sandboxes.

1. One ``nhictl reconcile`` over one nhictl.toml holding three slack_sdk installation stores
   (written by slack_sdk's own classes under umask 022), a Nango with a refresh-failed and a
   bot+user connection, and a WorkOS user in two organizations: every binding right, the
   exposed stores reported by ``nhictl check``.
2. One export reconciled under three spellings: one binding per connection, no token_shared.
3. ``revoke`` of a binding whose token nhictl cannot get: exit 5, no ``revoked``, no
   auth.revoke at Slack.

The worlds and stores are the ones the focused e2e tests build; only their union is new here.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.brokers import NangoSandbox, WorkOSSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl
from tests.cli.test_brokers_truth_e2e import _world as broker_world
from tests.cli.test_stores_e2e import _config as stores_config
from tests.cli.test_stores_e2e import _stores as slack_sdk_stores
from tests.conftest import write_export
from tests.engines import InventoryDb


def _union(stores: World, brokers: World) -> World:
    """One Slack sandbox answering for the stores' tokens and the brokers' tokens."""
    stores.teams.update(brokers.teams)
    stores.users.update(brokers.users)
    stores.tokens.update(brokers.tokens)
    stores.nango, stores.workos = brokers.nango, brokers.workos
    return stores


def test_one_reconcile_over_every_real_holder(open_dir: Path, tmp_path: Path,
                                              inventory_db: InventoryDb) -> None:
    world, paths = slack_sdk_stores(open_dir, tmp_path)
    world = _union(world, broker_world())
    env = {**inventory_db.env(), "NANGO_KEY": world.nango["secret_key"],
           "PIPES_KEY": world.workos["api_key"]}
    with SlackSandbox(world) as slack, NangoSandbox(world) as nango, \
            WorkOSSandbox(world) as workos:
        config = stores_config(tmp_path, paths)
        with config.open("a") as fh:
            fh.write(f'\n[[sources]]\nname = "nango"\nkind = "nango"\n'
                     f'secret_key_env = "NANGO_KEY"\nbase_url = "{nango.url}"\n'
                     f'\n[[sources]]\nname = "pipes"\nkind = "workos"\n'
                     f'api_key_env = "PIPES_KEY"\nbase_url = "{workos.url}"\n')
        env["NHICTL_CONFIG"] = str(config)
        assert nhictl("init", env=env).code == 0
        run = nhictl("--slack-api-url", slack.url, "reconcile", "-o", "json", env=env)
        rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
        check = nhictl("check", "-o", "json", env=env)

    assert run.code == 4, (
        "exit 4 only because Nango could not refresh c-fail (inconclusive), got "
        f"{run.code}: {run.err}")
    report = run.json()
    assert {s["name"]: s["complete"] for s in report["sources"]} == dict.fromkeys(
        ("sqlite-store", "file-store", "alchemy-store", "nango", "pipes"), True), report
    (inconclusive,) = report["inconclusive"]
    assert "connection c-fail: Nango could not refresh the token" in inconclusive["reason"]

    got = {(b["source"], b["connection_id"]): (
        b["token_kind"], b["status"], b["tenant"], b["owner_status"], b["enterprise_id"])
        for b in rows}
    assert got == {
        ("sqlite-store", "A1:-:T1:U1:user"): ("user", "active", None, None, None),
        ("sqlite-store", "A1:-:T1:bot"): ("bot", "active", None, None, None),
        ("file-store", "A1:E1:-:U3:user"): ("user", "active", None, None, "E1"),
        ("file-store", "A1:E1:-:bot"): ("bot", "active", None, None, "E1"),
        ("file-store", "A1:-:T2:bot"): ("bot", "active", None, None, None),
        ("alchemy-store", "A1:-:T5:U5:user"): ("user", "active", None, None, None),
        ("alchemy-store", "A1:-:T5:bot"): ("bot", "active", None, None, None),
        ("nango", "c-both"): ("bot", "active", None, None, None),
        ("nango", "c-both#user"): ("user", "active", None, None, None),
        ("nango", "c-fail"): (None, "unvalidated", None, None, None),
        ("pipes", "acct_a"): ("user", "active", "org_a", "active", None),
        ("pipes", "acct_b"): ("user", "active", "org_b", "inactive", None),
    }

    assert check.code in (0, 1), check.err
    exposed = {f["evidence"]["source"]: f["severity"] for f in check.json()["findings"]
               if f["rule_id"] == "token_store_exposed"}
    # sqlite and file stores sit in a 0755 directory; the SQLAlchemy db behind pytest's 0700s.
    assert exposed == {"sqlite-store": "high", "file-store": "high", "alchemy-store": "medium"}


def _export_world(tmp: Path, n: int = 3) -> tuple[World, list[dict[str, Any]]]:
    """An export of ``n`` user tokens the sandbox Slack knows."""
    records = [{"id": f"c{i}", "owner_email": f"user{i}@acme.example", "tenant": "acme",
                "access_token": "xoxp-FAKE-" + secrets.token_hex(8)} for i in range(1, n + 1)]
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": f"U{i}", "team_id": "T1", "name": f"user{i}"} for i in range(1, n + 1)],
        "tokens": [{"token": r["access_token"], "team_id": "T1", "user_id": f"U{i}",
                    "kind": "user", "scopes": ["chat:write"]}
                   for i, r in enumerate(records, start=1)]})
    write_export(tmp / "x.json", records)
    return world, records


def test_three_spellings_of_one_export_are_one_source(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inventory_db: InventoryDb
) -> None:
    world, _ = _export_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        for spelling in ("x.json", "./x.json", str(tmp_path / "x.json")):
            run = nhictl("--slack-api-url", slack.url, "reconcile", "-s", f"file:{spelling}",
                         env=env)
            assert run.code == 0, (spelling, run.err)
    rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
    assert sorted(b["connection_id"] for b in rows) == ["c1", "c2", "c3"]
    assert {b["source"] for b in rows} == {"file:" + os.path.realpath(tmp_path / "x.json")}
    assert {b["status"] for b in rows} == {"active"}
    check = nhictl("check", "-o", "json", env=env)
    assert check.code in (0, 1), check.err
    assert "token_shared" not in {f["rule_id"] for f in check.json()["findings"]}


def test_revoke_without_the_token_fails_and_records_no_revoked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, inventory_db: InventoryDb
) -> None:
    world, records = _export_world(tmp_path)
    monkeypatch.chdir(tmp_path)
    env = {**inventory_db.env(), "NHICTL_ACTOR": "auditor"}
    assert nhictl("init", env=env).code == 0
    with SlackSandbox(world) as slack:
        cli = ("--slack-api-url", slack.url)
        assert nhictl(*cli, "reconcile", "-s", "file:x.json", env=env).code == 0
        ids = {b["connection_id"]: b["id"] for b in nhictl(
            "inventory", "list", "-o", "json", env=env).json()["bindings"]}
        write_export(tmp_path / "x.json", [r for r in records if r["id"] != "c2"])
        assert nhictl(*cli, "reconcile", "-s", "file:x.json", env=env).code == 0
        gone = ids["c2"]

        done = nhictl(*cli, "revoke", gone, "--reason", "test", "--yes", env=env)
        assert done.code == 5, done.err
        assert "--token-stdin" in done.err
        assert slack.count("auth.revoke") == 0
    events = nhictl("events", "--binding", gone, "-o", "json", env=env).json()["events"]
    assert "revoked" not in {ev["type"] for ev in events}
    rows = nhictl("inventory", "list", "-o", "json", env=env).json()["bindings"]
    assert {b["id"]: b["status"] for b in rows}[gone] == "removed"
    for record in records:
        assert record["access_token"] not in done.out + done.err
