"""Slack's side of the grants, indexed for the two-sided rules (pure; built per snapshot).

How a binding is tied to a Slack app: the ``app_id`` its holder recorded (slack_sdk
installation stores record it; an export row's ``app_id`` field is kept as metadata;
WorkOS and Nango connections carry none). A binding without one is *unattributed*: it may
account for a Slack grant of any app (no critical finding without proof that nobody holds
the grant), but an uninstall of an app never marks it held (no proof it is that app's
binding). A bot binding whose holder
did not record its installer may account for any user's install of its app in its
workspace (not for a scope expansion: that is a user grant). Ledger entries without a
workspace (org-level) match no binding; user status entries match by Slack user id alone
(user ids are unique across a workspace and an Enterprise Grid org).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from nhictl.checks.model import BindingView, LedgerEntryView, Snapshot
from nhictl.clock import parse_time
from nhictl.models import TokenKind

# A user (or the installer) granted the app something in a workspace.
GRANT_ACTIONS = frozenset({"app_installed", "app_scopes_expanded", "app_resources_granted"})
# The app is back in a workspace (a reinstall or an org app added again).
READD_ACTIONS = frozenset({"app_installed", "org_app_workspace_added"})
# The app left a workspace: every token it had there is revoked.
REMOVAL_ACTIONS = frozenset({"app_uninstalled", "org_app_workspace_removed"})
USER_OFF = "user_deactivated"
USER_ON = "user_reactivated"
USER_STATUS = "user_status"  # a users.info answer (slack-directory)


def _order(entry: LedgerEntryView) -> tuple[float, str]:
    try:
        return (parse_time(entry.at).timestamp(), entry.id)
    except (ValueError, TypeError):
        return (float("-inf"), entry.id)


def later(a: str | None, b: str | None) -> bool:
    """``a`` is strictly after ``b`` (unknown ``b`` counts as long ago)."""
    if not a:
        return False
    if not b:
        return True
    try:
        return parse_time(a) > parse_time(b)
    except (ValueError, TypeError):
        return False


@dataclass
class SlackSide:
    """Ledger entries by app, workspace and user, oldest first within each key."""

    grants: dict[tuple[str, str, str], list[LedgerEntryView]] = field(default_factory=dict)
    readds: dict[tuple[str, str], list[LedgerEntryView]] = field(default_factory=dict)
    removals: dict[tuple[str, str], list[LedgerEntryView]] = field(default_factory=dict)
    expansions: dict[tuple[str, str, str], list[LedgerEntryView]] = field(default_factory=dict)
    # user id -> the latest entry saying whether the user is active
    user_status: dict[str, LedgerEntryView] = field(default_factory=dict)

    @classmethod
    def of(cls, entries: Iterable[LedgerEntryView]) -> SlackSide:
        grants: dict[tuple[str, str, str], list[LedgerEntryView]] = defaultdict(list)
        readds: dict[tuple[str, str], list[LedgerEntryView]] = defaultdict(list)
        removals: dict[tuple[str, str], list[LedgerEntryView]] = defaultdict(list)
        expansions: dict[tuple[str, str, str], list[LedgerEntryView]] = defaultdict(list)
        status: dict[str, LedgerEntryView] = {}
        for e in sorted(entries, key=_order):
            if e.action in (USER_OFF, USER_ON, USER_STATUS):
                if e.user_id:
                    status[e.user_id] = e
                continue
            if not (e.app_id and e.workspace_id):
                continue
            app_ws = (e.app_id, e.workspace_id)
            if e.action in REMOVAL_ACTIONS:
                removals[app_ws].append(e)
            if e.action in READD_ACTIONS:
                readds[app_ws].append(e)
            if e.action in GRANT_ACTIONS and e.user_id:
                grants[(*app_ws, e.user_id)].append(e)
            if e.action == "app_scopes_expanded" and e.user_id:
                expansions[(*app_ws, e.user_id)].append(e)
        return cls(dict(grants), dict(readds), dict(removals), dict(expansions), status)

    def departed(self, user: str | None) -> LedgerEntryView | None:
        """The entry saying ``user`` is deactivated, when that is the latest word on them."""
        e = self.user_status.get(user or "")
        if e is None:
            return None
        if e.action == USER_OFF or (e.action == USER_STATUS and e.details.get("deleted") is True):
            return e
        return None


# One index for the snapshot being checked (every ledger rule and binding reads it).
_LAST: list[tuple[tuple[LedgerEntryView, ...], SlackSide]] = []


def slack_side(snap: Snapshot) -> SlackSide:
    if _LAST and _LAST[0][0] is snap.ledger:
        return _LAST[0][1]
    side = SlackSide.of(snap.ledger)
    _LAST[:] = [(snap.ledger, side)]
    return side


def overridden(side: SlackSide, user: str | None, checked_at: str | None) -> bool:
    """Slack's directory or audit log said ``user`` is active after ``checked_at`` (when
    validation's users.info saw them deleted): the later word wins."""
    e = side.user_status.get(user or "")
    return e is not None and side.departed(user) is None and later(e.at, checked_at)


def app_of(snap: Snapshot, b: BindingView) -> str | None:
    return snap.binding_apps.get(b.id)


def installer_of(snap: Snapshot, b: BindingView) -> str | None:
    return snap.installers.get(b.id)


def is_bot(b: BindingView) -> bool:
    return b.token_kind == TokenKind.BOT.value


def people(snap: Snapshot, b: BindingView) -> set[str]:
    """The Slack users whose grant a binding may be: its token user and its installer."""
    return {p for p in (None if is_bot(b) else b.user, installer_of(snap, b)) if p}


def binding_history(snap: Snapshot, side: SlackSide, b: BindingView) -> list[LedgerEntryView]:
    """Slack's record about one binding, oldest first: grants and scope expansions to its
    user or installer, the app leaving its workspace, and its people leaving."""
    app = app_of(snap, b)
    found: dict[str, LedgerEntryView] = {}
    who = people(snap, b)
    if b.team:
        for (e_app, workspace, user), entries in side.grants.items():
            if workspace == b.team and user in who and app in (None, e_app):
                found.update((e.id, e) for e in entries)
        if app is not None:
            found.update((e.id, e) for e in side.removals.get((app, b.team), []))
    for user in who:
        e = side.user_status.get(user)
        if e is not None and (e.action != USER_STATUS or side.departed(user) is not None):
            found[e.id] = e
    return sorted(found.values(), key=_order)


def histories(snap: Snapshot) -> dict[str, list[LedgerEntryView]]:
    """Per binding id, its Slack-side history (only bindings that have one)."""
    if not snap.ledger:
        return {}
    side = slack_side(snap)
    out: dict[str, list[LedgerEntryView]] = {}
    for b in snap.bindings:
        found = binding_history(snap, side, b)
        if found:
            out[b.id] = found
    return out
