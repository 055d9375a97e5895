"""``review apply``: per-row validation with line numbers, one transaction, idempotence."""

from __future__ import annotations

import csv
import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from nhictl.catalog.loader import load_catalog
from nhictl.checks.engine import evaluate
from nhictl.checks.registry import select_rules
from nhictl.checks.snapshot import load_snapshot
from nhictl.errors import InputFileError
from nhictl.policy import Policy
from nhictl.review.decisions import apply_file
from nhictl.review.report import REVIEW_COLUMNS
from nhictl.store import repo
from nhictl.store.engine import Inventory
from nhictl.store.tables import EVENTS, RUNS
from tests.checks.store_helpers import add_binding, binding, make_inventory, update_binding

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def write_review(path: Path, rows: list[dict[str, Any]]) -> Path:
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(REVIEW_COLUMNS), lineterminator="\r\n",
                            extrasaction="ignore")
    writer.writeheader()
    for row in rows:
        writer.writerow({"status": "active", "granted_scopes": "chat:write", **row})
    path.write_text(buf.getvalue(), encoding="utf-8")
    return path


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    inv = make_inventory(tmp_path)
    for i in range(1, 7):
        add_binding(inv, f"b-00000000{i:02d}", last_reviewed_at=None,
                    created_at="2026-01-01T00:00:00Z")
    update_binding(inv, "b-0000000002", granted_scopes=["chat:write", "users:read"])
    return inv


def events(inv: Inventory, type_: str) -> list[dict[str, Any]]:
    with inv.engine.connect() as conn:
        return list(repo.iter_events(conn, types=[type_]))


def test_valid_rows_applied_bad_rows_reported_with_lines(inv: Inventory, tmp_path: Path) -> None:
    path = write_review(tmp_path / "r.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "reviewer": "ann",
         "justification": "needed", "decided_at": "2026-11-28"},                      # line 2
        {"binding_id": "b-0000000002", "decision": "Reduce", "reviewer": "ann",
         "granted_scopes": "chat:write users:read"},                                 # line 3
        {"binding_id": "b-00000000ff", "decision": "keep", "reviewer": "ann"},       # line 4
        {"binding_id": "b-0000000003", "decision": "delete", "reviewer": "ann"},     # line 5
        {"binding_id": "b-0000000004", "decision": "revoke", "reviewer": ""},        # line 6
        {"binding_id": "b-0000000005", "decision": "keep", "reviewer": "bo",
         "status": "needs_reconnect"},                                               # line 7
        {"binding_id": "b-0000000003", "decision": ""},                              # line 8
        {"binding_id": "b-0000000001", "decision": "revoke", "reviewer": "cy"},      # line 9
        {"binding_id": "'=1+1", "decision": "keep", "reviewer": "ann"},              # line 10
        {"binding_id": "b-0000000006", "decision": "keep", "reviewer": "dee",
         "decided_at": "29/11/2026"},                                                # line 11
    ])
    rep = apply_file(inv, path, now=NOW, actor="sec-bot")
    assert not rep.ok
    problems = {p.line: p.reason for p in rep.problems}
    assert set(problems) == {4, 5, 6, 7, 9, 10, 11}
    assert problems[4] == "unknown binding" and problems[10] == "unknown binding"
    assert "bad decision 'delete'" in problems[5]
    assert problems[6] == "reviewer is missing"
    assert "changed since the packet" in problems[7] and "needs_reconnect" in problems[7]
    assert problems[9] == "binding already decided on line 2"
    assert "not an ISO 8601" in problems[11]
    assert rep.undecided == 1
    assert [(d.binding_id, d.decision) for d in rep.applied] == [
        ("b-0000000001", "keep"), ("b-0000000002", "reduce")]
    kept = binding(inv, "b-0000000001")
    assert kept["last_review_decision"] == "keep"
    assert kept["last_reviewed_at"] == "2026-11-28T00:00:00Z"
    assert json.loads(kept["approved_scopes"]) == ["chat:write"]
    reduced = binding(inv, "b-0000000002")
    assert reduced["last_review_decision"] == "reduce" and reduced["approved_scopes"] is None
    assert binding(inv, "b-0000000004")["last_review_decision"] is None
    evs = events(inv, "review_decision")
    assert [e["binding_id"] for e in evs] == ["b-0000000001", "b-0000000002"]
    assert all(e["actor"] == "sec-bot" for e in evs)
    assert evs[0]["details"]["reviewer"] == "ann" and evs[0]["details"]["line"] == 2
    assert evs[0]["details"]["justification"] == "needed"
    assert evs[1]["details"]["decided_at"] == "2026-11-29T12:00:00Z"


def test_reapplying_the_same_file_changes_nothing(inv: Inventory, tmp_path: Path) -> None:
    path = write_review(tmp_path / "r.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "reviewer": "ann"},
        {"binding_id": "b-0000000003", "decision": "revoke", "reviewer": "ann"},
    ])
    assert len(apply_file(inv, path, now=NOW, actor="a").applied) == 2
    update_binding(inv, "b-0000000003", status="revoked")  # revoked since: not a "change"
    again = apply_file(inv, path, now=NOW, actor="a")
    assert again.ok and not again.applied and len(again.already_applied) == 2
    assert len(events(inv, "review_decision")) == 2
    with inv.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(RUNS)
                            .where(RUNS.c.kind == "review")).scalar() == 1


def test_changed_scopes_are_refused(inv: Inventory, tmp_path: Path) -> None:
    path = write_review(tmp_path / "r.csv", [
        {"binding_id": "b-0000000002", "decision": "keep", "reviewer": "ann",
         "granted_scopes": "chat:write"}])
    rep = apply_file(inv, path, now=NOW, actor="a")
    assert [p.reason for p in rep.problems] == [
        "binding changed since the packet was generated: granted scopes gained users:read; "
        "review it again from a fresh packet"]
    assert binding(inv, "b-0000000002")["last_review_decision"] is None


def test_dry_run_and_malformed_files_write_nothing(inv: Inventory, tmp_path: Path) -> None:
    path = write_review(tmp_path / "r.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "reviewer": "ann"}])
    rep = apply_file(inv, path, now=NOW, actor="a", dry_run=True)
    assert len(rep.applied) == 1 and rep.run_id is None
    bad = tmp_path / "bad.csv"
    bad.write_text("binding_id,decision\r\nb-0000000001,keep\r\n")
    with pytest.raises(InputFileError, match="missing column"):
        apply_file(inv, bad, now=NOW, actor="a")
    with inv.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(EVENTS)).scalar() == 0
        assert conn.execute(select(func.count()).select_from(RUNS)).scalar() == 0


def test_keep_clears_review_overdue_and_sets_scope_baseline(
    inv: Inventory, tmp_path: Path
) -> None:
    rules = select_rules(["review_overdue", "scope_expanded"])

    def found(bid: str) -> set[str]:
        with inv.engine.connect() as conn:
            snap = load_snapshot(conn)
        return {f.rule_id for f in evaluate(snap, Policy(), load_catalog(), NOW, rules=rules)
                if f.binding_id == bid}

    assert found("b-0000000002") == {"review_overdue"}
    path = write_review(tmp_path / "r.csv", [
        {"binding_id": "b-0000000002", "decision": "keep", "reviewer": "ann",
         "granted_scopes": "chat:write,users:read"}])
    assert apply_file(inv, path, now=NOW, actor="a").ok
    assert found("b-0000000002") == set()
    update_binding(inv, "b-0000000002",
                   granted_scopes=["chat:write", "users:read", "channels:history"])
    assert found("b-0000000002") == {"scope_expanded"}


def test_only_applied_revoke_rows_are_revocable(inv: Inventory, tmp_path: Path) -> None:
    from nhictl.review.applied import applied_revokes

    def who(line: int) -> dict[str, str]:
        return {"reviewer": "ann@x", "justification": f"line {line}"}

    filled = write_review(tmp_path / "q4.csv", [
        {"binding_id": "b-0000000001", "decision": "revoke", **who(2)},
        {"binding_id": "b-0000000003", "decision": "revoke", "decided_at": "2099-01-01",
         **who(3)},  # future-dated: refused by apply
        {"binding_id": "b-0000000004", "decision": "keep", **who(4)},
        {"binding_id": "b-0000000004", "decision": "revoke", **who(5)},  # duplicate: refused
        {"binding_id": "b-0000000005", "decision": "revoke"},  # no reviewer: refused
    ])
    with inv.engine.connect() as conn, pytest.raises(InputFileError) as never:
        applied_revokes(conn, filled, NOW)
    assert "never applied" in never.value.message and "review apply" in (never.value.hint or "")
    report = apply_file(inv, filled, now=NOW, actor="ops")
    assert [d.binding_id for d in report.applied] == ["b-0000000001", "b-0000000004"]
    with inv.engine.connect() as conn:
        found = applied_revokes(conn, filled, NOW)
    assert [b["id"] for b, _ in found.targets] == ["b-0000000001"]
    assert found.targets[0][1] == "access review: revoke decided by ann@x: line 2"
    skipped = {p.line: p.reason for p in found.skipped}
    assert set(skipped) == {3, 5, 6}
    assert "is in the future" in skipped[3] and "already decided on line 4" in skipped[5]
    assert "reviewer is missing" in skipped[6]
    # A later packet decided keep: the old revoke row no longer counts.
    later = write_review(tmp_path / "q1.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "decided_at": "2026-11-29",
         **who(2)}])
    apply_file(inv, later, now=NOW, actor="ops")
    with inv.engine.connect() as conn:
        found = applied_revokes(conn, filled, NOW)
    assert found.targets == []
    assert "a later decision (keep by ann@x" in found.skipped[0].reason


def test_reapplying_an_old_file_never_overrides_a_newer_decision(
    inv: Inventory, tmp_path: Path
) -> None:
    # Q3 decided revoke, Q4 keep; re-applying Q3 (e.g. after fixing one of its bad rows) used
    # to record its revoke again as the latest decision, so `revoke --from-review q3.csv`
    # revoked a binding the latest review kept.
    from nhictl.review.applied import applied_revokes

    q3 = write_review(tmp_path / "q3.csv", [
        {"binding_id": "b-0000000001", "decision": "revoke", "reviewer": "ann",
         "decided_at": "2026-11-01"}])
    q4 = write_review(tmp_path / "q4.csv", [
        {"binding_id": "b-0000000001", "decision": "keep", "reviewer": "bob",
         "decided_at": "2026-11-20"}])
    assert len(apply_file(inv, q3, now=NOW, actor="a").applied) == 1
    assert len(apply_file(inv, q4, now=NOW, actor="a").applied) == 1
    again = apply_file(inv, q3, now=NOW, actor="a")
    assert not again.applied and len(again.already_applied) == 1
    assert binding(inv, "b-0000000001")["last_review_decision"] == "keep"
    assert len(events(inv, "review_decision")) == 2
    with inv.engine.connect() as conn:
        assert applied_revokes(conn, q3, NOW).targets == []
