"""`nhictl check -o sarif`: SARIF 2.1.0 that the official schema accepts, with the rule
catalog, stable fingerprints and suppressions, under the check's filters and exit codes.

The schema is the OASIS errata-01 file, shipped in tests/exporters/data (see its README)."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator

from nhictl.checks import all_rules
from nhictl.exporters import Document, Format, exporter_for
from nhictl.exporters.finding_context import FindingContext
from tests.exporters.findings_env import (
    ACCEPTED,
    OFFBOARDED,
    SARIF_SCHEMA,
    WIDE,
    make_env,
    nhictl,
    sarif_errors,
)


@pytest.fixture
def env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    return make_env(tmp_path, monkeypatch)


def _sarif(capsys: pytest.CaptureFixture[str], *args: str, code: int = 0) -> dict[str, Any]:
    got, out, err = nhictl(capsys, "check", "-o", "sarif", *args)
    assert got == code, err
    log: dict[str, Any] = json.loads(out)
    return log


def test_the_shipped_schema_is_the_official_one_and_it_bites() -> None:
    Draft4Validator.check_schema(SARIF_SCHEMA)
    assert SARIF_SCHEMA["id"].endswith("/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json")
    assert sarif_errors({"version": "2.1.0", "runs": []}) == []
    assert sarif_errors({"version": "2.1.0", "runs": [{"tool": {"driver": {"name": "x"}},
                                                  "results": [{"level": "fatal"}]}]})


def test_check_sarif_validates_against_the_official_schema(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _sarif(capsys)
    assert sarif_errors(log) == []
    assert log["version"] == "2.1.0" and len(log["runs"]) == 1
    driver = log["runs"][0]["tool"]["driver"]
    assert driver["name"] == "nhictl" and driver["version"]
    assert driver["informationUri"].startswith("https://")
    assert "automationDetails" not in log["runs"][0]  # the uploader's category applies


def test_every_rule_is_described_with_help_tags_and_security_severity(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rules = _sarif(capsys)["runs"][0]["tool"]["driver"]["rules"]
    assert [r["id"] for r in rules] == [r.id for r in all_rules()]
    for rule, source in zip(rules, all_rules(), strict=True):
        assert rule["shortDescription"]["text"] == source.title
        assert rule["fullDescription"]["text"] == source.rationale
        assert source.rationale in rule["help"]["text"]
        assert "Remediation: " + source.remediation in rule["help"]["text"]
        assert "{binding_id}" not in rule["help"]["text"]
        tags = rule["properties"]["tags"]
        assert "security" in tags and len(tags) <= 20  # code scanning's hard limit per rule
        prefixes = {"owasp_nhi": "owasp-nhi", "nist_csf": "nist-csf",
                    "nist_800_53": "nist-800-53", "cis_v8": "cis-v8"}
        mapped = [f"{prefixes[k]}/{c}" for k, cs in source.frameworks.items() for c in cs]
        assert mapped and set(mapped) <= set(tags)
        score = float(rule["properties"]["security-severity"])  # a number, as GitHub reads it
        assert 0.0 <= score <= 10.0
    by_id = {r["id"]: r for r in rules}
    assert float(by_id["owner_offboarded"]["properties"]["security-severity"]) >= 9.0
    assert by_id["owner_offboarded"]["defaultConfiguration"]["level"] == "error"


def test_results_name_the_binding_and_map_severity(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _sarif(capsys)["runs"][0]
    rules = run["tool"]["driver"]["rules"]
    results = {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]): r
               for r in run["results"]}
    assert set(results) == {("owner_offboarded", OFFBOARDED), ("owner_offboarded", ACCEPTED),
                            ("scope_exceeds_purpose", WIDE)}
    for (rule_id, _), result in results.items():
        assert rules[result["ruleIndex"]]["id"] == rule_id
    offboarded = results[("owner_offboarded", OFFBOARDED)]
    assert offboarded["level"] == "error"  # critical
    assert offboarded["properties"]["security-severity"] == "9.5"
    assert "leaver@example.com" in offboarded["message"]["text"]
    where = offboarded["locations"][0]
    name = where["logicalLocations"][0]["fullyQualifiedName"]
    assert name == f"acme::T1::U1::export::{OFFBOARDED}"
    # GitHub needs an artifact URI; it is a placeholder naming the binding, not a file.
    assert where["physicalLocation"]["artifactLocation"]["uri"] == f"nhictl/bindings/{OFFBOARDED}"
    wide = results[("scope_exceeds_purpose", WIDE)]
    assert wide["level"] == "error" and wide["properties"]["severity"] == "high"
    assert wide["locations"][0]["logicalLocations"][0]["fullyQualifiedName"].startswith(
        "globex::T2::U2::")


def test_partial_fingerprints_are_stable_distinct_and_token_free(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def prints(log: dict[str, Any]) -> dict[tuple[str, str], dict[str, str]]:
        return {(r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"]):
                r["partialFingerprints"] for r in log["runs"][0]["results"]}

    first, second = prints(_sarif(capsys)), prints(_sarif(capsys))
    assert first == second  # a re-upload matches the same alerts
    line_hashes = [p["primaryLocationLineHash"] for p in first.values()]
    assert len(set(line_hashes)) == len(line_hashes) == 3
    assert all(h.endswith(":1") for h in line_hashes)
    assert all(len(p["nhictlFinding/v1"]) == 64 for p in first.values())
    text = json.dumps(list(first.values()))
    assert "ab" * 16 not in text and "hmac-sha256" not in text  # not the token fingerprint


def test_suppressed_finding_is_a_result_with_a_suppression(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    results = _sarif(capsys)["runs"][0]["results"]
    by_binding = {r["locations"][0]["logicalLocations"][0]["name"]: r for r in results}
    (sup,) = by_binding[ACCEPTED]["suppressions"]
    assert sup["kind"] == "external" and sup["status"] == "accepted"
    assert "handover until June" in sup["justification"] and "SEC-7" in sup["justification"]
    assert "suppressions" not in by_binding[OFFBOARDED]


def test_sarif_keeps_the_check_filters_and_exit_codes(
    env: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    log = _sarif(capsys, "--min-severity", "critical", "--fail-on", "critical", code=1)
    assert {r["ruleId"] for r in log["runs"][0]["results"]} == {"owner_offboarded"}
    log = _sarif(capsys, "--tenant", "globex", "--fail-on", "critical")  # 0: only the high one
    assert [r["ruleId"] for r in log["runs"][0]["results"]] == ["scope_exceeds_purpose"]
    assert sarif_errors(log) == []
    log = _sarif(capsys, "--rule", "dormant_binding")
    assert log["runs"][0]["results"] == [] and sarif_errors(log) == []
    assert [r["id"] for r in log["runs"][0]["tool"]["driver"]["rules"]] == ["dormant_binding"]


def test_sarif_to_a_file(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = nhictl(capsys, "check", "-o", "sarif", "--out", "nhictl.sarif")
    assert code == 0 and out == "" and "wrote nhictl.sarif" in err
    assert sarif_errors(json.loads((env / "nhictl.sarif").read_text(encoding="utf-8"))) == []


def test_sarif_and_ocsf_are_only_for_check(env: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for fmt in ("sarif", "ocsf"):
        code, _, err = nhictl(capsys, "inventory", "list", "-o", fmt)
        assert code == 2 and f"{fmt} is only for `nhictl check`" in err
        code, _, err = nhictl(capsys, "check", "--list-rules", "-o", fmt)
        assert code == 2 and "--list-rules" in err
    code, _, err = nhictl(capsys, "check", "-o", "html")
    assert code == 2 and "sarif or ocsf" in err


def test_a_document_without_findings_context_is_refused() -> None:
    from nhictl.errors import UsageError

    doc = Document("bindings", [], [], "2026-06-01T12:00:00Z")
    with pytest.raises(UsageError, match="only for `nhictl check`"):
        exporter_for(Format.SARIF).write(doc, io.StringIO())


def test_a_source_level_finding_names_the_source() -> None:
    """A finding with no binding (an installation store open to others) is located at its
    source, and a secret in its text is masked like in every other output."""
    rule = next(r for r in all_rules() if r.id == "token_store_exposed").as_dict()
    token = "xoxb-" + "1234567890-" * 3 + "FAKE"
    row = {"rule_id": rule["rule_id"], "severity": "high", "binding_id": None,
           "title": rule["title"], "message": f"store leaks {token}",
           "evidence": {"source": "bolt:/srv/app/store"}, "remediation": "chmod 600",
           "frameworks": rule["frameworks"], "suppressed": False, "suppression": None,
           "first_seen_at": "2026-06-01T12:00:00Z", "new": True,
           "fingerprint": f"{rule['rule_id']}:-:bolt:/srv/app/store:x"}
    ctx = FindingContext(rules=[rule], bindings=lambda ids: {}, version="0.0.0")
    buf = io.StringIO()
    exporter_for(Format.SARIF).write(Document("findings", [], [row], "2026-06-01T12:00:00Z",
                                              context=ctx), buf)
    log = json.loads(buf.getvalue())
    assert sarif_errors(log) == []
    (result,) = log["runs"][0]["results"]
    assert result["locations"][0]["logicalLocations"][0]["name"] == "bolt:/srv/app/store"
    assert result["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == \
        "nhictl/sources/bolt%3A%2Fsrv%2Fapp%2Fstore"
    assert token not in buf.getvalue() and "1234567890-1234567890" not in buf.getvalue()
