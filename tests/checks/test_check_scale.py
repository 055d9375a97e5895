"""`check` at scale: the fast paths (per-run memos in the rules, early-out comparisons, batched
findings writes, JSON rows straight from ``Finding.as_dict``) give what the general ones give,
and are taken."""

from __future__ import annotations

import io
import random
from collections import defaultdict
from collections.abc import Callable
from dataclasses import FrozenInstanceError, replace
from typing import Any

import pytest
from sqlalchemy import event

from nhictl import clock
from nhictl.catalog import load_catalog
from nhictl.checks import BindingView, Finding, Snapshot, evaluate, get_rule, rules_lifecycle
from nhictl.checks.rules_identity import holder_differences
from nhictl.checks.runner import run_checks
from nhictl.checks.snapshot import load_snapshot, view_from_binding
from nhictl.cli import check_cmd
from nhictl.exporters.base import Document
from nhictl.exporters.formats import JsonExporter
from nhictl.models import Severity
from nhictl.policy import Policy
from nhictl.store import findings_repo, repo
from tests.checks.helpers import NOW, clean
from tests.checks.store_helpers import add_binding, make_inventory
from tests.engines import InventoryDb

PURPOSES = [("notifications",), ("notifications", "audit"), (), ("reporting",)]
SCOPES = [("chat:write",), ("chat:write", "admin.users:read"), ("auditlogs:read",),
          ("channels:history", "chat:write", "admin"), ("users:read",)]
STAMPS = [None, "2026-05-31T12:00:00Z", "2026-01-01T00:00:00Z", "2025-06-01T00:00:00Z",
          "2026-05-20T08:30:00Z"]


def varied(n: int, seed: int = 7) -> tuple[BindingView, ...]:
    """Bindings that repeat a few purposes, scope lists, timestamps, owners and tokens (as a
    real inventory does), with some revoked, dead and odd ones."""
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        out.append(clean(
            id=f"b-{i:010d}", connection_id=f"c{i}",
            purpose=rnd.choice(PURPOSES), granted_scopes=rnd.choice([*SCOPES, None]),
            declared_scopes=rnd.choice(SCOPES),
            status=rnd.choice(["active", "active", "unvalidated", "revoked", "needs_reconnect",
                               "removed"]),
            revoked_at=rnd.choice([None, None, None, "2026-05-01T00:00:00Z"]),
            last_validated_at=rnd.choice(STAMPS), last_reviewed_at=rnd.choice(STAMPS),
            first_seen_at=rnd.choice(STAMPS),
            tenant=rnd.choice(["acme", "globex", None, ""]),
            owner_id=rnd.choice(["u1", "u2", None, " u1 "]),
            owner_email=rnd.choice(["grace@example.com", "GRACE@example.com", None, "x@y.z"]),
            workspace_id=rnd.choice(["T1", "T2", None]), source_team_id=rnd.choice(["T1", "T3"]),
            slack_user_id=rnd.choice(["U1", "U2", None]),
            token_fingerprint=f"hmac-sha256:{rnd.randrange(n // 3 + 1):016x}",
        ))
    return tuple(out)


def _findings(rule_id: str, bindings: tuple[BindingView, ...]) -> list[dict[str, Any]]:
    snap = Snapshot(bindings=bindings)
    found = evaluate(snap, Policy(), load_catalog(), NOW, rules=[get_rule(rule_id)])
    return [f.as_dict() | {"fingerprint": f.fingerprint} for f in found]


@pytest.mark.parametrize("rule_id", ["privileged_scope", "review_overdue", "validation_stale"])
def test_memoised_per_binding_rules_match_one_binding_at_a_time(rule_id: str) -> None:
    bindings = varied(400)
    whole = _findings(rule_id, bindings)
    assert whole  # the dataset exercises the rule
    one_by_one = [d for b in bindings for d in _findings(rule_id, (b,))]
    key = lambda d: (d["rule_id"], d["binding_id"])  # noqa: E731
    assert sorted(whole, key=key) == sorted(one_by_one, key=key)


def test_memoised_rules_work_out_each_repeated_value_once(monkeypatch: pytest.MonkeyPatch
                                                         ) -> None:
    calls: list[str] = []
    real = clock.parse_time

    def counting(text: str) -> Any:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(rules_lifecycle, "parse_time", counting)
    bindings = tuple(replace(clean(), id=f"b-{i:010d}", last_reviewed_at=None,
                             first_seen_at="2025-01-01T00:00:00Z") for i in range(50))
    found = _findings("review_overdue", bindings)
    assert len(found) == 50
    assert len(calls) == 2  # one first_seen_at, one due date: not 100


def _naive_holder_differences(members: list[BindingView]) -> dict[str, list[str]]:
    keys: dict[str, Callable[[BindingView], str]] = {
        "owner_id": lambda b: (b.owner_id or "").strip(),
        "owner_email": lambda b: (b.owner_email or "").strip().lower(),
        "tenant": lambda b: (b.tenant or "").strip(),
        "workspace_id": lambda b: b.team or "", "slack_user_id": lambda b: b.user or ""}
    out = {}
    for key, value_of in keys.items():
        values = sorted({v for b in members if (v := value_of(b))})
        if len(values) > 1:
            out[key] = values
    return out


def test_holder_differences_early_out_matches_the_full_comparison() -> None:
    bindings = varied(600, seed=11)
    rnd = random.Random(3)
    for _ in range(500):
        members = rnd.sample(bindings, rnd.randrange(1, 5))
        assert holder_differences(members) == _naive_holder_differences(members)


Member = tuple[str, str, tuple[str, ...]]


def _naive_cross_tenant(bindings: tuple[BindingView, ...]) -> list[Member]:
    groups: dict[tuple[str, str], list[BindingView]] = defaultdict(list)
    for b in bindings:
        if not b.revoked and b.team and b.user:
            groups[(b.team, b.user)].append(b)
    out: list[Member] = []
    for (_team, _user), members in sorted(i for i in groups.items() if len(i[1]) > 1):
        tenants = tuple(sorted({m.tenant for m in members if m.tenant}))
        if len(tenants) >= 2:
            out.extend((b.id, b.user or "", tenants) for b in members)
    return out


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_cross_tenant_prefilter_matches_the_full_grouping(seed: int) -> None:
    bindings = varied(300, seed=seed)
    found = _findings("cross_tenant_workspace", bindings)
    expected = _naive_cross_tenant(bindings)
    assert expected  # the dataset has such groups
    got = [(d["binding_id"], d["evidence"]["slack_user_id"], tuple(d["evidence"]["tenants"]))
           for d in found]
    assert sorted(got) == sorted(expected)


def _json(doc: Document) -> str:
    buf = io.StringIO()
    JsonExporter().write(doc, buf)
    return buf.getvalue()


def _sample_findings() -> list[Finding]:
    snap = Snapshot(bindings=varied(200, seed=5))
    found = evaluate(snap, Policy(), load_catalog(), NOW)
    for i, f in enumerate(found):
        f.new = i % 3 == 0
        f.first_seen_at = "2026-05-01T00:00:00Z"
        if i % 7 == 0:
            f.suppressed = True
            f.suppression = {"kind": "accepted_risk" if i % 2 else "suppression",
                             "reason": "café \u202e ok", "ticket": "SEC-1",
                             "expires": "2026-12-01"}
    return found


def test_check_json_rows_are_what_finding_row_and_finding_json_made() -> None:
    found = _sample_findings()
    assert len({f.rule_id for f in found}) > 5
    old = Document("findings", check_cmd.FINDING_TABLE,
                   (check_cmd.finding_row({**f.as_dict(), "fingerprint": f.fingerprint})
                    for f in found), "2026-06-01T12:00:00Z", extra={"summary": {"n": 1}},
                   json_row=check_cmd._finding_json)
    new = Document("findings", check_cmd.FINDING_TABLE, (f.as_dict() for f in found),
                   "2026-06-01T12:00:00Z", extra={"summary": {"n": 1}})
    assert _json(new) == _json(old)


def test_check_json_skips_the_table_rows(cli: Any, inventory_db: InventoryDb,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("init").code == 0
    inv = make_inventory(inventory_db)
    try:
        add_binding(inv, "b-00000000d1", owner_status="deactivated")
    finally:
        inv.dispose()
    assert '"owner_offboarded"' in cli("check", "-o", "json").out

    def refuse(d: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError("finding_row built for JSON output")

    monkeypatch.setattr(check_cmd, "finding_row", refuse)
    result = cli("check", "-o", "json")
    assert result.code == 0, result.err


def test_findings_are_written_a_batch_at_a_time(inventory_db: InventoryDb,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(findings_repo, "INSERT_BATCH", 2)
    inv = make_inventory(inventory_db)
    for i in range(5):
        add_binding(inv, f"b-00000000c{i}", owner_status="deactivated",
                    token_fingerprint=f"fp{i}")
    batches: list[int] = []

    def seen(conn: Any, cursor: Any, statement: str, params: Any, context: Any,
             executemany: bool) -> None:
        if statement.lstrip().upper().startswith("INSERT INTO FINDINGS"):
            batches.append(len(params) if executemany else 1)

    event.listen(inv.engine, "before_cursor_execute", seen)
    try:
        report = run_checks(inv, Policy(), load_catalog(), now=NOW, actor="t")
        with inv.engine.connect() as conn:
            stored = findings_repo.run_findings(conn, report.run_id)
    finally:
        inv.dispose()
    assert len(report.findings) == 5
    assert batches == [2, 2, 1]
    assert [(r["fingerprint"], r["severity"], r["message"], r["first_seen_at"])
            for r in stored] == [(f.fingerprint, f.severity.value, f.message, f.first_seen_at)
                                 for f in report.findings]
    assert all(f.severity is Severity.CRITICAL for f in report.findings)


def test_findings_of_one_shape_share_their_evidence_keys() -> None:
    found = _findings_objects("review_overdue", varied(50))
    assert len(found) > 2
    assert all(f.evidence_keys is found[0].evidence_keys for f in found)
    assert found[0].evidence == dict(zip(found[0].evidence_keys, found[0].evidence_values,
                                         strict=True))
    assert "Run: " in found[0].remediation or found[0].remediation == found[0].rule.remediation


def _findings_objects(rule_id: str, bindings: tuple[BindingView, ...]) -> list[Finding]:
    return evaluate(Snapshot(bindings=bindings), Policy(), load_catalog(), NOW,
                    rules=[get_rule(rule_id)])


def _store_varied(inv: Any, n: int) -> None:
    rnd = random.Random(9)
    for i in range(n):
        add_binding(
            inv, f"b-{i:010d}",
            purpose=rnd.choice([["notifications"], [], ["a", "b"]]),
            granted_scopes=rnd.choice([["chat:write"], [], None, ["admin", "users:read"]]),
            approved_scopes=rnd.choice([None, ["chat:write"]]),
            used_scopes=rnd.choice([[], ["chat:write"]]),
            status=rnd.choice(["active", "unvalidated", "", "revoked"]),
            source=rnd.choice(["export", "file:/x.json", ""]),
            connection_id=rnd.choice([f"c{i}", ""]),
            tenant=rnd.choice(["acme", None]), slack_user_deleted=rnd.choice([None, True, False]),
            token_fingerprint=rnd.choice([None, f"fp{i % 4}"]),
            last_reviewed_at=rnd.choice([None, "2026-05-02T00:00:00Z"]))


def test_snapshot_views_equal_views_of_decoded_rows(inventory_db: InventoryDb,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    inv = make_inventory(inventory_db)
    try:
        _store_varied(inv, 60)
        with inv.engine.connect() as conn:
            expected = tuple(view_from_binding(b) for b in repo.iter_bindings(conn))

            def refuse(self: Any, *args: Any, **kwargs: Any) -> None:
                raise AssertionError("BindingView.__init__ per row")

            # The snapshot builds views without the frozen dataclass's slow __init__.
            with monkeypatch.context() as m:
                m.setattr(BindingView, "__init__", refuse)
                views = load_snapshot(conn).bindings
    finally:
        inv.dispose()
    assert all(type(v) is BindingView for v in views)
    assert views == expected
    assert len({hash(v) for v in views}) == len(views)
    with pytest.raises(FrozenInstanceError):
        views[0].status = "x"  # type: ignore[misc]
