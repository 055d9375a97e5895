"""A trial `check --policy` does not rewrite the history; `--fail-on` says why it failed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests.cli.e2e import nhictl, write_private
from tests.engines import InventoryDb


def _setup(tmp_path: Path, inventory_db: InventoryDb) -> dict[str, str]:
    env = {**inventory_db.env()}
    export = write_private(tmp_path / "e.json", [
        {"id": "c1", "owner_email": "a@x.example", "purpose": "notifications",
         "scopes": "chat:write channels:history"}])
    assert nhictl("init", env=env).code == 0
    assert nhictl("reconcile", "-s", f"file:{export}", "--no-validate", env=env).code == 0
    return env


def _exceeds(env: dict[str, str], *extra: str) -> list[dict[str, Any]]:
    result = nhictl("check", "--rule", "scope_exceeds_purpose", "-o", "json", *extra, env=env)
    assert result.code == 0, result.err
    return list(result.json()["findings"])


def test_trial_policy_run_is_not_history(tmp_path: Path, inventory_db: InventoryDb) -> None:
    env = _setup(tmp_path, inventory_db)
    (first,) = _exceeds(env)
    policy = tmp_path / "policy.toml"
    policy.write_text('[purposes.notifications]\nscopes = ["chat:write", "channels:history"]\n')
    trial = nhictl("check", "--rule", "scope_exceeds_purpose", "--policy", str(policy),
                   "-o", "json", env=env)
    assert trial.code == 0 and trial.json()["findings"] == []
    assert "trial run" in trial.err
    (again,) = _exceeds(env)
    assert again["first_seen_at"] == first["first_seen_at"]
    assert again["new"] is False


def test_fail_on_names_the_findings_even_quiet(tmp_path: Path, inventory_db: InventoryDb) -> None:
    env = _setup(tmp_path, inventory_db)
    result = nhictl("-q", "check", "--fail-on", "medium", env=env)
    assert result.code == 1
    assert "scope_exceeds_purpose" in result.err and "--fail-on medium" in result.err


def test_a_suppression_that_hides_nothing_is_reported(tmp_path: Path,
                                                      inventory_db: InventoryDb) -> None:
    env = _setup(tmp_path, inventory_db)
    (finding,) = _exceeds(env)
    (tmp_path / "sup.toml").write_text(
        f'[[suppressions]]\nrule = "scope_exceeds_purpose"\nbinding = "{finding["binding_id"]}"\n'
        'reason = "r"\nticket = "T-1"\napprover = "a"\nexpires = 2099-01-01\n'
        '[[suppressions]]\nrule = "scope_exceeds_purpose"\nbinding = "b-00"\n'
        'reason = "r"\nticket = "T-2"\napprover = "a"\nexpires = 2099-01-01\n')
    config = tmp_path / "nhictl.toml"
    config.write_text('[policy]\nsuppressions = "sup.toml"\n')
    result = nhictl("--config", str(config), "check", "--rule", "scope_exceeds_purpose",
                    "-o", "json", env=env)
    assert result.code == 0, result.err
    (shown,) = result.json()["findings"]
    assert shown["suppressed"] is True
    assert "suppression #2" in result.err and "matched no finding" in result.err
    assert "suppression #1" not in result.err
