"""--out never overwrites a review packet that reviewers have filled in."""

from __future__ import annotations

from pathlib import Path

from tests.cli.e2e import nhictl, write_private


def test_filled_packet_is_not_overwritten(tmp_path: Path) -> None:
    env = {"NHICTL_DB": str(tmp_path / "inv.db")}
    export = write_private(tmp_path / "e.json", [{"id": "c1", "tenant": "acme"}])
    assert nhictl("init", env=env).code == 0
    assert nhictl("reconcile", "-s", f"file:{export}", "--no-validate", env=env).code == 0
    packet = tmp_path / "review.csv"
    first = nhictl("report", "access-review", "--out", str(packet), env=env)
    assert first.code == 0, first.err
    # An unfilled packet may be regenerated in place.
    assert nhictl("report", "access-review", "--out", str(packet), env=env).code == 0
    lines = packet.read_text().splitlines()
    lines[1] = lines[1].rstrip(",") + ",keep,ciso@example.com,,"
    filled = "\n".join(lines) + "\n"
    packet.write_text(filled)
    again = nhictl("report", "access-review", "--out", str(packet), env=env)
    assert again.code == 2
    assert "reviewers' decisions" in again.err
    assert packet.read_text() == filled
