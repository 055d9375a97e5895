"""Access-review packet rows (pure): one row per binding, with the recommended action.

The CSV columns and their order are a contract (DESIGN.md, "Output shapes"; issue 12's columns
appended after them, README "Using it on your own bindings"). The JSON,
Markdown and HTML forms carry the same rows plus ``action_reason`` and the findings' detail.
"""

from __future__ import annotations

import re
import shlex
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

from nhictl.checks.accepted import finding_scopes
from nhictl.models import Severity, Status
from nhictl.review.slack_words import history_in_words

REVIEW_COLUMNS: tuple[str, ...] = (
    "binding_id", "tenant", "owner_id", "owner_email", "owner_status", "workspace_id",
    "workspace_name", "slack_user_id", "token_kind", "purpose", "granted_scopes",
    "excess_scopes", "status", "last_validated_at", "last_used_at", "findings", "max_severity",
    "recommended_action", "revoke_command", "decision", "reviewer", "decided_at",
    "justification",
    # Appended in issue 12 (after the DESIGN.md columns, so older packets and tools that
    # read columns by position keep working): where the binding lives, the findings in
    # words, why the recommendation is what it is, and the binding's previous decision.
    "source", "connection_id", "why", "recommendation_reason", "previous_decision",
    "previous_decided_at",
    # Appended in issue 14: Slack's own record of the grant (who installed it, scope
    # expansions, an uninstall, the user leaving), with the ledger entry ids.
    "slack_evidence",
)
DECISION_COLUMNS: tuple[str, ...] = ("decision", "reviewer", "decided_at", "justification")
ACTIONS: tuple[str, ...] = ("keep", "reduce", "revoke", "investigate")
DECISIONS: tuple[str, ...] = ("keep", "revoke", "reduce")

REVOKE_RULES = frozenset({"owner_offboarded", "dead_token_retained", "token_shared",
                          "identity_mismatch", "uninstalled_still_held",
                          "installer_departed"})
REDUCE_RULES = frozenset({"scope_exceeds_purpose", "privileged_scope", "legacy_scope",
                          "discovery_scope_retained", "scope_expanded"})
INVESTIGATE_RULES = frozenset({"validation_stale", "dormant_binding", "owner_missing",
                               "purpose_undeclared", "cross_tenant_workspace"})
# Findings that say "review this" or are hygiene notes; they never change the action.
NEUTRAL_RULES = frozenset({"review_overdue", "token_never_expires", "suppression_expired"})
DEAD_STATUSES = frozenset({Status.NEEDS_RECONNECT.value, Status.EXPIRED.value,
                           Status.REMOVED.value})
# Rule messages open with the binding's description, which the row already shows.
_DESCRIBED = re.compile(r"^Binding b-[0-9a-f]+ \((?:owner [^,]*, )?workspace [^)]*\)+ ")
_RANK = {"keep": 0, "investigate": 1, "reduce": 2, "revoke": 3}

INSTRUCTIONS: tuple[str, ...] = (
    "For every row, fill in decision (keep, reduce or revoke), reviewer (your name or email), "
    "decided_at (ISO date, optional: defaults to the import time) and justification.",
    "keep: the access is still needed as granted; its current scopes become the approved "
    "baseline.",
    "reduce: the access is needed but with fewer scopes; the owner must reconnect with only "
    "the scopes the purpose needs.",
    "revoke: the access is not needed; nhictl revokes the token at Slack and removes the "
    "connection at its broker.",
    "recommended_action is nhictl's suggestion from the findings; you decide.",
    "Leave binding_id, status and granted_scopes as they are: rows whose binding changed "
    "since the packet was generated are refused, so decisions are made on current facts.",
    "Return the file; the security team runs: nhictl review apply FILE, then "
    "nhictl revoke --from-review FILE --yes.",
)


@dataclass(frozen=True)
class Recommendation:
    action: str
    reason: str


_SEVERITIES = {s.value: s for s in Severity}
_RANKS = {s.value: s.rank for s in Severity}
_INFO, _LOW, _MEDIUM, _HIGH = (Severity.INFO.rank, Severity.LOW.rank, Severity.MEDIUM.rank,
                               Severity.HIGH.rank)
_REVOKED = Status.REVOKED.value
_UNVALIDATED = Status.UNVALIDATED.value


def _severity(value: str) -> Severity:
    return _SEVERITIES.get(value, Severity.INFO)


def _rank(value: str) -> int:
    return _RANKS.get(value, _INFO)


def _message(f: dict[str, Any]) -> str:
    """A finding's message without the binding's description (which the row shows)."""
    text = str(f.get("message") or f.get("title") or "")
    return _DESCRIBED.sub("", text, count=1) if text.startswith("Binding b-") else text


def recommend(binding: dict[str, Any], findings: Sequence[dict[str, Any]]) -> Recommendation:
    """The action a reviewer is advised to take, and why (unsuppressed findings only)."""
    status = binding.get("status") or _UNVALIDATED
    if status == _REVOKED:
        return Recommendation("keep", f"already revoked ({binding.get('revoke_reason') or ''})"
                              .replace(" ()", ""))
    candidates: list[tuple[str, int, str]] = []  # (action, severity rank, reason)
    if status in DEAD_STATUSES:
        why = binding.get("status_reason") or status
        candidates.append(("revoke", _HIGH,
                           f"dead credential: status {status} ({why})"))
    if binding.get("last_validation_outcome") == "inconclusive":
        candidates.append(("investigate", _LOW,
                           "last validation was inconclusive"))
    for f in findings:
        if f.get("suppressed"):
            continue
        rule = str(f.get("rule_id"))
        sev = _rank(str(f.get("severity")))
        if rule in REVOKE_RULES:
            action = "revoke"
        elif rule in REDUCE_RULES:
            action = "reduce"
        elif rule in INVESTIGATE_RULES:
            action = "investigate"
        elif rule in NEUTRAL_RULES or sev < _MEDIUM:
            continue
        else:
            action = "investigate"
        candidates.append((action, sev, f"{rule}: {_message(f)}"))
    if not candidates:
        return Recommendation("keep", "no findings that call for a change")
    candidates.sort(key=lambda c: (-_RANK[c[0]], -c[1]))
    action, _, reason = candidates[0]
    others = sum(1 for c in candidates[1:] if c[0] == action)
    if others:
        reason += f" (+{others} more)"
    return Recommendation(action, reason)


def revoke_command(binding_id: str) -> str:
    return f"nhictl revoke {binding_id} --reason {shlex.quote('access review')}"


def _scopes(value: Any) -> list[str]:
    return [str(s) for s in value] if value else []


def finding_state(f: dict[str, Any]) -> str:
    """``open``, ``accepted`` (a reviewer's keep) or ``suppressed`` (the suppressions file)."""
    if not f.get("suppressed"):
        return "open"
    sup = f.get("suppression") or {}
    return "accepted" if sup.get("kind") == "accepted_risk" else "suppressed"


def _mark(f: dict[str, Any]) -> str:
    """How a quieted finding is marked, e.g. ``accepted by ann until 2027-02-26``."""
    sup = f.get("suppression") or {}
    state = finding_state(f)
    who = f" by {sup['approver']}" if sup.get("approver") else ""
    until = f" until {sup['expires']}" if sup.get("expires") else ""
    return f"{state}{who}{until}"


def findings_in_words(findings: Sequence[dict[str, Any]]) -> str:
    """The findings as sentences (what the HTML's detail shows): open ones first, most
    severe first, then the accepted and suppressed ones, marked as such."""
    ordered = sorted(findings, key=lambda f: (finding_state(f) != "open",
                                              -_rank(str(f.get("severity"))),
                                              str(f.get("rule_id"))))
    parts = []
    for f in ordered:
        message = _message(f)
        mark = "" if finding_state(f) == "open" else f", {_mark(f)}"
        parts.append(f"{f.get('rule_id')} ({f.get('severity')}{mark}): {message}".rstrip())
    return "; ".join(parts)


def review_row(binding: dict[str, Any], findings: Sequence[dict[str, Any]]) -> dict[str, Any]:
    """One packet row from a decoded binding (``repo.decode_binding``) and its findings."""
    active = [f for f in findings if not f.get("suppressed")]
    excess: set[str] = set()
    for f in active:
        excess.update(finding_scopes(str(f.get("rule_id")), f.get("evidence")))
    top = ""
    if active:  # the first of the most severe (as max() picks)
        best = max(active, key=lambda f: _rank(str(f.get("severity"))))
        top = _severity(str(best.get("severity"))).value
    rec = recommend(binding, findings)
    revoked = binding.get("status") == _REVOKED
    rules = sorted({str(f.get("rule_id")) for f in active})
    return {
        "binding_id": binding["id"],
        "tenant": binding.get("tenant"),
        "owner_id": binding.get("owner_id"),
        "owner_email": binding.get("owner_email"),
        "owner_status": binding.get("owner_status"),
        "workspace_id": binding.get("workspace_id") or binding.get("source_team_id"),
        "workspace_name": binding.get("workspace_name"),
        "slack_user_id": binding.get("slack_user_id") or binding.get("source_slack_user_id"),
        "token_kind": binding.get("token_kind"),
        "purpose": _scopes(binding.get("purpose")),
        "granted_scopes": sorted(_scopes(binding.get("granted_scopes"))),
        "excess_scopes": sorted(excess),
        "status": binding.get("status"),
        "last_validated_at": binding.get("last_validated_at"),
        "last_used_at": binding.get("last_used_at"),
        "findings": rules,
        "max_severity": top,
        "recommended_action": rec.action,
        "revoke_command": "" if revoked else revoke_command(binding["id"]),
        "decision": "",
        "reviewer": "",
        "decided_at": "",
        "justification": "",
        "source": binding.get("source"),
        "connection_id": binding.get("connection_id"),
        "why": findings_in_words(findings),
        "recommendation_reason": rec.reason,
        "previous_decision": binding.get("last_review_decision") or "",
        "previous_decided_at": binding.get("last_reviewed_at") or "",
        "slack_evidence": history_in_words(binding.get("slack_history") or []),
        # Not CSV columns: JSON, Markdown and HTML only.
        "action_reason": rec.reason,
        "owner_name": binding.get("owner_name"),
        "owner": binding.get("owner_email") or binding.get("owner_id"),
        "workspace": binding.get("workspace_name") or binding.get("workspace_id")
        or binding.get("source_team_id"),
        "slack_history": list(binding.get("slack_history") or []),
        # Every finding, quieted ones marked: accepted or suppressed is never hidden.
        "findings_marked": rules + sorted(f"{f.get('rule_id')} ({finding_state(f)})"
                                          for f in findings if f.get("suppressed")),
        "findings_detail": [
            {"rule_id": f.get("rule_id"), "severity": f.get("severity"),
             "message": f.get("message"), "state": finding_state(f),
             "suppression": f.get("suppression")} for f in findings
        ],
    }


def packet_order(binding: dict[str, Any]) -> tuple[str, str, str]:
    """Where a binding's row goes in the packet: by tenant, owner, binding id."""
    return (binding.get("tenant") or "",
            binding.get("owner_email") or binding.get("owner_id") or "", binding["id"])


def iter_rows(
    bindings: Iterable[dict[str, Any]],
    findings: Iterable[dict[str, Any]],
    *,
    include_revoked: bool = False,
    ordered: bool = False,
    findings_of: Callable[[str], Sequence[dict[str, Any]]] | None = None,
) -> Iterator[dict[str, Any]]:
    """Packet rows one at a time, sorted by tenant, owner, binding id (``ordered``: the
    bindings already come in :func:`packet_order`), revoked ones only when asked.
    ``findings_of``: a binding id's findings (instead of grouping ``findings``)."""
    if findings_of is None:
        by_binding: dict[str, list[dict[str, Any]]] = {}
        for f in findings:
            if f.get("binding_id"):
                by_binding.setdefault(str(f["binding_id"]), []).append(f)
        findings_of = lambda bid: by_binding.get(bid, [])  # noqa: E731
    kept: Iterable[dict[str, Any]] = (
        b for b in bindings if include_revoked or b.get("status") != Status.REVOKED.value)
    if not ordered:
        kept = sorted(kept, key=packet_order)
    for b in kept:
        yield review_row(b, findings_of(b["id"]))


def build_rows(
    bindings: Iterable[dict[str, Any]],
    findings: Iterable[dict[str, Any]],
    *,
    include_revoked: bool = False,
) -> list[dict[str, Any]]:
    """Packet rows sorted by tenant, owner, binding id (revoked ones only when asked)."""
    return list(iter_rows(bindings, findings, include_revoked=include_revoked))


class Tally:
    """:func:`summarise` one row at a time (rows written as they are built)."""

    def __init__(self) -> None:
        self.bindings = 0
        self.statuses: Counter[str] = Counter()
        self.severities: Counter[str] = Counter()
        self.quieted: Counter[str] = Counter()
        self.actions: Counter[str] = Counter()
        self.never_validated = 0
        self.oldest: dict[str, Any] | None = None  # the first row with the oldest validation

    def add(self, row: dict[str, Any]) -> None:
        self.bindings += 1
        self.statuses[str(row["status"])] += 1
        for f in row["findings_detail"]:
            if f.get("state", "open") == "open":
                self.severities[str(f["severity"])] += 1
            else:
                self.quieted[str(f["state"])] += 1
        self.actions[str(row["recommended_action"])] += 1
        at = row.get("last_validated_at")
        if not at:
            self.never_validated += 1
        elif self.oldest is None or str(at) < str(self.oldest["last_validated_at"]):
            self.oldest = row

    def summary(self) -> dict[str, Any]:
        """What the HTML summary and JSON ``summary`` show."""
        oldest = self.oldest
        return {
            "bindings": self.bindings,
            "statuses": {s.value: self.statuses.get(s.value, 0) for s in Status},
            "by_severity": {s.value: self.severities.get(s.value, 0)
                                     for s in reversed(list(Severity))},
            "recommended_actions": {a: self.actions.get(a, 0) for a in ACTIONS},
            "findings_accepted": self.quieted.get("accepted", 0),
            "findings_suppressed": self.quieted.get("suppressed", 0),
            "never_validated": self.never_validated,
            "oldest_validation": (
                {"binding_id": oldest["binding_id"], "at": oldest["last_validated_at"]}
                if oldest else None
            ),
        }


def summarise(rows: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """What the HTML summary and JSON ``summary`` show."""
    tally = Tally()
    for row in rows:
        tally.add(row)
    return tally.summary()
