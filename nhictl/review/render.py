"""The review packet as Markdown, grouped by tenant and owner (for a ticket or a wiki)."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import groupby
from typing import Any

from nhictl.exporters.packet_html import action_rank
from nhictl.review.report import INSTRUCTIONS
from nhictl.untrusted import ascii_escaped, md, md_code


def _md(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, list | tuple):
        # Scope names are ASCII: anything else shown escaped, so a look-alike stands out.
        return ", ".join(f"`{_code(ascii_escaped(str(v)))}`" for v in value) if value else "—"
    return md(value)


def _why(row: dict[str, Any]) -> str:
    """The reason, and Slack's own record of the grant when there is one (issue 14)."""
    reason = str(row.get("action_reason") or "")
    slack = row.get("slack_evidence")
    return f"{reason} Slack: {slack}".strip() if slack else reason


def _code(value: Any) -> str:
    return md_code(value)


def markdown(rows: Sequence[dict[str, Any]], summary: dict[str, Any], generated_at: str) -> str:
    out: list[str] = ["# Access review", "", f"Generated {generated_at}; "
                      f"{summary['bindings']} binding(s).", ""]
    actions = summary["recommended_actions"]
    out.append("Recommended: " + ", ".join(f"{k} {v}" for k, v in actions.items()) + ".")
    sev = ", ".join(f"{k} {v}" for k, v in summary["by_severity"].items() if v)
    out.append(f"Findings: {sev or 'none'}.")
    out += ["", "## How to review", ""]
    out += [f"* {line}" for line in INSTRUCTIONS]
    if not rows:
        out += ["", "_No bindings to review._", ""]
        return "\n".join(out)

    def tenant_of(r: dict[str, Any]) -> str:
        return str(r.get("tenant") or "")

    def owner_of(r: dict[str, Any]) -> str:
        return str(r.get("owner_email") or r.get("owner_id") or "")

    for tenant, in_tenant in groupby(rows, key=tenant_of):
        out += ["", f"## Tenant {_md(tenant) if tenant else '(none recorded)'}"]
        for owner, owned in groupby(list(in_tenant), key=owner_of):
            out += ["", f"### Owner {_md(owner) if owner else '(no recorded owner)'}", ""]
            out.append("| binding | workspace | kind | status | granted scopes | excess | "
                       "findings | recommended | why | revoke |")
            out.append("|---|---|---|---|---|---|---|---|---|---|")
            for r in sorted(owned, key=action_rank):  # rows that need action first
                ws = r.get("workspace_name") or r.get("workspace_id")
                cmd = f"`{_code(r['revoke_command'])}`" if r.get("revoke_command") else "—"
                out.append(
                    f"| `{_code(r['binding_id'])}` | {_md(ws)} | {_md(r.get('token_kind'))} | "
                    f"{_md(r.get('status'))} | {_md(r.get('granted_scopes'))} | "
                    f"{_md(r.get('excess_scopes'))} | "
                    f"{_md(r.get('findings_marked', r.get('findings')))} | "
                    f"**{_md(r['recommended_action'])}** | {_md(_why(r))} | "
                    f"{cmd} |"
                )
    out.append("")
    return "\n".join(out)
