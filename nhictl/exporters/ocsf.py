"""OCSF 1.5.0 for ``nhictl check -o ocsf``: JSON Lines, one finding event per line, for a SIEM.

Class: a finding whose rule maps to framework controls is a **Compliance Finding** (2003):
the rule is a control check over the inventory and only that class has the ``compliance``
object (standards, requirements, control). A rule with no mapping gives a **Detection
Finding** (2004). Activity: Create for a finding new in this run, Update otherwise; status:
New, or Suppressed for a suppressed or risk-accepted one.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any, TextIO

from nhictl.exporters.base import Document
from nhictl.exporters.finding_context import (
    FRAMEWORK_NAMES,
    PRODUCT,
    VENDOR,
    epoch_ms,
    finding_context,
    masked_findings,
    requirements,
)

OCSF_VERSION = "1.5.0"
FINDINGS_CATEGORY = 2
COMPLIANCE_FINDING = (2003, "Compliance Finding")
DETECTION_FINDING = (2004, "Detection Finding")
SEVERITY_ID = {"info": (1, "Informational"), "low": (2, "Low"), "medium": (3, "Medium"),
               "high": (4, "High"), "critical": (5, "Critical")}
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


class OcsfExporter:
    def write(self, doc: Document, out: TextIO) -> None:
        ctx = finding_context(doc, "ocsf")
        masked = masked_findings(doc, ctx)
        rules = {r["rule_id"]: r for r in masked.rules}
        now = epoch_ms(doc.generated_at) or 0
        for f in masked.findings:
            event = _event(f, rules.get(f["rule_id"], {}),
                           masked.bindings.get(f.get("binding_id") or "", {}), ctx.version, now)
            out.write(json.dumps(event, ensure_ascii=True, default=str) + "\n")


def _event(f: Mapping[str, Any], rule: Mapping[str, Any], binding: Mapping[str, Any],
           version: str, now: int) -> dict[str, Any]:
    frameworks = {k: list(v) for k, v in (f.get("frameworks") or {}).items() if v}
    class_uid, class_name = COMPLIANCE_FINDING if frameworks else DETECTION_FINDING
    activity_id, activity = (1, "Create") if f.get("new") else (2, "Update")
    severity_id, severity = SEVERITY_ID[f["severity"]]
    suppressed = bool(f.get("suppressed"))
    sup = f.get("suppression") or {}
    first_seen = epoch_ms(f.get("first_seen_at")) or now
    event: dict[str, Any] = {
        "class_uid": class_uid, "class_name": class_name,
        "category_uid": FINDINGS_CATEGORY, "category_name": "Findings",
        "activity_id": activity_id, "activity_name": activity,
        "type_uid": class_uid * 100 + activity_id, "type_name": f"{class_name}: {activity}",
        "severity_id": severity_id, "severity": severity,
        "status_id": 3 if suppressed else 1, "status": "Suppressed" if suppressed else "New",
        "time": now,
        "message": f["message"],
        "metadata": {
            "version": OCSF_VERSION,
            "product": {"name": PRODUCT, "vendor_name": VENDOR, "version": version},
            "event_code": f["rule_id"],
        },
        "finding_info": {
            "uid": f["stable_id"],
            "title": f["title"],
            "desc": f["message"],
            "types": ["Non-human identity", "Delegated Slack OAuth token"],
            "first_seen_time": first_seen,
            "last_seen_time": now,
            "analytic": {"uid": f["rule_id"], "name": f["title"], "type_id": 1,
                         "type": "Rule"},
        },
        "remediation": {"desc": f["remediation"]},
        "resources": _resources(f, binding),
        "unmapped": {"evidence": f.get("evidence") or {}, "nhictl_frameworks": frameworks},
    }
    if suppressed:
        event["status_detail"] = (f"{sup.get('kind') or 'suppression'}: {sup.get('reason')} "
                                  f"(ticket {sup.get('ticket')}, expires {sup.get('expires')})")
    if frameworks:
        event["compliance"] = {
            "control": f["rule_id"],
            "desc": rule.get("rationale") or f["title"],
            "standards": [FRAMEWORK_NAMES[k][1] for k in FRAMEWORK_NAMES if k in frameworks],
            "requirements": requirements(frameworks),
            "status_id": 3, "status": "Fail",
        }
    return event


def _resources(f: Mapping[str, Any], binding: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The binding (owner, workspace as its group, tenant as its namespace, where it came
    from in ``data``) and the Slack user its token acts as; a source-level finding names the
    source."""
    binding_id = f.get("binding_id")
    if not binding_id:
        source = str((f.get("evidence") or {}).get("source") or "unknown")
        return [{"uid": source, "name": source, "type": "nhictl source"}]
    workspace = _drop_empty({"uid": binding.get("workspace_id"),
                             "name": binding.get("workspace_name"), "type": "Slack workspace"})
    owner = _drop_empty({"uid": binding.get("owner_id"), "name": binding.get("owner_name"),
                         "email_addr": _email(binding.get("owner_email")), "type": "User",
                         "type_id": 1})
    token = _drop_empty({
        "uid": binding_id,
        "name": f"{binding.get('source') or '?'}::{binding.get('connection_id') or '?'}",
        "type": "Slack OAuth token binding",
        "namespace": binding.get("tenant"),
        "labels": [str(x) for x in (binding.get("source"), binding.get("provider"),
                                    binding.get("token_kind")) if x],
        "data": _drop_empty({k: binding.get(k) for k in (
            "source", "provider", "connection_id", "tenant", "workspace_id", "workspace_name",
            "slack_user_id", "token_kind", "status")}),
    })
    if len(workspace) > 1:
        token["group"] = workspace
    if len(owner) > 2:
        token["owner"] = owner
    out = [token]
    if binding.get("slack_user_id"):
        user = {"uid": binding["slack_user_id"], "type": "Slack user",
                "name": binding.get("slack_user_id")}
        if len(workspace) > 1:
            user["group"] = workspace
        out.append(user)
    return out


def _email(value: Any) -> str | None:
    return value if isinstance(value, str) and _EMAIL.match(value) else None


def _drop_empty(d: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in d.items() if v not in (None, "", [], {})}
