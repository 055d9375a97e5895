"""What ``nhictl scopes explain`` says about one scope (pure)."""

from __future__ import annotations

from typing import Any

from nhictl.catalog.loader import Catalog
from nhictl.checks.rules_scopes import LEGACY_SCOPES
from nhictl.policy import Policy


def explain_scope(catalog: Catalog, policy: Policy, name: str) -> dict[str, Any]:
    """Catalog entry plus the policy's view; unknown name -> UsageError with a suggestion."""
    info = catalog.require(name.strip())
    allowing = policy.purposes_allowing(info.name)
    transient = [p for p in allowing if policy.purposes[p].transient]
    flags = []
    if info.name == "admin" or info.name.startswith("admin.") or info.name == "auditlogs:read" \
            or info.risk.value == "critical":
        flags.append("privileged_scope")
    if info.name in LEGACY_SCOPES:
        flags.append("legacy_scope")
    return {
        **info.as_dict(),
        "allowed_by_purposes": allowing,
        "transient_in": transient,
        "policy": policy.origin,
        "rules_always_flagging": flags,
    }


def explain_text(data: dict[str, Any]) -> str:
    allowing = ", ".join(data["allowed_by_purposes"]) or "none (held anywhere it is excess)"
    lines = [
        f"{data['scope']}",
        f"  risk:          {data['risk']} - {data['risk_reason']}",
        f"  exposes:       {data['data_exposed']}",
        f"  access:        {data['access']}",
        f"  token types:   {data['token_types']}",
        f"  status:        {data['status']}"
        + (f" ({data['status_note']})" if data["status_note"] else ""),
        f"  purposes:      {allowing}  [{data['policy']}]",
    ]
    if data["transient_in"]:
        lines.append(f"  transient in:  {', '.join(data['transient_in'])} "
                     "(drop it once a channel is chosen)")
    if data["rules_always_flagging"]:
        lines.append(f"  always flagged by: {', '.join(data['rules_always_flagging'])}")
    if data["review_note"]:
        lines.append(f"  review note:   {data['review_note']}")
    return "\n".join(lines)
