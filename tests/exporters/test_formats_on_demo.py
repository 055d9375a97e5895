"""End to end on the demo (the sandbox Slack, WorkOS and Nango fakes, a bolt installation
store): `check -o sarif` and `-o ocsf` carry exactly the findings `-o json` does, validate
against their schemas, and name each finding by the same stable id in both."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from tests.exporters.findings_env import nhictl, ocsf_errors, ocsf_lines, sarif_errors


def test_sarif_and_ocsf_on_the_demo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    for var in ("NHICTL_NOW", "NHICTL_DB", "NHICTL_CONFIG"):
        monkeypatch.delenv(var, raising=False)
    out = tmp_path / "demo"
    code, _, err = nhictl(capsys, "-q", "demo", "--out", str(out))
    assert code in (0, 4), err
    where = ("--db", str(out / "inventory.db"), "--config", str(out / "nhictl.toml"))

    code, text, _ = nhictl(capsys, *where, "check", "-o", "json")
    findings = json.loads(text)["findings"]
    assert len(findings) > 10
    code, text, _ = nhictl(capsys, *where, "check", "-o", "sarif")
    log = json.loads(text)
    assert sarif_errors(log) == []
    code, text, _ = nhictl(capsys, *where, "check", "-o", "ocsf")
    events = ocsf_lines(text)
    for event in events:
        assert ocsf_errors(event) == []

    # A finding about no binding (a grant only Slack's audit log shows) is located at the
    # source that shows it.
    wanted = Counter((f["rule_id"], f["binding_id"] or f["evidence"]["source"])
                     for f in findings)
    results = log["runs"][0]["results"]
    assert Counter((r["ruleId"], r["locations"][0]["logicalLocations"][0]["name"])
                   for r in results) == wanted
    assert Counter((e["finding_info"]["analytic"]["uid"], e["resources"][0]["uid"])
                   for e in events) == wanted
    sarif_ids = {r["partialFingerprints"]["nhictlFinding/v1"] for r in results}
    assert len(sarif_ids) == len(results)
    assert {e["finding_info"]["uid"] for e in events} == sarif_ids
    sources = {e["resources"][0]["data"]["source"] for e in events
               if "data" in e["resources"][0]}  # a source-level finding names the source
    assert len(sources) > 1  # the export file and the brokers/stores, not one source only
