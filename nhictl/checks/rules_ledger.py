"""Two-sided rules: what Slack's own logs say about the grants, against what holders list.

Matching is per Slack app id and workspace (see ``nhictl.checks.slack_side`` for how a
binding is tied to an app). Every finding cites the ledger entry ids it rests on.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime
from typing import Any

from nhictl.catalog.loader import Catalog
from nhictl.checks.model import BindingView, Finding, LedgerEntryView, Rule, Snapshot
from nhictl.checks.slack_side import (
    app_of,
    installer_of,
    is_bot,
    later,
    overridden,
    people,
    slack_side,
)
from nhictl.policy import Policy
from nhictl.untrusted import ascii_escaped


def _shown(value: object) -> str:
    """Slack-side text in a message: ids and dates from a log, escaped to printable ASCII."""
    return ascii_escaped(str(value))


ANYONE = "*"
# How many bindings of the workspace a grant_unaccounted finding lists by id.
SHOWN_HOLDERS = 20


class _Holders:
    """Per workspace: who the live bindings' grants may be ((app or None, person)), and
    which bindings may be the app's; built once per check run."""

    def __init__(self, snap: Snapshot) -> None:
        self.grants: dict[str, set[tuple[str | None, str]]] = defaultdict(set)
        self.bindings: dict[str, list[tuple[str | None, str]]] = defaultdict(list)
        for b in snap.bindings:
            if not b.team:
                continue
            app = app_of(snap, b)
            self.bindings[b.team].append((app, b.id))
            if b.status == "removed" and not b.revoked:
                continue  # its holder no longer lists it: a token the app lost track of
            for person in people(snap, b):
                self.grants[b.team].add((app, person))
            if is_bot(b) and installer_of(snap, b) is None:
                # A bot whose holder did not record who installed it may be anyone's install.
                self.grants[b.team].add((app, ANYONE))

    def accounted(self, app: str, workspace: str, user: str, *, install: bool) -> bool:
        held = self.grants.get(workspace, set())
        who = (user, ANYONE) if install else (user,)
        return any((a, u) in held for a in (app, None) for u in who)

    def of_app(self, app: str, workspace: str) -> list[str]:
        return sorted(bid for a, bid in self.bindings.get(workspace, []) if a in (None, app))


def grant_unaccounted(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """An active Slack-side user grant (installed, scopes expanded, resources granted; not
    removed since, the user not deactivated since) that no holder's binding accounts for."""
    side = slack_side(snap)
    if not side.grants:
        return []
    holders = _Holders(snap)
    out: list[Finding] = []
    for (app, workspace, user), entries in sorted(side.grants.items()):
        last = entries[-1]
        removed = [r for r in side.removals.get((app, workspace), []) if later(r.at, last.at)]
        if removed:
            continue
        gone = side.departed(user)
        if gone is not None and not later(last.at, gone.at):
            continue  # Slack revoked a deactivated user's user tokens
        installs = all(e.action == "app_installed" for e in entries)
        if holders.accounted(app, workspace, user, install=installs):
            continue
        scopes = sorted({s for e in entries for s in e.scopes})
        bound = holders.of_app(app, workspace)
        first = entries[0]
        who = (f" by {_shown(first.actor_id)}" if first.actor_id and first.actor_id != user
               else "")
        out.append(rule.finding(
            None,
            f"Slack shows app {_shown(app)} granted to user {_shown(user)} in workspace "
            f"{_shown(workspace)} ({first.action} {_shown(first.at[:10])}{who}), but no "
            "holder's binding accounts for it.",
            # ``source``: the ledger that shows it (no binding: SARIF/OCSF locate it there)
            {"source": first.collector or first.kind,
             "app_id": app, "workspace_id": workspace, "user_id": user, "scopes": scopes,
             "granted_at": first.at, "last_granted_at": last.at,
             "slack_evidence": [e.cite() for e in entries],
             "bindings_in_workspace": bound[:SHOWN_HOLDERS],
             "bindings_in_workspace_count": len(bound)},
            discriminator=f"{app}:{workspace}:{user}",
        ))
    return out


def _last_granted(snap: Snapshot, b: BindingView, app: str, workspace: str) -> str | None:
    """When the binding's grant was last (re)made: the holder's created_at, or Slack's own
    record of a grant to its user (a bot token: any reinstall of the app)."""
    side = slack_side(snap)
    stamps = [b.created_at] if b.created_at else []
    for user in people(snap, b):
        stamps += [e.at for e in side.grants.get((app, workspace, user), [])]
    if is_bot(b):
        stamps += [e.at for e in side.readds.get((app, workspace), [])]
    latest: str | None = None
    for stamp in stamps:
        if later(stamp, latest):
            latest = stamp
    return latest


def uninstalled_still_held(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    side = slack_side(snap)
    if not side.removals:
        return []
    out: list[Finding] = []
    for b in snap.bindings:
        app = app_of(snap, b)
        if b.revoked or b.status == "removed" or app is None or not b.team:
            continue
        removals = side.removals.get((app, b.team))
        if not removals:
            continue
        granted = _last_granted(snap, b, app, b.team)
        removal = removals[-1]
        if not later(removal.at, granted):
            continue
        by = f" by {_shown(removal.actor_id)}" if removal.actor_id else ""
        out.append(rule.finding(
            b,
            f"{b.describe()}: Slack says app {_shown(app)} was removed from the workspace "
            f"({removal.action} {_shown(removal.at[:10])}{by}), yet its holder still lists it "
            f"({b.status}).",
            {"app_id": app, "workspace_id": b.team, "binding_status": b.status,
             "last_granted_at": granted, "removed_at": removal.at,
             "slack_evidence": [removal.cite()]},
        ))
    return out


def users_info_cite(user: str | None, via: str) -> dict[str, Any]:
    """Evidence for a users.info answer that validation (not a ledger) asked."""
    return {"call": "users.info", "user": user, "via": via, "deleted": True}


def said_by(evidence: list[dict[str, Any]]) -> str:
    """Which Slack records a finding rests on, for its message."""
    kinds = ["users.info" if e.get("call") == "users.info" else "audit log" for e in evidence]
    return " and ".join(dict.fromkeys(kinds))


def installer_departed(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """A bot token outlives its installer; Slack's word that the installer left is the audit
    log (``user_deactivated``), the directory's users.info, or validation's users.info."""
    side = slack_side(snap)
    out: list[Finding] = []
    for b in snap.bindings:
        if b.revoked or not is_bot(b):
            continue
        installer = installer_of(snap, b)
        evidence: list[dict[str, Any]] = []
        entry = side.departed(installer)
        if entry is not None:
            evidence.append(entry.cite())
        if b.slack_user_deleted is True and not overridden(side, installer,
                                                           b.last_validated_at):
            evidence.append(users_info_cite(installer, "validation"))
        if not evidence:
            continue
        name = _shown(installer) if installer else "its installer"
        out.append(rule.finding(
            b,
            f"{b.describe()} is a bot token installed by {name}, who is deactivated in Slack "
            f"({said_by(evidence)}); the bot keeps working with nobody accountable for it.",
            {"installer_user_id": installer, "binding_status": b.status,
             "owner_id": b.owner_id, "slack_evidence": evidence},
        ))
    return out


def expansion_evidence(snap: Snapshot, b: BindingView, added: list[str]) -> list[LedgerEntryView]:
    """Slack's ``app_scopes_expanded`` entries behind scopes a binding gained (who, when)."""
    app = app_of(snap, b)
    if not b.team or not snap.ledger:
        return []
    side = slack_side(snap)
    wanted = set(added)
    out: list[LedgerEntryView] = []
    for (e_app, workspace, user), entries in side.expansions.items():
        if workspace != b.team or app not in (None, e_app) or user not in people(snap, b):
            continue
        out += [e for e in entries if wanted & set(e.scopes)]
    return sorted(out, key=lambda e: (e.at, e.id))
