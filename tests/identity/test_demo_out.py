"""Issue 10.8: `nhictl demo --out DIR` never overwrites what is not its own."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.e2e import nhictl


@pytest.fixture(autouse=True)
def _no_ambient(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("NHICTL_NOW", "NHICTL_DB", "NHICTL_CONFIG", "NHICTL_KEY_FILE"):
        monkeypatch.delenv(var, raising=False)


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}


@pytest.mark.parametrize("existing", ["inventory.db", "inventory.db.key", "nhictl.toml",
                                      "notes.txt"])
def test_non_empty_directory_that_is_not_a_demo_is_refused(tmp_path: Path,
                                                           existing: str) -> None:
    out = tmp_path / "work"
    out.mkdir()
    (out / existing).write_bytes(b"the operator's own bytes\n")
    before = _tree(out)
    result = nhictl("-q", "demo", "--out", str(out))
    assert result.code == 2, result.err
    assert "not empty" in result.err and "not a previous demo" in result.err
    assert "hint:" in result.err and "new or empty directory" in result.err
    assert _tree(out) == before


def test_a_file_as_out_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "inventory.db"
    target.write_bytes(b"x")
    result = nhictl("-q", "demo", "--out", str(target))
    assert result.code == 2 and "not a directory" in result.err
    assert target.read_bytes() == b"x"


def test_previous_demo_is_replaced_and_foreign_files_kept(tmp_path: Path) -> None:
    out = tmp_path / "demo"
    first = nhictl("-q", "demo", "--out", str(out))
    assert first.code in (0, 4), first.err
    assert (out / ".nhictl-demo").is_file()
    old_key = (out / "inventory.db.key").read_bytes()
    (out / "my-notes.txt").write_text("kept\n")
    again = nhictl("-q", "demo", "--out", str(out))
    assert again.code in (0, 4), again.err
    assert (out / "inventory.db.key").read_bytes() != old_key  # the demo's own: replaced
    assert (out / "my-notes.txt").read_text() == "kept\n"
