"""Check types: the inventory snapshot rules read, rule metadata, and findings.

Rules are pure functions ``(snapshot, policy, catalog, now) -> list[Finding]``; the snapshot is
plain data built from the store (``nhictl.checks.snapshot``) or by hand in tests.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from nhictl.catalog.loader import Catalog
from nhictl.models import Severity
from nhictl.policy import Policy

FRAMEWORKS: tuple[str, ...] = ("owasp_nhi", "nist_csf", "nist_800_53", "cis_v8")


@dataclass(frozen=True, slots=True)
class BindingView:
    """What the rules know about one binding (a read-only view of a BindingRow)."""

    id: str
    source: str = "export"
    connection_id: str = ""
    status: str = "unvalidated"
    tenant: str | None = None
    owner_id: str | None = None
    owner_email: str | None = None
    owner_name: str | None = None
    owner_status: str | None = None
    purpose: tuple[str, ...] = ()
    declared_scopes: tuple[str, ...] = ()
    granted_scopes: tuple[str, ...] | None = None
    approved_scopes: tuple[str, ...] | None = None
    used_scopes: tuple[str, ...] = ()
    source_team_id: str | None = None
    source_slack_user_id: str | None = None
    workspace_id: str | None = None
    workspace_name: str | None = None
    slack_user_id: str | None = None
    token_kind: str | None = None
    channel_id: str | None = None
    created_at: str | None = None
    token_expires_at: str | None = None
    token_fingerprint: str | None = None
    status_changed_at: str | None = None
    slack_user_deleted: bool | None = None
    first_seen_at: str | None = None
    last_seen_at: str | None = None
    last_validated_at: str | None = None
    last_validation_outcome: str | None = None
    last_validation_error: str | None = None
    last_used_at: str | None = None
    last_reviewed_at: str | None = None
    last_review_decision: str | None = None
    revoked_at: str | None = None
    # Not read by rules; carried for the review packet, which builds its rows from views.
    status_reason: str | None = None
    revoke_reason: str | None = None
    # Granted-scope additions seen by validation: (time, scopes added), oldest first.
    scope_additions: tuple[tuple[str, tuple[str, ...]], ...] = ()

    @property
    def scopes(self) -> tuple[str, ...]:
        """Granted scopes when validated, else what the source declared."""
        return self.granted_scopes if self.granted_scopes is not None else self.declared_scopes

    @property
    def scopes_basis(self) -> str:
        return "granted" if self.granted_scopes is not None else "declared"

    @property
    def owner_label(self) -> str:
        for value in (self.owner_email, self.owner_id):
            if value and value.strip():
                return value.strip()
        return "no recorded owner"

    @property
    def team(self) -> str | None:
        return self.workspace_id or self.source_team_id

    @property
    def user(self) -> str | None:
        return self.slack_user_id or self.source_slack_user_id

    @property
    def workspace_label(self) -> str:
        team = self.team
        if self.workspace_name and team:
            return f"{self.workspace_name} ({team})"
        return team or "unknown workspace"

    @property
    def revoked(self) -> bool:
        return self.status == "revoked" or self.revoked_at is not None

    def describe(self) -> str:
        owner = self.owner_label
        who = owner if owner == "no recorded owner" else f"owner {owner}"
        return f"Binding {self.id} ({who}, workspace {self.workspace_label})"


@dataclass(frozen=True)
class ObservationView:
    """What the last complete read of a source noticed about its holder (not one binding)."""

    source: str
    kind: str
    subject: str
    details: Mapping[str, Any] = field(default_factory=dict)
    observed_at: str | None = None


@dataclass(frozen=True, slots=True)
class LedgerEntryView:
    """One Slack-side ledger entry (audit log, integration log, users.info), as rules see it.

    ``user_id`` is the entry's subject: the installer of a grant, the deactivated user, the
    user a ``users.info`` call was about; ``actor_id`` who did it.
    """

    id: str
    kind: str
    action: str
    at: str
    app_id: str | None = None
    enterprise_id: str | None = None
    workspace_id: str | None = None
    user_id: str | None = None
    actor_id: str | None = None
    scopes: tuple[str, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict)
    collector: str = ""  # the [[ledgers]] name that read it

    def cite(self) -> dict[str, Any]:
        """The evidence a finding carries about this entry (ids, times, scopes; no secrets)."""
        out: dict[str, Any] = {"ledger_entry": self.id, "collector_kind": self.kind,
                               "action": self.action, "at": self.at}
        if self.kind == "slack-directory":
            out["call"] = "users.info"
        for key in ("app_id", "workspace_id", "user_id", "actor_id"):
            value = getattr(self, key)
            if value:
                out[key] = value
        if self.scopes:
            out["scopes"] = list(self.scopes)
        return out


@dataclass(frozen=True)
class Snapshot:
    bindings: tuple[BindingView, ...] = ()
    # Per-source observations, e.g. installation-store files others can read.
    observations: tuple[ObservationView, ...] = ()
    # Sources for which any usage evidence was ingested (dormancy needs evidence).
    usage_sources: frozenset[str] = frozenset()
    # Per source, the earliest usage event: evidence shorter than the dormancy threshold
    # cannot show dormancy.
    usage_since: Mapping[str, str] = field(default_factory=dict)
    # Slack's side of the grants (``nhictl ledger collect``), oldest first.
    ledger: tuple[LedgerEntryView, ...] = ()
    # From binding metadata: the Slack app id a binding belongs to, and a bot token's
    # installer (binding id -> value; absent when the holder did not record it).
    binding_apps: Mapping[str, str] = field(default_factory=dict)
    installers: Mapping[str, str] = field(default_factory=dict)

    def by_id(self) -> dict[str, BindingView]:
        return {b.id: b for b in self.bindings}


@dataclass(slots=True)
class Finding:
    rule_id: str
    severity: Severity
    binding_id: str | None
    title: str
    message: str
    # The evidence dict as its keys (one tuple shared by every finding of the same shape)
    # and its values: a million findings would otherwise hold a million small dicts.
    evidence_keys: tuple[str, ...]
    evidence_values: tuple[Any, ...]
    # The rule that found it: its remediation text is made when shown (a million findings
    # would otherwise each hold a copy of "... Run: nhictl revoke b-...").
    rule: Rule = field(compare=False, repr=False)
    frameworks: dict[str, list[str]]
    discriminator: str = ""
    suppressed: bool = False
    suppression: dict[str, str] | None = None
    first_seen_at: str | None = None
    new: bool = False

    @property
    def remediation(self) -> str:
        return self.rule.remediation_for(self.binding_id)

    @property
    def evidence(self) -> dict[str, Any]:
        """What the rule recorded (a fresh dict; its values are shared, read-only)."""
        return dict(zip(self.evidence_keys, self.evidence_values, strict=True))

    @property
    def fingerprint(self) -> str:
        """Identity across check runs: same problem, same binding."""
        return f"{self.rule_id}:{self.binding_id or '-'}:{self.discriminator}"

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "severity": self.severity.value,
            "binding_id": self.binding_id,
            "title": self.title,
            "message": self.message,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "frameworks": {k: list(self.frameworks.get(k, [])) for k in FRAMEWORKS},
            "suppressed": self.suppressed,
            "suppression": self.suppression,
            "first_seen_at": self.first_seen_at,
            "new": self.new,
        }


# One normalised framework mapping per rule, shared by its findings (read-only by convention:
# ``Finding.as_dict`` hands out copies). Keyed by the rule object itself.
_FRAMEWORKS_CACHE: dict[int, tuple[Rule, dict[str, list[str]]]] = {}


def _normalised_frameworks(rule: Rule) -> dict[str, list[str]]:
    hit = _FRAMEWORKS_CACHE.get(id(rule))
    if hit is None or hit[0] is not rule:
        hit = (rule, {k: list(rule.frameworks.get(k, [])) for k in FRAMEWORKS})
        _FRAMEWORKS_CACHE[id(rule)] = hit
    return hit[1]


_EVIDENCE_KEYS: dict[tuple[str, ...], tuple[str, ...]] = {}


def _shared_keys(evidence: dict[str, Any]) -> tuple[str, ...]:
    keys = tuple(evidence)
    return _EVIDENCE_KEYS.setdefault(keys, keys)


RuleFn = Callable[["Rule", Snapshot, Policy, Catalog, datetime], list[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    title: str
    severity: Severity
    rationale: str
    remediation: str
    frameworks: dict[str, list[str]]
    check: RuleFn | None = field(default=None, compare=False, repr=False)
    # The nhictl command that fixes it; ``{binding_id}`` is filled in per finding.
    command: str | None = None
    escalation: str = ""

    def remediation_for(self, binding_id: str | None) -> str:
        if self.command and binding_id:
            return f"{self.remediation} Run: {self.command.format(binding_id=binding_id)}"
        if self.command and "{binding_id}" not in self.command:
            return f"{self.remediation} Run: {self.command}"
        return self.remediation

    def finding(
        self,
        view: BindingView | None,
        message: str,
        evidence: dict[str, Any],
        *,
        severity: Severity | None = None,
        discriminator: str = "",
    ) -> Finding:
        binding_id = view.id if view else None
        return Finding(
            rule_id=self.id,
            severity=severity or self.severity,
            binding_id=binding_id,
            title=self.title,
            message=message,
            evidence_keys=_shared_keys(evidence),
            evidence_values=tuple(evidence.values()),
            rule=self,
            frameworks=_normalised_frameworks(self),
            discriminator=discriminator,
        )

    def as_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.id,
            "title": self.title,
            "default_severity": self.severity.value,
            "escalation": self.escalation,
            "rationale": self.rationale,
            "remediation": self.remediation,
            "command": self.command,
            "frameworks": {k: list(self.frameworks.get(k, [])) for k in FRAMEWORKS},
        }
