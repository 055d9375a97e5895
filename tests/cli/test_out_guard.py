"""--out never overwrites a review packet that reviewers have filled in."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.cli.e2e import nhictl, write_private
from tests.engines import InventoryDb


@pytest.mark.engine_neutral("the --out file guard")
def test_filled_packet_is_not_overwritten(tmp_path: Path, inventory_db: InventoryDb) -> None:
    env = {**inventory_db.env()}
    export = write_private(tmp_path / "e.json", [{"id": "c1", "tenant": "acme"}])
    assert nhictl("init", env=env).code == 0
    assert nhictl("reconcile", "-s", f"file:{export}", "--no-validate", env=env).code == 0
    packet = tmp_path / "review.csv"
    first = nhictl("report", "access-review", "--out", str(packet), env=env)
    assert first.code == 0, first.err
    # An unfilled packet may be regenerated in place.
    assert nhictl("report", "access-review", "--out", str(packet), env=env).code == 0
    rows = list(csv.DictReader(io.StringIO(packet.read_text())))
    rows[0].update(decision="keep", reviewer="ciso@example.com")  # by name: columns may grow
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    filled = buf.getvalue()
    packet.write_text(filled)
    again = nhictl("report", "access-review", "--out", str(packet), env=env)
    assert again.code == 2
    assert "reviewers' decisions" in again.err
    assert packet.read_text() == filled
