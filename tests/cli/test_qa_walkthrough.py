"""What a new user meets when following the README by hand (QA walkthrough findings)."""

from __future__ import annotations

import secrets
from pathlib import Path

from tests.conftest import Cli, write_export


def _token() -> str:
    return f"xoxp-fake-{secrets.token_hex(8)}"


def test_inventory_show_escapes_look_alike_scopes_like_inventory_list(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    fake = "chat:wr\u0456te"  # Cyrillic i: reads as chat:write
    write_export(tmp_path / "x.json", [{"id": "c1", "owner_email": "a@acme.example",
                                         "scopes": ["chat:write", fake],
                                         "access_token": _token()}])
    assert cli("reconcile", "--no-validate", "--source", f"file:{tmp_path / 'x.json'}").code == 0
    (row,) = cli("inventory", "list", "-o", "json").json()["bindings"]
    shown = cli("inventory", "show", row["id"])
    assert shown.code == 0, shown
    assert "chat:wr\\u0456te" in shown.out and fake not in shown.out
