"""Issue 12 point 3: the review CSV carries what a reviewer needs; older packets still apply."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime
from pathlib import Path

from nhictl.catalog.loader import load_catalog
from nhictl.exporters.base import Column, Document, Format, exporter_for
from nhictl.policy import Policy
from nhictl.review.decisions import apply_file
from nhictl.review.packet import build_packet
from nhictl.review.report import REVIEW_COLUMNS
from tests.checks.store_helpers import add_binding, make_inventory
from tests.review.test_report import CONTRACT

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
APPENDED = ("source", "connection_id", "why", "recommendation_reason", "previous_decision",
            "previous_decided_at", "slack_evidence")


def packet_csv(rows: list[dict[str, object]]) -> list[dict[str, str]]:
    out = io.StringIO()
    exporter_for(Format.CSV).write(
        Document("bindings", [Column(k, k) for k in REVIEW_COLUMNS], rows, "now"), out)
    return list(csv.DictReader(io.StringIO(out.getvalue())))


def test_design_columns_first_new_ones_appended_and_documented() -> None:
    assert REVIEW_COLUMNS[:23] == tuple(CONTRACT.split(", "))
    assert REVIEW_COLUMNS[23:] == APPENDED
    readme = (Path(__file__).parents[2] / "README.md").read_text()
    assert ", ".join(REVIEW_COLUMNS).replace(" ", "") in readme.replace("\n", "").replace(
        " ", "").replace("`", "")


def test_rows_carry_source_connection_why_previous_decision_and_dead_reason(
    tmp_path: Path,
) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-0000000001", connection_id="conn-alpha", source="prod-pipes",
                granted_scopes=["chat:write", "users:read"], last_reviewed_at=None,
                first_seen_at="2026-11-20T00:00:00Z",
                last_validated_at="2026-11-29T00:00:00Z")
    add_binding(inv, "b-0000000002", connection_id="conn-dead", status="needs_reconnect",
                status_reason="slack: token_revoked", last_reviewed_at=None,
                first_seen_at="2026-11-20T00:00:00Z",
                last_validated_at="2026-11-29T00:00:00Z")
    rows = {r["binding_id"]: r for r in
            packet_csv(build_packet(inv, Policy(), load_catalog(), now=NOW).rows)}
    live = rows["b-0000000001"]
    assert (live["source"], live["connection_id"]) == ("prod-pipes", "conn-alpha")
    assert live["recommended_action"] == "reduce"
    assert "scope_exceeds_purpose (medium): " in live["why"] and "users:read" in live["why"]
    assert "Binding b-" not in live["why"]  # the row already says which binding
    assert live["previous_decision"] == "" and live["previous_decided_at"] == ""
    dead = rows["b-0000000002"]
    assert dead["recommended_action"] == "revoke"
    assert dead["recommendation_reason"].startswith(
        "dead credential: status needs_reconnect (slack: token_revoked)")

    review = tmp_path / "filled.csv"
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(REVIEW_COLUMNS), lineterminator="\r\n")
    writer.writeheader()
    writer.writerow({**live, "decision": "keep", "reviewer": "ann",
                     "decided_at": "2026-11-28"})
    review.write_text(buf.getvalue())
    assert apply_file(inv, review, now=NOW, actor="a").applied
    again = {r["binding_id"]: r for r in
             packet_csv(build_packet(inv, Policy(), load_catalog(), now=NOW).rows)}
    assert again["b-0000000001"]["previous_decision"] == "keep"
    assert again["b-0000000001"]["previous_decided_at"].startswith("2026-11-28")


def test_a_packet_in_the_older_column_set_still_applies(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-0000000001", last_reviewed_at=None)
    old = tmp_path / "old.csv"
    header = CONTRACT.split(", ")
    values = {k: "" for k in header} | {
        "binding_id": "b-0000000001", "status": "active", "granted_scopes": "chat:write",
        "decision": "revoke", "reviewer": "ann", "justification": "gone"}
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=header, lineterminator="\r\n")
    writer.writeheader()
    writer.writerow(values)
    old.write_text(buf.getvalue())
    rep = apply_file(inv, old, now=NOW, actor="a")
    assert rep.ok and [d.decision for d in rep.applied] == ["revoke"]


def test_rows_show_slack_side_evidence_in_csv_json_and_html(tmp_path: Path) -> None:
    # Issue 14: next to each row, Slack's own record of the grant (ledger entry ids cited).
    import json as jsonlib

    from nhictl.exporters.packet_html import PacketHtmlExporter
    from nhictl.ledgers.model import LedgerEntry
    from nhictl.ledgers.store import add_entries
    from nhictl.review.render import markdown

    inv = make_inventory(tmp_path)
    add_binding(inv, "b-0000000001", metadata_json=jsonlib.dumps({"app_id": "A1"}),
                last_validated_at="2026-11-29T00:00:00Z")
    add_binding(inv, "b-0000000002", workspace_id="T2", source_team_id="T2",
                slack_user_id="U2", source_slack_user_id="U2", token_fingerprint="fp2",
                last_validated_at="2026-11-29T00:00:00Z")
    with inv.engine.begin() as conn:
        add_entries(conn, [
            LedgerEntry(id="audit:1", collector="audit", kind="slack-audit",
                        action="app_installed", at="2026-05-10T09:00:00Z", app_id="A1",
                        workspace_id="T1", user_id="U1", actor_id="U1",
                        scopes=("chat:write",)),
            LedgerEntry(id="audit:2", collector="audit", kind="slack-audit",
                        action="user_deactivated", at="2026-11-20T09:00:00Z", user_id="U1",
                        actor_id="UADMIN"),
        ])
    packet = build_packet(inv, Policy(), load_catalog(), now=NOW)
    rows = {r["binding_id"]: r for r in packet_csv(packet.rows)}
    assert rows["b-0000000001"]["slack_evidence"] == (
        "installed by U1 on 2026-05-10 (chat:write) [audit:1]; "
        "user U1 deactivated by UADMIN on 2026-11-20 [audit:2]")
    assert rows["b-0000000002"]["slack_evidence"] == ""  # nothing on Slack's side
    row = next(r for r in packet.rows if r["binding_id"] == "b-0000000001")
    assert [e["ledger_entry"] for e in row["slack_history"]] == ["audit:1", "audit:2"]
    assert row["recommended_action"] == "revoke"  # owner_offboarded from the audit log
    html = io.StringIO()
    PacketHtmlExporter([]).write(packet.rows, packet.summary, "now", html)
    assert "Slack: installed by U1 on 2026-05-10" in html.getvalue()
    assert "Slack: installed by U1" in markdown(packet.rows, packet.summary, "now")
    inv.dispose()
