"""Issue 10.8: `init` never mints a new key silently for an inventory whose key is lost."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli.e2e import write_private
from tests.conftest import Cli
from tests.engines import InventoryDb


def _fingerprints(inventory: InventoryDb) -> list[str | None]:
    return [r[0] for r in inventory.rows("select token_fingerprint from bindings order by id")]


def test_init_refuses_a_lost_key_and_leaves_the_inventory_alone(
    cli: Cli, initialized: Path, tmp_path: Path, inventory_db: InventoryDb
) -> None:
    export = write_private(tmp_path / "e.json", [
        {"id": "c1", "owner_email": "a@example.com", "access_token": "xoxp-fake-" + "1" * 12}])
    assert cli("reconcile", "--no-validate", "-s", f"file:{export}").code == 0
    key = initialized.with_name(initialized.name + ".key")
    before_prints = _fingerprints(inventory_db)
    key.unlink()
    result = cli("init")
    assert result.code == 3, result
    assert "fingerprint key" in result.err and "missing" in result.err
    assert "restore" in result.err and "--new-key" in result.err
    assert not key.exists()  # no new key was minted
    assert _fingerprints(inventory_db) == before_prints
    # Readers say the same, and point at the way back.
    listing = cli("inventory", "list")
    assert listing.code == 3 and "restore" in listing.err


def test_restored_key_works_again(cli: Cli, initialized: Path) -> None:
    key = initialized.with_name(initialized.name + ".key")
    saved = key.read_bytes()
    key.unlink()
    assert cli("init").code == 3
    key.write_bytes(saved)
    key.chmod(0o600)
    assert cli("init").code == 0
    assert key.read_bytes() == saved


def test_new_key_clears_fingerprints_so_no_change_is_reported(
    cli: Cli, initialized: Path, tmp_path: Path, inventory_db: InventoryDb
) -> None:
    export = write_private(tmp_path / "e.json", [
        {"id": "c1", "owner_email": "a@example.com", "access_token": "xoxp-fake-" + "2" * 12}])
    assert cli("reconcile", "--no-validate", "-s", f"file:{export}").code == 0
    key = initialized.with_name(initialized.name + ".key")
    old_key = key.read_bytes()
    refused = cli("init", "--new-key")
    assert refused.code == 2 and "exists" in refused.err  # only for a lost key
    key.unlink()
    rekeyed = cli("init", "--new-key")
    assert rekeyed.code == 0, rekeyed
    assert key.read_bytes() != old_key
    assert _fingerprints(inventory_db) == [None]
    again = cli("reconcile", "--no-validate", "-s", f"file:{export}", "-o", "json")
    assert again.code == 0, again
    assert again.json()["counts"].get("changed", 0) == 0
    assert _fingerprints(inventory_db)[0] is not None
    events = cli("events", "-o", "json").json()["events"]
    assert not [e for e in events if e["type"] == "changed"], json.dumps(events)


def test_sources_list_still_shows_the_config_without_a_readable_inventory(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    (tmp_path / "nhictl.toml").write_text(
        '[[sources]]\nname = "export"\nkind = "file"\npath = "e.json"\n')
    initialized.with_name(initialized.name + ".key").unlink()
    result = cli("sources", "list", "-o", "json")
    assert result.code == 0, result
    assert [r["name"] for r in result.json()["sources"]] == ["export"]
    assert "inventory not read" in result.err
    assert cli("sources", "forget", "export", "--yes", "--force").code == 3
