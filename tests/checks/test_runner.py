from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from nhictl.catalog import load_catalog
from nhictl.checks import select_rules
from nhictl.checks.runner import run_checks
from nhictl.policy import Policy, build_policy
from nhictl.store import findings_repo, repo
from tests.checks.helpers import NOW
from tests.checks.store_helpers import add_binding, make_inventory, update_binding
from tests.engines import InventoryDb


def test_check_runs_track_new_resolved_and_first_seen(tmp_path: Path,
                                                      inventory_db: InventoryDb) -> None:
    inv = make_inventory(inventory_db)
    add_binding(inv, "b-00000000a1", granted_scopes=["chat:write", "files:read"])
    add_binding(inv, "b-00000000a2", owner_status="deactivated", token_fingerprint="fp2")
    try:
        first = run_checks(inv, Policy(), load_catalog(), now=NOW, actor="t")
        assert {(f.rule_id, f.binding_id) for f in first.findings} == {
            ("scope_exceeds_purpose", "b-00000000a1"), ("owner_offboarded", "b-00000000a2")}
        assert all(f.new and f.first_seen_at == "2026-06-01T12:00:00Z" for f in first.findings)
        assert first.previous_run_id is None

        update_binding(inv, "b-00000000a2", owner_status="active")
        later = NOW + timedelta(hours=1)
        second = run_checks(inv, Policy(), load_catalog(), now=later, actor="t")
        (kept,) = second.findings
        assert kept.rule_id == "scope_exceeds_purpose"
        assert not kept.new and kept.first_seen_at == "2026-06-01T12:00:00Z"
        assert second.previous_run_id == first.run_id
        assert [r["rule_id"] for r in second.resolved] == ["owner_offboarded"]
        s = second.summary()
        assert (s["new"], s["resolved"], s["by_severity"]["high"]) == (0, 1, 1)

        # A run of a subset of rules compares only against runs that covered those rules,
        # and does not replace the latest complete run for `inventory show`.
        third = run_checks(inv, Policy(), load_catalog(), now=later + timedelta(hours=1),
                           actor="t", rules=select_rules(["owner_missing"]))
        assert third.findings == [] and third.resolved == []
        with inv.engine.connect() as conn:
            latest = findings_repo.latest_findings(conn, "b-00000000a1")
            runs = repo.latest_runs(conn, kind="check")
        assert [f["rule_id"] for f in latest] == ["scope_exceeds_purpose"]
        assert len(runs) == 3 and all(r["outcome"] == "ok" for r in runs)
    finally:
        inv.dispose()


def test_scope_expanded_from_validation_events(tmp_path: Path, inventory_db: InventoryDb) -> None:
    inv = make_inventory(inventory_db)
    add_binding(inv, "b-00000000b1", granted_scopes=["chat:write", "incoming-webhook"])
    add_binding(inv, "b-00000000b2", granted_scopes=["chat:write"])
    events = [
        # first validation (basis source): the baseline, never an expansion
        repo.event_row(at="2026-05-01T00:00:00Z", run_id="r1", binding_id="b-00000000b2",
                       type="scope_changed", actor="t",
                       details={"added": ["chat:write"], "removed": [], "basis": "source"}),
        repo.event_row(at="2026-05-20T00:00:00Z", run_id="r2", binding_id="b-00000000b1",
                       type="scope_changed", actor="t",
                       details={"added": ["incoming-webhook"], "removed": [],
                                "basis": "previous_validation"}),
    ]
    with inv.engine.begin() as conn:
        repo.append_events(conn, events)
    try:
        report = run_checks(inv, Policy(), load_catalog(), now=NOW, actor="t",
                            rules=select_rules(["scope_expanded"]))
        (f,) = report.findings
        assert f.binding_id == "b-00000000b1"
        assert f.evidence["added"] == ["incoming-webhook"]
        assert f.evidence["added_at"] == {"incoming-webhook": "2026-05-20T00:00:00Z"}
    finally:
        inv.dispose()


def test_policy_suppressions_file_applies(tmp_path: Path, inventory_db: InventoryDb) -> None:
    (tmp_path / "sup.toml").write_text(
        '[[suppressions]]\nrule = "owner_offboarded"\nowner = "grace@example.com"\n'
        'reason = "leaver handover"\nticket = "SEC-9"\napprover = "ciso"\n'
        'expires = 2026-07-01\n', encoding="utf-8")
    policy, _ = build_policy({"suppressions": "sup.toml"}, None, path=tmp_path / "nhictl.toml")
    inv = make_inventory(inventory_db)
    add_binding(inv, "b-00000000c1", owner_status="deactivated")
    try:
        report = run_checks(inv, policy, load_catalog(), now=NOW, actor="t")
        (f,) = report.findings
        assert f.suppressed and f.suppression and f.suppression["reason"] == "leaver handover"
        assert report.summary()["unsuppressed"] == 0
        with inv.engine.connect() as conn:
            (stored,) = findings_repo.latest_findings(conn)
        assert stored["suppressed"] and stored["suppression"]["ticket"] == "SEC-9"
    finally:
        inv.dispose()
