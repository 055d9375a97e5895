"""Issue 12 point 4: a keep with open findings is an accepted risk; shared-token conflicts."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from nhictl.catalog.loader import load_catalog
from nhictl.checks.model import Finding
from nhictl.checks.runner import run_checks
from nhictl.policy import Policy
from nhictl.review.decisions import apply_file
from nhictl.review.packet import build_packet
from nhictl.store.engine import Inventory
from tests.checks.store_helpers import add_binding, make_inventory, update_binding
from tests.review.test_apply import write_review

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)
FRESH = {"last_reviewed_at": None, "first_seen_at": "2026-11-20T00:00:00Z",
         "created_at": "2026-11-20T00:00:00Z", "last_validated_at": "2026-11-29T00:00:00Z",
         "token_expires_at": None}


def findings(inv: Inventory, bid: str, at: datetime = NOW) -> dict[str, Finding]:
    report = run_checks(inv, Policy(), load_catalog(), now=at, actor="t")
    return {f.rule_id: f for f in report.findings if f.binding_id == bid}


def test_keep_accepts_exactly_the_open_findings_until_the_review_interval(
    tmp_path: Path,
) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-0000000001", granted_scopes=["chat:write", "users:read"], **FRESH)
    before = findings(inv, "b-0000000001")
    assert not before["scope_exceeds_purpose"].suppressed
    path = write_review(tmp_path / "r.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "reviewer": "ann",
         "justification": "needs the user list", "decided_at": "2026-11-28",
         "granted_scopes": "chat:write users:read"}])
    rep = apply_file(inv, path, now=NOW, actor="a")
    assert rep.ok and rep.accepted >= 1

    after = findings(inv, "b-0000000001")
    accepted = after["scope_exceeds_purpose"]
    assert accepted.suppressed and accepted.suppression is not None
    assert accepted.suppression["kind"] == "accepted_risk"
    assert accepted.suppression["approver"] == "ann"
    assert accepted.suppression["reason"] == "needs the user list"
    assert accepted.suppression["expires"] == "2027-02-26"  # 2026-11-28 + 90 days

    packet = build_packet(inv, Policy(), load_catalog(), now=NOW)
    row = next(r for r in packet.rows if r["binding_id"] == "b-0000000001")
    assert row["recommended_action"] == "keep"
    assert "scope_exceeds_purpose (accepted)" in row["findings_marked"]
    assert "scope_exceeds_purpose (medium, accepted by ann until 2027-02-26)" in row["why"]
    assert packet.summary["findings_accepted"] >= 1

    # A new finding (another rule) is not quieted; neither is a scope the reviewer never saw.
    update_binding(inv, "b-0000000001", owner_status="deactivated",
                   granted_scopes=["chat:write", "users:read", "channels:history"])
    later = findings(inv, "b-0000000001")
    assert not later["owner_offboarded"].suppressed
    assert not later["scope_exceeds_purpose"].suppressed
    update_binding(inv, "b-0000000001", owner_status="active",
                   granted_scopes=["chat:write", "users:read"])
    assert findings(inv, "b-0000000001")["scope_exceeds_purpose"].suppressed
    expired = findings(inv, "b-0000000001", NOW + timedelta(days=90))
    assert not expired["scope_exceeds_purpose"].suppressed


def test_policy_suppressed_findings_stay_in_the_packet_marked(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-0000000001", granted_scopes=["chat:write", "users:read"], **FRESH)
    sup = tmp_path / "sup.toml"
    sup.write_text('[[suppressions]]\nrule = "scope_exceeds_purpose"\nbinding = "b-0000000001"\n'
                   'reason = "r"\nticket = "SEC-1"\napprover = "ciso"\nexpires = 2027-01-31\n')
    packet = build_packet(inv, Policy(suppressions_path=str(sup)), load_catalog(), now=NOW)
    row = packet.rows[0]
    assert "scope_exceeds_purpose (suppressed)" in row["findings_marked"]
    assert "suppressed by ciso until 2027-01-31" in row["why"]
    assert [f["state"] for f in row["findings_detail"]
            if f["rule_id"] == "scope_exceeds_purpose"] == ["suppressed"]


def test_keep_and_revoke_on_one_shared_token_conflict(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    for bid in ("b-0000000001", "b-0000000002", "b-0000000003"):
        add_binding(inv, bid, token_fingerprint="hmac-sha256:00000000000000aa"
                    if bid != "b-0000000003" else "hmac-sha256:00000000000000bb", **FRESH)
    path = write_review(tmp_path / "r.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "reviewer": "ann"},
        {"binding_id": "b-0000000002", "decision": "revoke", "reviewer": "bob"},
        {"binding_id": "b-0000000003", "decision": "revoke", "reviewer": "bob"}])
    rep = apply_file(inv, path, now=NOW, actor="a")
    assert not rep.ok and [p.line for p in rep.problems] == [2, 3]
    assert "hmac-sha256:00000000000000aa" in rep.problems[0].reason
    assert [d.binding_id for d in rep.applied] == ["b-0000000003"]
    # The recorded revoke still conflicts with a keep in a later file.
    later = write_review(tmp_path / "later.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "reviewer": "ann"}])
    update_binding(inv, "b-0000000002", last_review_decision="revoke")
    assert not apply_file(inv, later, now=NOW, actor="a").ok
    forced = apply_file(inv, path, now=NOW, actor="a", allow_conflicts=True)
    assert forced.ok and len(forced.conflicts) == 2
    assert sorted(d.binding_id for d in forced.applied) == ["b-0000000001", "b-0000000002"]
