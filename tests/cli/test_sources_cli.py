"""``nhictl sources list|test`` and the config's secret rules."""

from __future__ import annotations

import secrets
from pathlib import Path

import pytest

from nhictl.sandbox.brokers import WorkOSSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl
from tests.engines import InventoryDb


def _config(tmp: Path, body: str) -> Path:
    path = tmp / "nhictl.toml"
    path.write_text(body)
    return path


def test_list_shows_whether_secret_is_set_never_its_value(tmp_path: Path) -> None:
    key = "sk_test_FAKE" + secrets.token_hex(8)
    config = _config(tmp_path, """
[[sources]]
name = "pipes"
kind = "workos"
api_key_env = "TEST_PIPES_KEY"

[[sources]]
name = "nango"
kind = "nango"
secret_key_env = "TEST_NANGO_KEY_UNSET"
""")
    result = nhictl("--config", str(config), "sources", "list", "-o", "json",
                    env={"TEST_PIPES_KEY": key})
    assert result.code == 0, result.err
    rows = {r["name"]: r for r in result.json()["sources"]}
    assert rows["pipes"]["secret_set"] is True
    assert rows["nango"]["secret_set"] is False
    assert key not in result.out and key not in result.err
    table = nhictl("--config", str(config), "sources", "list", env={"TEST_PIPES_KEY": key})
    assert "$TEST_PIPES_KEY set" in table.out and "NOT SET" in table.out
    assert key not in table.out


def test_literal_secret_in_config_is_refused(tmp_path: Path) -> None:
    config = _config(tmp_path, """
[[sources]]
name = "pipes"
kind = "workos"
api_key = "sk_live_FAKE0123456789"
api_key_env = "X"
""")
    result = nhictl("--config", str(config), "sources", "list")
    assert result.code == 3
    assert "literal secrets are not allowed" in result.err
    assert "sk_live_FAKE0123456789" not in result.err
    assert str(config) in result.err


def test_unknown_kind_names_the_key(tmp_path: Path) -> None:
    config = _config(tmp_path, '[[sources]]\nname = "x"\nkind = "ldap"\n')
    result = nhictl("--config", str(config), "sources", "list")
    assert result.code == 3
    assert "sources[0] (x).kind" in result.err


def test_sources_test_checks_credentials(tmp_path: Path) -> None:
    good = "sk_test_FAKE" + secrets.token_hex(8)
    world = World.from_dict({"tokens": [], "workos": {"api_key": good, "users": []}})
    with WorkOSSandbox(world) as workos:
        config = _config(tmp_path, f"""
[[sources]]
name = "pipes"
kind = "workos"
api_key_env = "TEST_PIPES_KEY"
base_url = "{workos.url}"
""")
        ok = nhictl("--config", str(config), "sources", "test", "pipes",
                    env={"TEST_PIPES_KEY": good})
        bad = nhictl("--config", str(config), "sources", "test", "pipes",
                     env={"TEST_PIPES_KEY": "sk_test_wrong"})
        unset = nhictl("--config", str(config), "sources", "test", "pipes")
    assert ok.code == 0 and ok.out.startswith("pipes: ok"), ok.err
    assert bad.code == 4 and "TEST_PIPES_KEY" in bad.err
    assert "sk_test_wrong" not in bad.err
    assert unset.code == 3 and "TEST_PIPES_KEY is not set" in unset.err


@pytest.mark.engine_neutral("refused before the inventory is written")
def test_reconcile_without_sources_is_a_usage_error(tmp_path: Path,
                                                    inventory_db: InventoryDb) -> None:
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    result = nhictl("--config", str(_config(tmp_path, "")), "reconcile", env=env)
    assert result.code == 2
    assert "no sources" in result.err


@pytest.mark.engine_neutral("refused before the inventory is written")
def test_reconcile_refuses_bad_policy_before_writing(tmp_path: Path,
                                                     inventory_db: InventoryDb) -> None:
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    export = tmp_path / "e.json"
    export.write_text('[{"id": "c1"}]')
    config = _config(tmp_path, "[policy]\nmax_validation_age_day = 3\n")
    result = nhictl("--config", str(config), "reconcile", "-s", f"file:{export}",
                    "--no-validate", env=env)
    assert result.code == 3
    assert "max_validation_age_day" in result.err
    listed = nhictl("events", "-o", "json", env=env)
    assert listed.json()["events"] == []
