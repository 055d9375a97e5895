"""Least-privilege rules over a binding's scopes."""

from __future__ import annotations

from datetime import datetime

from nhictl.catalog.loader import Catalog
from nhictl.catalog.lookalike import imitated
from nhictl.checks.common import live, never_used, risk_map
from nhictl.checks.model import Finding, Rule, Snapshot
from nhictl.checks.rules_ledger import expansion_evidence
from nhictl.models import Severity
from nhictl.policy import Policy
from nhictl.untrusted import ascii_escaped

LEGACY_SCOPES = frozenset(
    {"client", "read", "post", "bot", "identify", "chat:write:user", "chat:write:bot",
     "files:write:user"}
)
HIGH_RISK = (Severity.HIGH, Severity.CRITICAL)


def _status(catalog: Catalog, scope: str) -> str:
    info = catalog.get(scope)
    return info.status if info else "unknown"


def _shown(scopes: list[str]) -> str:
    """Scopes for a message: a look-alike (``chat:wr\\u0456te``) must not read as the real one."""
    return ", ".join(ascii_escaped(s) for s in scopes)


def _is_admin(scope: str) -> bool:
    return scope == "admin" or scope.startswith("admin.")


def scope_exceeds_purpose(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    for b in live(snap):
        defined = [p for p in b.purpose if p in policy.purposes]
        if not defined:
            continue  # purpose_undeclared covers it
        allowed = policy.allowed_scopes(defined)
        excess = sorted(set(b.scopes) - allowed)
        if not excess:
            continue
        risks = risk_map(catalog, excess)
        severe = any(catalog.risk_of(s) in HIGH_RISK for s in excess)
        evidence = {
            "scopes_basis": b.scopes_basis,
            "granted": sorted(b.scopes),
            "purposes": list(defined),
            "allowed_by_purpose": sorted(allowed),
            "excess": excess,
            "excess_risk": risks,
        }
        unused = never_used(b, snap, excess)
        if unused is not None:
            evidence["granted_never_used"] = unused
        out.append(rule.finding(
            b,
            f"{b.describe()} holds {_shown(excess)} beyond what purpose "
            f"{', '.join(defined)} allows.",
            evidence,
            severity=Severity.HIGH if severe else Severity.MEDIUM,
        ))
    return out


def privileged_scope(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    # Bindings repeat a few (purposes, scopes) pairs: each pair is worked out once.
    seen: dict[tuple[tuple[str, ...], tuple[str, ...]], list[str]] = {}
    for b in live(snap):
        key = (b.purpose, b.scopes)
        found = seen.get(key)
        if found is None:
            found = seen[key] = _privileged(b.purpose, b.scopes, policy, catalog)
        if not found:
            continue
        admin = any(_is_admin(s) for s in found)
        out.append(rule.finding(
            b,
            f"{b.describe()} holds privileged scope(s) {_shown(found)}.",
            {"scopes_basis": b.scopes_basis, "privileged": list(found),
             "risk": risk_map(catalog, found), "purposes": list(b.purpose)},
            severity=Severity.CRITICAL if admin else Severity.HIGH,
        ))
    return out


def _privileged(purposes: tuple[str, ...], scopes: tuple[str, ...], policy: Policy,
                catalog: Catalog) -> list[str]:
    # A scope a ``privileged`` purpose exists to hold (nhictl's own audit-log token) is
    # expected there; the token itself is still inventoried and validated.
    expected = policy.expected_privileged([p for p in purposes if p in policy.purposes])
    return sorted(
        s for s in set(scopes) - expected
        if _is_admin(s) or s == "auditlogs:read" or catalog.risk_of(s) == Severity.CRITICAL
    )


def legacy_scope(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    for b in live(snap):
        found = sorted(set(b.scopes) & LEGACY_SCOPES)
        if found:
            out.append(rule.finding(
                b,
                f"{b.describe()} holds deprecated classic scope(s) {', '.join(found)}.",
                {"scopes_basis": b.scopes_basis, "legacy": found,
                 "catalog_status": {s: _status(catalog, s) for s in found}},
            ))
    return out


def scope_lookalike(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """A granted or declared scope that is not in the catalog but normalises to catalog
    scopes (homoglyphs, invisible characters, a comma inside one scope, case); rated as the
    riskiest scope it imitates and shown with every non-ASCII character escaped."""
    out: list[Finding] = []
    for b in live(snap):
        for scope in sorted(set(b.scopes) | set(b.declared_scopes)):
            target = imitated(scope, catalog)
            if not target:
                continue
            shown = ascii_escaped(scope)
            risks = [catalog.risk_of(t) for t in target]
            severity = max((r for r in risks if r is not None), key=lambda r: r.rank,
                           default=rule.severity)
            out.append(rule.finding(
                b,
                f"{b.describe()} holds scope '{shown}', which is not a Slack scope but reads "
                f"as {', '.join(target)}.",
                {"scope": shown, "imitates": target, "risk": risk_map(catalog, target),
                 "codepoints": [f"U+{ord(ch):04X}" for ch in scope if not " " <= ch <= "~"],
                 "scopes_basis": b.scopes_basis},
                severity=severity,
                discriminator=shown,
            ))
    return out


def discovery_scope_retained(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    for b in live(snap):
        if not b.channel_id:
            continue
        transient = [p for p in b.purpose if p in policy.purposes and policy.purposes[p].transient]
        if not transient:
            continue
        lasting = [p for p in b.purpose if p in policy.purposes and p not in transient]
        keep = policy.allowed_scopes(lasting)
        retained = sorted((set(b.scopes) & policy.allowed_scopes(transient)) - keep)
        if not retained:
            continue
        evidence: dict[str, object] = {
            "scopes_basis": b.scopes_basis, "channel_id": b.channel_id,
            "transient_purposes": transient, "retained": retained,
        }
        unused = never_used(b, snap, retained)
        if unused is not None:
            evidence["granted_never_used"] = unused
        out.append(rule.finding(
            b,
            f"{b.describe()} still holds discovery scope(s) {', '.join(retained)} although "
            f"channel {b.channel_id} was already selected.",
            evidence,
        ))
    return out


def scope_expanded(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """Granted scopes beyond the baseline.

    The baseline is the approved set of the last ``keep`` review when there is one; otherwise
    the scopes validation saw added (``scope_changed`` events, after the last review if any)
    that are still granted. The first validation is the baseline and never counts.
    """
    out: list[Finding] = []
    for b in live(snap):
        if b.granted_scopes is None:
            continue
        granted = set(b.granted_scopes)
        if b.approved_scopes is not None:
            added = sorted(granted - set(b.approved_scopes))
            basis: dict[str, object] = {
                "baseline": "keep review", "approved_scopes": sorted(b.approved_scopes),
                "reviewed_at": b.last_reviewed_at}
        else:
            seen: dict[str, str] = {}
            for at, scopes in b.scope_additions:
                if b.last_reviewed_at and at <= b.last_reviewed_at:
                    continue
                for s in scopes:
                    seen.setdefault(s, at)
            added = sorted(s for s in seen if s in granted)
            basis = {"baseline": "previous validation",
                     "added_at": {s: seen[s] for s in added}}
        if not added:
            continue
        evidence = {"added": added, "granted": sorted(granted),
                    "risk": risk_map(catalog, added), **basis}
        # Slack's audit log says who widened the grant and when.
        expanded = expansion_evidence(snap, b, added)
        who = ""
        if expanded:
            evidence["slack_evidence"] = [e.cite() for e in expanded]
            last = expanded[-1]
            who = f" (Slack: expanded {ascii_escaped(last.at[:10])}" + (
                f" by {ascii_escaped(last.actor_id)})" if last.actor_id else ")")
        out.append(rule.finding(
            b, f"{b.describe()} gained scope(s) {_shown(added)} since its baseline{who}.",
            evidence,
        ))
    return out
