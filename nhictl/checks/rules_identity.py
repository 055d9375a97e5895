"""Ownership and identity rules: who is accountable, and is the token who it claims to be."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from nhictl.catalog.loader import Catalog
from nhictl.checks.common import risk_map
from nhictl.checks.model import BindingView, Finding, Rule, Snapshot
from nhictl.checks.rules_ledger import said_by, users_info_cite
from nhictl.checks.slack_side import overridden, slack_side
from nhictl.models import Severity, TokenKind
from nhictl.policy import Policy

OFFBOARDED = frozenset({"deactivated", "inactive", "disabled", "deleted", "suspended",
                        "offboarded"})


def _current(snap: Snapshot) -> list[BindingView]:
    return [b for b in snap.bindings if not b.revoked]


def purpose_undeclared(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    for b in _current(snap):
        undefined = [p for p in b.purpose if p not in policy.purposes]
        if b.purpose and not undefined:
            continue
        what = (f"declares purpose(s) {', '.join(undefined)} the policy does not define"
                if b.purpose else "declares no purpose")
        # Without a purpose no scope can be judged excess: show what it holds, and what
        # that exposes, so the reviewer sees the stakes.
        held = list(b.scopes)
        risks = risk_map(catalog, held)
        risky = sorted(s for s, r in risks.items() if r in ("high", "critical"))
        text = f"{b.describe()} {what}" + (
            f" and holds {', '.join(risky)} (high risk)." if risky else ".")
        out.append(rule.finding(
            b, text,
            {"purpose": list(b.purpose), "undefined": undefined,
             "policy_purposes": sorted(policy.purposes), "policy": policy.origin,
             "scopes_basis": b.scopes_basis, "scopes": held, "scope_risk": risks},
            severity=Severity.HIGH if risky else None,
        ))
    return out


def owner_missing(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    return [
        rule.finding(
            b, f"{b.describe()} has no accountable owner (no owner id or email).",
            {"owner_id": b.owner_id, "owner_email": b.owner_email, "owner_name": b.owner_name,
             "tenant": b.tenant, "source": b.source, "connection_id": b.connection_id},
        )
        for b in _current(snap)
        if not (b.owner_id or "").strip() and not (b.owner_email or "").strip()
    ]


def owner_offboarded(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """Positive directory evidence only: the app directory (``owner_status``, which a source
    fills from its own directory, e.g. a WorkOS membership status), or Slack's word about the
    token's user: ``users.info`` ``deleted: true`` (asked by validation or by a
    slack-directory ledger) or the audit log's ``user_deactivated``. A dead token is no
    evidence: Slack's ``token_revoked``/``account_inactive`` do not say whether a user left,
    revoked the grant, or the app or workspace went away; so this fires on a token that is
    already dead too. A bot token's user is its bot: its installer leaving is
    ``installer_departed``."""
    side = slack_side(snap)
    out: list[Finding] = []
    for b in _current(snap):
        app_off = (b.owner_status or "").strip().lower() in OFFBOARDED
        bot = b.token_kind == TokenKind.BOT.value
        slack: list[dict[str, Any]] = []
        if not bot:
            entry = side.departed(b.user)
            if entry is not None:
                slack.append(entry.cite())
            if b.slack_user_deleted is True and not overridden(side, b.user,
                                                               b.last_validated_at):
                slack.append(users_info_cite(b.user, "validation"))
        if not (app_off or slack):
            continue
        where = " and ".join(w for w, on in (("the app directory", app_off),
                                              (f"Slack ({said_by(slack)})", bool(slack)))
                             if on)
        evidence: dict[str, Any] = {
            "owner_status": b.owner_status, "slack_user_deleted": b.slack_user_deleted,
            "slack_user_checked": "installer" if bot else "token user",
            "slack_error": b.last_validation_error, "slack_user_id": b.user,
            "binding_status": b.status}
        if slack:
            evidence["slack_evidence"] = slack
        out.append(rule.finding(
            b, f"{b.describe()} belongs to an owner deactivated in {where} but is not "
            "revoked.", evidence,
        ))
    return out


def identity_mismatch(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    for b in _current(snap):
        diffs: dict[str, dict[str, str]] = {}
        if b.source_team_id and b.workspace_id and b.source_team_id != b.workspace_id:
            diffs["team_id"] = {"recorded": b.source_team_id, "live": b.workspace_id}
        if (b.source_slack_user_id and b.slack_user_id
                and b.source_slack_user_id != b.slack_user_id):
            diffs["slack_user_id"] = {"recorded": b.source_slack_user_id,
                                      "live": b.slack_user_id}
        if diffs:
            out.append(rule.finding(
                b, f"{b.describe()} acts as a different Slack identity than its source "
                f"recorded ({', '.join(diffs)}).",
                {"mismatch": diffs, "last_validated_at": b.last_validated_at},
            ))
    return out


# Who holds a token, as each binding's source and Slack describe it: values to compare.
_HOLDER_KEYS: dict[str, Callable[[BindingView], str]] = {
    "owner_id": lambda b: (b.owner_id or "").strip(),
    "owner_email": lambda b: (b.owner_email or "").strip().lower(),
    "tenant": lambda b: (b.tenant or "").strip(),
    "workspace_id": lambda b: b.team or "",
    "slack_user_id": lambda b: b.user or "",
}


def holder_differences(members: Sequence[BindingView]) -> dict[str, list[str]]:
    """What the bindings holding one token disagree on (owner, tenant, Slack identity).

    Only known values are compared: a source that does not record an owner does not
    contradict one that does. No difference means one connection seen through several
    sources (corroborating sightings), not a shared token.
    """
    out: dict[str, list[str]] = {}
    for key, value_of in _HOLDER_KEYS.items():
        # Most tokens are one connection seen twice: stop at the first disagreement and
        # only then build the sorted values.
        first = ""
        for b in members:
            v = value_of(b)
            if v and v != first:
                if first:
                    out[key] = sorted({v for b in members if (v := value_of(b))})
                    break
                first = v
    return out


def same_token_groups(bindings: Iterable[BindingView]) -> list[tuple[str, list[BindingView]]]:
    """(fingerprint, holders) for every token held by more than one unrevoked binding."""
    groups: dict[str, list[BindingView]] = defaultdict(list)
    for b in bindings:
        if b.token_fingerprint and not b.revoked:
            groups[b.token_fingerprint].append(b)
    return sorted((fp, members) for fp, members in groups.items() if len(members) > 1)


def token_shared(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    for fp, members in same_token_groups(snap.bindings):
        differs = holder_differences(members)
        if not differs:
            continue  # sources that agree corroborate one connection (see inventory show)
        for b in members:
            others = sorted(o.id for o in members if o.id != b.id)
            out.append(rule.finding(
                b, f"{b.describe()} shares its token with {', '.join(others)} under a "
                f"different {', '.join(k.replace('_', ' ') for k in differs)}.",
                {"token_fingerprint": fp, "shared_with": others, "differs": differs,
                 "sources": sorted({m.source for m in members}),
                 "tenants": sorted({m.tenant or "" for m in members})},
            ))
    return out


def cross_tenant_workspace(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    groups: dict[tuple[str, str], list[BindingView]] = defaultdict(list)
    for b in _current(snap):
        if b.team and b.user:
            groups[(b.team, b.user)].append(b)
    out: list[Finding] = []
    # A group of one binding cannot span two tenants: only larger groups are looked at,
    # and only those that do span two are sorted.
    spanning = []
    for item in groups.items():
        members = item[1]
        if len(members) > 1:
            first = members[0].tenant
            if any(m.tenant and m.tenant != first for m in members) and \
                    len({m.tenant for m in members if m.tenant}) > 1:
                spanning.append(item)
    for (team, user), members in sorted(spanning):
        tenants = sorted({m.tenant for m in members if m.tenant})
        for b in members:
            out.append(rule.finding(
                b, f"{b.describe()}: Slack user {user} in {team} is bound under tenants "
                f"{', '.join(tenants)}.",
                {"workspace_id": team, "slack_user_id": user, "tenants": tenants,
                 "bindings": sorted(m.id for m in members)},
            ))
    return out
