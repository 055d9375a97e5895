"""Issue 12 point 4 through the CLI: conflicts exit 3 unless --allow-conflicts; revoke --yes
needs a reason or a recorded decision."""

from __future__ import annotations

import csv
import io
import secrets
from pathlib import Path

from tests.conftest import Cli, write_export


def _fill(packet: str, decisions: dict[str, str]) -> str:
    rows = list(csv.DictReader(io.StringIO(packet)))
    for row in rows:
        row["decision"] = decisions.get(row["connection_id"], "")
        row["reviewer"] = "ann" if row["decision"] else ""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_conflict_exit_3_then_allowed_and_revoke_needs_a_reason(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    shared = "xoxp-fake-" + secrets.token_hex(12)
    write_export(tmp_path / "e.json", [
        {"id": "c-1", "tenant": "acme", "team_id": "T1", "access_token": shared},
        {"id": "c-2", "tenant": "acme", "team_id": "T1", "access_token": shared},
        {"id": "c-3", "tenant": "acme", "team_id": "T1"}])
    assert cli("reconcile", "--no-validate", "--source", "file:e.json").code == 0
    packet = cli("report", "access-review", "-o", "csv")
    filled = tmp_path / "filled.csv"
    filled.write_text(_fill(packet.out, {"c-1": "keep", "c-2": "revoke"}))
    refused = cli("review", "apply", str(filled))
    assert refused.code == 3, refused
    assert "conflict: keep here but revoke on" in refused.err
    allowed = cli("review", "apply", "--allow-conflicts", str(filled))
    assert allowed.code == 0, allowed
    assert "(applied: --allow-conflicts)" in allowed.err
    assert cli("check").code == 0
    shown = cli("inventory", "show", "c-1")
    findings = shown.out.split("findings (")[1].split("events (")[0]
    assert "owner_missing [accepted]" in findings, findings  # the keep accepted it

    ids = {r["connection_id"]: r["binding_id"]
           for r in csv.DictReader(io.StringIO(packet.out))}
    bare = cli("revoke", ids["c-3"], "--yes")
    assert bare.code == 2 and "--reason" in bare.err, bare
    assert cli("revoke", ids["c-3"]).code == 0  # the plan alone needs no reason
    decided = cli("revoke", ids["c-2"], "--yes")  # a recorded revoke decision is the reason
    assert decided.code != 2 and "--reason" not in decided.err, decided
