"""`nhictl check -o ocsf`: one OCSF 1.5.0 finding event per line, each valid against the
OCSF schema of its class (JSON Schema built by the `ocsf-json-schema` package from the
schema.ocsf.io export it ships), under the check's filters and exit codes."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from nhictl.checks import all_rules
from nhictl.exporters import Document, Format, exporter_for
from nhictl.exporters.finding_context import FindingContext
from nhictl.exporters.ocsf import OCSF_VERSION
from tests.exporters.findings_env import (
    ACCEPTED,
    OFFBOARDED,
    WIDE,
    make_env,
    nhictl,
    ocsf_errors,
    ocsf_lines,
    ocsf_validator,
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_env(tmp_path, monkeypatch)


def _events(capsys: pytest.CaptureFixture[str], *args: str,
            code: int = 0) -> dict[str, dict[str, Any]]:
    got, out, err = nhictl(capsys, "check", "-o", "ocsf", *args)
    assert got == code, err
    if not out:
        return {}
    events = ocsf_lines(out)
    keyed = {e["resources"][0]["uid"] + " " + e["finding_info"]["analytic"]["uid"]: e
             for e in events}
    assert len(keyed) == len(events)
    return keyed


def test_the_ocsf_schema_bites() -> None:
    assert ocsf_validator(2003).schema["required"]  # the class schema, not an empty one
    assert ocsf_errors({"class_uid": 2003, "severity_id": 42})  # required fields, enum
    assert ocsf_errors({"class_uid": 2004, "category_uid": 2, "activity_id": 1, "type_uid": 200401,
                    "severity_id": 1, "time": 1, "metadata": {"version": "1.5.0",
                                                              "product": {"name": "x"}},
                    "finding_info": {"uid": "x"}, "resources": [{"owner": "nobody"}]})


def test_every_line_validates_against_its_ocsf_class(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _events(capsys)
    assert set(events) == {f"{OFFBOARDED} owner_offboarded", f"{ACCEPTED} owner_offboarded",
                           f"{WIDE} scope_exceeds_purpose"}
    for event in events.values():
        assert ocsf_errors(event) == []
        # Every nhictl rule maps to controls: a Compliance Finding in the Findings category.
        assert (event["class_uid"], event["category_uid"]) == (2003, 2)
        assert event["type_uid"] == 2003 * 100 + event["activity_id"]
        assert event["metadata"]["version"] == OCSF_VERSION == "1.5.0"
        product = event["metadata"]["product"]
        assert product["name"] == "nhictl" and product["vendor_name"] and product["version"]


def test_severity_status_and_activity(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    first = _events(capsys)
    offboarded = first[f"{OFFBOARDED} owner_offboarded"]
    assert (offboarded["severity_id"], offboarded["severity"]) == (5, "Critical")
    assert (offboarded["status_id"], offboarded["status"]) == (1, "New")
    assert (offboarded["activity_id"], offboarded["activity_name"]) == (1, "Create")
    wide = first[f"{WIDE} scope_exceeds_purpose"]
    assert (wide["severity_id"], wide["severity"]) == (4, "High")
    accepted = first[f"{ACCEPTED} owner_offboarded"]
    assert (accepted["status_id"], accepted["status"]) == (3, "Suppressed")
    assert "handover until June" in accepted["status_detail"]
    assert "SEC-7" in accepted["status_detail"]
    again = _events(capsys)[f"{OFFBOARDED} owner_offboarded"]
    assert (again["activity_id"], again["activity_name"]) == (2, "Update")  # seen before
    assert again["finding_info"]["uid"] == offboarded["finding_info"]["uid"]  # stable
    assert again["finding_info"]["first_seen_time"] == offboarded["finding_info"][
        "first_seen_time"] == 1780315200000  # 2026-06-01T12:00:00Z


def test_finding_info_compliance_and_resources(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _events(capsys)
    wide = events[f"{WIDE} scope_exceeds_purpose"]
    info = wide["finding_info"]
    assert len(info["uid"]) == 64 and info["uid"] != events[
        f"{OFFBOARDED} owner_offboarded"]["finding_info"]["uid"]
    assert info["title"] and "files:read" in info["desc"] and info["types"]
    assert wide["compliance"]["control"] == "scope_exceeds_purpose"
    assert wide["compliance"]["standards"] == [
        "OWASP Top 10 Non-Human Identities Risks 2025", "NIST Cybersecurity Framework 2.0",
        "NIST SP 800-53 Rev. 5", "CIS Critical Security Controls v8"]
    assert {"OWASP NHI5:2025", "NIST CSF PR.AA-05", "NIST SP 800-53 AC-6",
            "CIS v8 6.8"} <= set(wide["compliance"]["requirements"])
    assert (wide["compliance"]["status_id"], wide["compliance"]["status"]) == (3, "Fail")
    binding, user = wide["resources"]
    assert binding["uid"] == WIDE and binding["namespace"] == "globex"  # tenant
    assert binding["group"] == {"uid": "T2", "name": "Globex", "type": "Slack workspace"}
    assert binding["owner"]["email_addr"] == "bob@example.com"
    assert binding["data"]["source"] == "export" and binding["data"]["slack_user_id"] == "U2"
    assert (user["uid"], user["type"]) == ("U2", "Slack user")
    assert "hmac-sha256" not in json.dumps(wide)  # the token's fingerprint is not exported
    assert "remediation" in wide and "nhictl revoke" in wide["remediation"]["desc"]


def test_ocsf_keeps_the_check_filters_and_exit_codes(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    events = _events(capsys, "--min-severity", "critical", "--fail-on", "critical", code=1)
    assert set(events) == {f"{OFFBOARDED} owner_offboarded", f"{ACCEPTED} owner_offboarded"}
    assert set(_events(capsys, "--tenant", "globex")) == {f"{WIDE} scope_exceeds_purpose"}
    code, out, _ = nhictl(capsys, "check", "-o", "ocsf", "--rule", "dormant_binding")
    assert code == 0 and out == ""  # no findings, no lines


def _row(rule_id: str, **extra: Any) -> dict[str, Any]:
    rule = next(r for r in all_rules() if r.id == rule_id).as_dict()
    row = {"rule_id": rule_id, "severity": "medium", "binding_id": None, "title": rule["title"],
           "message": "m", "evidence": {}, "remediation": "r", "frameworks": rule["frameworks"],
           "suppressed": False, "suppression": None, "first_seen_at": None, "new": True,
           "fingerprint": f"{rule_id}:-:"}
    row.update(extra)
    return row


def _write(rows: list[dict[str, Any]]) -> str:
    ctx = FindingContext(rules=[r.as_dict() for r in all_rules()], bindings=lambda ids: {},
                         version="0.0.0")
    buf = io.StringIO()
    exporter_for(Format.OCSF).write(Document("findings", [], rows, "2026-06-01T12:00:00Z",
                                             context=ctx), buf)
    return buf.getvalue()


def test_a_rule_without_a_framework_mapping_is_a_detection_finding() -> None:
    """No controls to report against: Detection Finding (2004), no compliance object; a
    finding about a whole source names the source as its resource."""
    row = _row("token_store_exposed", frameworks={}, evidence={"source": "bolt:/srv/store"},
               fingerprint="token_store_exposed:-:bolt:/srv/store:x")
    (event,) = ocsf_lines(_write([row]))
    assert (event["class_uid"], event["class_name"]) == (2004, "Detection Finding")
    assert "compliance" not in event and ocsf_errors(event) == []
    assert event["resources"] == [{"uid": "bolt:/srv/store", "name": "bolt:/srv/store",
                                   "type": "nhictl source"}]
    assert event["finding_info"]["first_seen_time"] == event["time"]


def test_a_secret_in_a_finding_is_masked() -> None:
    token = "xoxp-" + "1234567890-" * 3 + "FAKE"
    out = _write([_row("owner_missing", message=f"leaked {token}",
                       evidence={"note": token})])
    assert token not in out and "1234567890-1234567890" not in out
    assert ocsf_errors(json.loads(out)) == []
