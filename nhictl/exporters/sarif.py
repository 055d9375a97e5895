"""SARIF 2.1.0 (OASIS, errata 01) for ``nhictl check -o sarif``: one run, every rule in
``tool.driver.rules``, every shown finding as a result.

For GitHub code scanning (``github/codeql-action/upload-sarif``): it keys alerts on
``ruleId`` plus ``partialFingerprints`` (here a hash of the finding's identity, so a re-upload
updates the same alerts), ranks them by the rule's ``security-severity``, and refuses a
result whose location has no ``physicalLocation.artifactLocation.uri``. Findings are about
bindings, not files: the binding is the ``logicalLocation``, and the physical location is a
placeholder URI (``nhictl/bindings/<id>``) that names no file in the repository.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TextIO
from urllib.parse import quote

from nhictl.exporters.base import Document
from nhictl.exporters.finding_context import (
    FRAMEWORK_NAMES,
    INFORMATION_URI,
    PRODUCT,
    SECURITY_SEVERITY,
    finding_context,
    framework_tags,
    masked_findings,
)

SARIF_SCHEMA = ("https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/"
                "sarif-schema-2.1.0.json")
LEVEL = {"critical": "error", "high": "error", "medium": "warning", "low": "note",
         "info": "note"}
FINGERPRINT_KEY = "nhictlFinding/v1"


class SarifExporter:
    def write(self, doc: Document, out: TextIO) -> None:
        ctx = finding_context(doc, "sarif")
        masked = masked_findings(doc, ctx)
        bindings = masked.bindings
        index = {rule["rule_id"]: i for i, rule in enumerate(masked.rules)}
        run: dict[str, Any] = {
            "tool": {"driver": {
                "name": PRODUCT, "version": ctx.version, "semanticVersion": ctx.version,
                "informationUri": INFORMATION_URI,
                "rules": [_rule(r) for r in masked.rules],
            }},
            # No automationDetails: upload-sarif's `category` fills it only when it is absent
            # (github/codeql-action src/upload-lib.ts, populateRunAutomationDetails), and
            # each filtered view needs a category of its own.
            "invocations": [{"executionSuccessful": True, "endTimeUtc": doc.generated_at}],
            "columnKind": "unicodeCodePoints",
            "results": [],
        }
        log = {"$schema": SARIF_SCHEMA, "version": "2.1.0", "runs": [run]}
        # Indented like `-o json`, except that each result is one line: the stdlib's
        # indenting encoder is pure Python, far too slow for 100,000 results.
        head = json.dumps(log, indent=2, ensure_ascii=True, default=str)
        tail = '"results": []\n    }\n  ]\n}'
        assert head.endswith(tail)
        out.write(head[: -len(tail)] + '"results": [')
        sep = "\n        "
        for f in masked.findings:
            result = _result(f, index, bindings.get(f.get("binding_id") or "", {}))
            out.write(sep + json.dumps(result, ensure_ascii=True, default=str))
            sep = ",\n        "
        out.write("\n      ]\n    }\n  ]\n}\n" if sep != "\n        " else "]\n    }\n  ]\n}\n")


def _rule(rule: Mapping[str, Any]) -> dict[str, Any]:
    severity = rule["default_severity"]
    command = str(rule.get("command") or "").replace("{binding_id}", "<binding-id>")
    run = f"\n\nRun: {command}" if command else ""
    return {
        "id": rule["rule_id"],
        "name": "".join(part.capitalize() for part in rule["rule_id"].split("_")),
        "shortDescription": {"text": rule["title"]},
        "fullDescription": {"text": rule["rationale"] or rule["title"]},
        "help": {
            "text": f"{rule['rationale']}\n\nRemediation: {rule['remediation']}{run}",
            "markdown": (f"{rule['rationale']}\n\n**Remediation:** {rule['remediation']}"
                         + (f"\n\n`{command}`" if command else "")),
        },
        "defaultConfiguration": {"level": LEVEL[severity]},
        "properties": {
            "tags": ["security", "non-human-identity", *framework_tags(rule["frameworks"])],
            "security-severity": SECURITY_SEVERITY[severity],
            "precision": "high",
            "frameworks": {FRAMEWORK_NAMES[k][1]: list(v)
                           for k, v in rule["frameworks"].items() if v},
        },
    }


def _result(f: Mapping[str, Any], index: Mapping[str, int],
            binding: Mapping[str, Any]) -> dict[str, Any]:
    digest = f["stable_id"]
    result: dict[str, Any] = {
        "ruleId": f["rule_id"],
        "level": LEVEL[f["severity"]],
        "message": {"text": f["message"]},
        "locations": [_location(f, binding)],
        # primaryLocationLineHash is the key GitHub matches on; "<hash>:<occurrence>" as it
        # writes them. Both come from the finding's identity, never from a token.
        "partialFingerprints": {"primaryLocationLineHash": f"{digest[:16]}:1",
                                FINGERPRINT_KEY: digest},
        "properties": {
            "severity": f["severity"], "security-severity": SECURITY_SEVERITY[f["severity"]],
            "title": f["title"], "remediation": f["remediation"], "evidence": f["evidence"],
            "new": f["new"], "firstSeenAt": f["first_seen_at"],
        },
    }
    if f["rule_id"] in index:
        result["ruleIndex"] = index[f["rule_id"]]
    sup = f.get("suppression")
    if f.get("suppressed") and sup:
        result["suppressions"] = [{
            "kind": "external",
            "status": "accepted",
            "justification": (f"{sup.get('reason') or 'suppressed'} (ticket "
                              f"{sup.get('ticket') or '-'}, expires {sup.get('expires') or '-'})"),
            "properties": {"nhictlKind": sup.get("kind") or "suppression"},
        }]
    return result


def _location(f: Mapping[str, Any], binding: Mapping[str, Any]) -> dict[str, Any]:
    binding_id = f.get("binding_id")
    if binding_id:
        parts = [binding.get("tenant"), binding.get("workspace_id"),
                 binding.get("slack_user_id"), binding.get("source"), binding_id]
        # "::" and not "/": a slash-joined run of ids reads as a random key to the masking.
        logical = {"name": binding_id, "kind": "resource",
                   "fullyQualifiedName": "::".join(str(p) for p in parts if p)}
        uri = f"nhictl/bindings/{quote(binding_id, safe='')}"
    else:  # a finding about a whole source (an installation store open to others)
        source = str((f.get("evidence") or {}).get("source") or "unknown")
        logical = {"name": source, "kind": "module", "fullyQualifiedName": source}
        uri = f"nhictl/sources/{quote(source, safe='')}"
    return {"physicalLocation": {"artifactLocation": {"uri": uri},
                                 "region": {"startLine": 1}},
            "logicalLocations": [logical]}
