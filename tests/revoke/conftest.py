"""A small world for the revoke end-to-end tests: four users, one export file."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.world import World
from tests.cli.e2e import write_private
from tests.engines import InventoryDb

NAMES = ("grace", "alan", "lin", "ada")


def _tok() -> str:
    return "xoxp-fake" + secrets.token_hex(10)


@pytest.fixture
def env(tmp_path: Path, inventory_db: InventoryDb) -> dict[str, Any]:
    tokens = {name: _tok() for name in NAMES}
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": f"U{i}", "team_id": "T1", "name": n} for i, n in enumerate(NAMES)],
        "tokens": [{"token": t, "team_id": "T1", "user_id": f"U{i}", "kind": "user",
                    "scopes": ["chat:write"]} for i, t in enumerate(tokens.values())],
    })
    config = tmp_path / "nhictl.toml"
    config.write_text('[[sources]]\nname = "export"\nkind = "file"\npath = "export.json"\n')
    export(tmp_path, tokens, NAMES)
    return {"world": world, "tokens": tokens, "tmp": tmp_path, "config": config,
            "vars": {**inventory_db.env(), "NHICTL_ACTOR": "auditor"}}


def export(tmp: Path, tokens: dict[str, str], names: tuple[str, ...]) -> None:
    write_private(tmp / "export.json", [
        {"id": n, "owner_email": f"{n}@acme.example", "tenant": "acme",
         "purpose": "notifications", "access_token": tokens[n]} for n in names])
