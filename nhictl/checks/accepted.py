"""Accepted risks: a reviewer's ``keep`` on a binding with open findings.

``review apply`` records, with the keep decision (in its ``review_decision`` event), which
findings were open then and until when the reviewer accepts them. Until that date exactly
those findings are quieted: still reported, marked accepted (``suppressed`` with
``suppression.kind = "accepted_risk"``), never counted for ``--fail-on`` nor for the packet's
recommendation. A finding of another rule is new and is not quieted; neither is a scope
finding that now names a scope the reviewer did not see. A later decision on the binding
ends the acceptance; after the expiry the findings count again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from nhictl.checks.model import BindingView, Finding
from nhictl.checks.suppressions import Suppression

# Evidence keys holding the scopes a scope finding is about, per rule.
SCOPE_EVIDENCE = {"scope_exceeds_purpose": "excess", "discovery_scope_retained": "retained",
                  "privileged_scope": "privileged", "legacy_scope": "legacy",
                  "scope_expanded": "added"}
KIND = "accepted_risk"


def finding_scopes(rule_id: str, evidence: Any) -> list[str]:
    key = SCOPE_EVIDENCE.get(rule_id)
    if not key or not isinstance(evidence, dict):
        return []
    value = evidence.get(key)
    return sorted(str(s) for s in value) if isinstance(value, list | tuple | set) else []


@dataclass(frozen=True)
class AcceptedRisk(Suppression):
    """A suppression of one finding of one binding, from a review decision."""

    scopes: tuple[str, ...] = ()
    decided_at: str = ""

    def matches(self, finding: Finding, view: BindingView | None) -> bool:
        if finding.rule_id != self.rule or finding.binding_id != self.value:
            return False
        return set(finding_scopes(finding.rule_id, finding.evidence)) <= set(self.scopes)

    def as_dict(self) -> dict[str, str]:
        return {"kind": KIND, "rule": self.rule, "binding": self.value, "reason": self.reason,
                "ticket": self.ticket, "approver": self.approver,
                "expires": self.expires.isoformat()}


def accepted_record(findings: Sequence[Finding], *, reviewer: str, reason: str,
                    decided_at: str, expires: date) -> dict[str, Any] | None:
    """What a keep decision records about the open findings it accepts (None if none)."""
    open_ = [f for f in findings if not f.suppressed]
    if not open_:
        return None
    return {"expires": expires.isoformat(), "reviewer": reviewer, "reason": reason,
            "decided_at": decided_at,
            "findings": [{"rule_id": f.rule_id, "severity": f.severity.value,
                          "scopes": finding_scopes(f.rule_id, f.evidence)} for f in open_]}


def accepted_risks(latest: dict[str, dict[str, Any]], now: datetime) -> list[AcceptedRisk]:
    """Active accepted risks from each binding's latest review decision (binding id ->
    the decision event's details), when it is a keep not yet expired."""
    out: list[AcceptedRisk] = []
    for bid, d in sorted(latest.items()):
        record = d.get("accepted_risk")
        if d.get("decision") != "keep" or not isinstance(record, dict):
            continue
        try:
            expires = date.fromisoformat(str(record.get("expires")))
        except ValueError:
            continue
        if now.date() > expires:
            continue
        decided = str(record.get("decided_at") or "")
        for item in record.get("findings") or []:
            out.append(AcceptedRisk(
                0, str(item.get("rule_id")), "binding", bid, str(record.get("reason") or ""),
                f"review decision {decided[:10]}".strip(), str(record.get("reviewer") or ""),
                expires, tuple(item.get("scopes") or ()), decided))
    return out
