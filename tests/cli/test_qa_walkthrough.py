"""What a new user meets when following the README by hand (QA walkthrough findings)."""

from __future__ import annotations

import re
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


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_export_section() -> str:
    text = README.read_text()
    start = text.index("An export (`file:` source)")
    return text[start:text.index("Validation settings live", start)]


def test_readme_documents_every_export_field_the_reader_knows() -> None:
    from nhictl.sources.export_file import KNOWN

    section = _readme_export_section()
    documented = {name for row in section.splitlines() if row.startswith("| `")
                  for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented == KNOWN


def test_readme_csv_export_example_reconciles_as_written(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    section = _readme_export_section()
    example = section[section.index("```csv") + len("```csv"):].split("```")[0].strip()
    path = tmp_path / "connections.csv"
    path.write_text(example.replace("xoxp-...", _token()) + "\n")
    path.chmod(0o600)
    result = cli("reconcile", "--no-validate", "--source", f"file:{path}")
    assert result.code == 0, result
    (row,) = cli("inventory", "list", "-o", "json").json()["bindings"]
    assert (row["owner_email"], row["tenant"], row["token_kind"]) == (
        "ada@acme.example", "acme", "user")
    assert row["declared_scopes"] == ["chat:write"] and row["purpose"] == ["notifications"]


def test_unknown_source_without_config_reads_as_a_sentence(cli: Cli, initialized: Path) -> None:
    result = cli("reconcile", "--source", "nope")
    assert result.code == 2, result
    assert "unknown source 'nope' (no source is configured)" in result.err
    assert "configured: none configured" not in result.err
