"""Two-sided rules (issue 14): Slack's ledger against what the holders list. Each fires on a
minimal case and stays silent on its closest near-miss; every finding cites its entries."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from nhictl.catalog import load_catalog
from nhictl.checks import BindingView, Finding, Snapshot, evaluate, get_rule
from nhictl.checks.model import LedgerEntryView
from nhictl.models import Severity
from nhictl.policy import Policy
from tests.checks.helpers import NOW, clean

APP = "A0APP1"
INSTALLED = "2026-05-10T09:00:00Z"
LATER = "2026-05-20T09:00:00Z"


def entry(n: int, action: str, at: str = INSTALLED, **fields: Any) -> LedgerEntryView:
    base: dict[str, Any] = {"kind": "slack-audit", "app_id": APP, "workspace_id": "T1",
                            "user_id": "U1", "actor_id": "U1"}
    if action.startswith("user_"):
        base.update(app_id=None, workspace_id=None)
    base.update(fields)
    return LedgerEntryView(id=f"le-{n}", action=action, at=at, **base)


def check(rule_id: str, bindings: tuple[BindingView, ...], ledger: tuple[LedgerEntryView, ...],
          apps: dict[str, str] | None = None,
          installers: dict[str, str] | None = None) -> list[Finding]:
    snap = Snapshot(bindings=bindings, ledger=ledger, binding_apps=apps or {},
                    installers=installers or {})
    return evaluate(snap, Policy(), load_catalog(), NOW, rules=[get_rule(rule_id)])


# -- grant_unaccounted ------------------------------------------------------------------------

def test_grant_unaccounted_fires_for_a_grant_no_holder_has() -> None:
    shadow = entry(1, "app_installed", user_id="U7", actor_id="U7", scopes=("chat:write",))
    (f,) = check("grant_unaccounted", (clean(),), (shadow,), apps={"b-0000000001": APP})
    assert f.severity == Severity.CRITICAL and f.binding_id is None
    assert "U7" in f.message and "T1" in f.message and APP in f.message
    assert f.evidence["slack_evidence"][0]["ledger_entry"] == "le-1"
    assert f.evidence["scopes"] == ["chat:write"]
    assert f.evidence["bindings_in_workspace"] == ["b-0000000001"]
    assert f.fingerprint == f"grant_unaccounted:-:{APP}:T1:U7"
    assert f.evidence["source"] == "slack-audit"  # no collector name in a hand-made view


def test_grant_unaccounted_silent_when_a_binding_accounts_for_it() -> None:
    grant = entry(1, "app_installed", scopes=("chat:write",))
    assert check("grant_unaccounted", (clean(),), (grant,), apps={"b-0000000001": APP}) == []
    # an unattributed binding (holder recorded no app id) may hold it: no critical
    assert check("grant_unaccounted", (clean(),), (grant,)) == []
    # a bot binding whose installer is the user accounts for the user's install
    bot = clean(token_kind="bot", slack_user_id="UBOT", source_slack_user_id="UBOT")
    assert check("grant_unaccounted", (bot,), (grant,), installers={bot.id: "U1"}) == []


def test_grant_unaccounted_an_install_may_be_a_bot_whose_installer_is_unrecorded() -> None:
    # A holder that keeps the app's bot token but not who installed it (a broker without
    # authed_user) may hold this install; a scope expansion is a user grant it cannot be.
    bot = clean(token_kind="bot", slack_user_id="UBOT", source_slack_user_id="UBOT")
    install = entry(1, "app_installed", user_id="U7")
    assert check("grant_unaccounted", (bot,), (install,), apps={bot.id: APP}) == []
    grown = entry(2, "app_scopes_expanded", LATER, user_id="U7", scopes=("files:read",))
    assert check("grant_unaccounted", (bot,), (install, grown), apps={bot.id: APP})
    # a bot whose installer is recorded as someone else does not account for it
    assert check("grant_unaccounted", (bot,), (install,), apps={bot.id: APP},
                 installers={bot.id: "U5"})


def test_grant_unaccounted_near_misses() -> None:
    grant = entry(1, "app_installed", user_id="U7")
    other_app = {"b-0000000001": "A0OTHER"}
    own = clean(slack_user_id="U7", source_slack_user_id="U7")
    # the binding of another app does not account for it...
    assert check("grant_unaccounted", (own,), (grant,), apps=other_app)
    # ...nor one its holder no longer lists (status removed, never revoked)
    assert check("grant_unaccounted", (clean(slack_user_id="U7", status="removed"),), (grant,))
    # uninstalled since: not active
    gone = entry(2, "app_uninstalled", LATER, actor_id="U9")
    assert check("grant_unaccounted", (), (grant, gone)) == []
    # the user was deactivated since: Slack revoked their user tokens
    off = entry(3, "user_deactivated", LATER, user_id="U7", actor_id="UADMIN")
    assert check("grant_unaccounted", (), (grant, off)) == []
    # reinstalled after the uninstall: active again
    again = entry(4, "app_installed", "2026-05-25T09:00:00Z", user_id="U7")
    (f,) = check("grant_unaccounted", (), (grant, gone, again))
    assert [e["ledger_entry"] for e in f.evidence["slack_evidence"]] == ["le-1", "le-4"]
    # org-level entries (no workspace) match no binding and make no finding
    assert check("grant_unaccounted", (), (entry(5, "app_installed", workspace_id=None),)) == []


# -- uninstalled_still_held -------------------------------------------------------------------

def test_uninstalled_still_held_fires_when_the_app_left_after_the_grant() -> None:
    gone = entry(1, "app_uninstalled", LATER, actor_id="UADMIN", user_id=None)
    (f,) = check("uninstalled_still_held", (clean(),), (gone,), apps={"b-0000000001": APP})
    assert f.binding_id == "b-0000000001" and f.severity == Severity.HIGH
    assert "UADMIN" in f.message and "Acme (T1)" in f.message
    assert f.evidence["slack_evidence"] == [gone.cite()]
    assert f.evidence["last_granted_at"] == "2026-05-01T00:00:00Z"
    assert "nhictl revoke b-0000000001" in f.remediation
    removed = entry(2, "org_app_workspace_removed", LATER, user_id=None)
    assert check("uninstalled_still_held", (clean(),), (removed,), apps={"b-0000000001": APP})


def test_uninstalled_still_held_near_misses() -> None:
    gone = entry(1, "app_uninstalled", LATER, user_id=None)
    apps = {"b-0000000001": APP}
    # the grant is newer than the uninstall (the user reconnected)
    assert check("uninstalled_still_held", (clean(created_at="2026-05-21T00:00:00Z"),),
                 (gone,), apps=apps) == []
    assert check("uninstalled_still_held", (clean(),),
                 (gone, entry(2, "app_installed", "2026-05-22T00:00:00Z")), apps=apps) == []
    # revoked in nhictl, or no longer listed by its holder
    assert check("uninstalled_still_held", (clean(revoked_at=LATER, status="revoked"),),
                 (gone,), apps=apps) == []
    assert check("uninstalled_still_held", (clean(status="removed"),), (gone,), apps=apps) == []
    # another app, another workspace, or a binding of no known app
    assert check("uninstalled_still_held", (clean(),), (gone,),
                 apps={"b-0000000001": "A0OTHER"}) == []
    assert check("uninstalled_still_held", (clean(workspace_id="T2", source_team_id="T2"),),
                 (gone,), apps=apps) == []
    assert check("uninstalled_still_held", (clean(),), (gone,)) == []


def test_uninstalled_still_held_bot_reinstalled_by_anyone_is_a_new_grant() -> None:
    bot = clean(token_kind="bot", created_at=None)
    gone = entry(1, "app_uninstalled", INSTALLED, user_id=None)
    back = entry(2, "app_installed", LATER, user_id="U5")
    assert check("uninstalled_still_held", (bot,), (gone, back), apps={bot.id: APP}) == []
    assert check("uninstalled_still_held", (bot,), (gone,), apps={bot.id: APP})


# -- installer_departed -----------------------------------------------------------------------

def test_installer_departed_from_the_audit_log() -> None:
    bot = clean(token_kind="bot", slack_user_id="UBOT", source_slack_user_id="UBOT")
    off = entry(1, "user_deactivated", LATER, user_id="U5", actor_id="UADMIN")
    (f,) = check("installer_departed", (bot,), (off,), installers={bot.id: "U5"})
    assert f.severity == Severity.HIGH
    assert "installed by U5" in f.message and "(audit log)" in f.message
    assert f.evidence["slack_evidence"][0]["ledger_entry"] == "le-1"
    # near-misses: reactivated since; a user token (owner_offboarded's); another installer
    on = entry(2, "user_reactivated", "2026-05-25T00:00:00Z", user_id="U5")
    assert check("installer_departed", (bot,), (off, on), installers={bot.id: "U5"}) == []
    assert check("installer_departed", (clean(),), (off,), installers={bot.id: "U5"}) == []
    assert check("installer_departed", (bot,), (off,), installers={bot.id: "U6"}) == []


def test_installer_departed_from_the_directory_users_info() -> None:
    bot = clean(token_kind="bot")
    seen = entry(1, "user_status", LATER, kind="slack-directory", user_id="U5",
                 actor_id=None, app_id=None, workspace_id="T1", details={"deleted": True})
    (f,) = check("installer_departed", (bot,), (seen,), installers={bot.id: "U5"})
    assert f.evidence["slack_evidence"][0]["call"] == "users.info"
    alive = entry(1, "user_status", LATER, kind="slack-directory", user_id="U5",
                  actor_id=None, app_id=None, details={"deleted": False})
    assert check("installer_departed", (bot,), (alive,), installers={bot.id: "U5"}) == []
    # a later directory answer overrides validation's older "deleted"
    stale = clean(token_kind="bot", slack_user_deleted=True, last_validated_at=INSTALLED)
    assert check("installer_departed", (stale,), (alive,), installers={bot.id: "U5"}) == []


# -- owner_offboarded from Slack's side -------------------------------------------------------

def test_owner_offboarded_from_user_deactivated_even_when_the_token_is_dead() -> None:
    dead = clean(status="needs_reconnect", last_validation_outcome="dead",
                 last_validation_error="token_revoked", slack_user_deleted=None)
    assert check("owner_offboarded", (dead,), ()) == []  # a dead token alone: no evidence
    off = entry(1, "user_deactivated", LATER, user_id="U1", actor_id="UADMIN")
    (f,) = check("owner_offboarded", (dead,), (off,))
    assert f.severity == Severity.CRITICAL
    assert "deactivated in Slack (audit log)" in f.message
    assert f.evidence["slack_evidence"][0]["ledger_entry"] == "le-1"
    assert f.evidence["slack_error"] == "token_revoked"
    # near-miss: reactivated afterwards; or another user deactivated
    on = entry(2, "user_reactivated", "2026-05-21T00:00:00Z", user_id="U1")
    assert check("owner_offboarded", (dead,), (off, on)) == []
    assert check("owner_offboarded", (dead,), (entry(3, "user_deactivated", user_id="U2"),)) == []


def test_owner_offboarded_from_directory_users_info_deleted() -> None:
    dead = clean(status="needs_reconnect", slack_user_deleted=None)
    seen = entry(1, "user_status", LATER, kind="slack-directory", actor_id=None,
                 app_id=None, details={"deleted": True, "is_restricted": False})
    (f,) = check("owner_offboarded", (dead,), (seen,))
    assert "(users.info)" in f.message
    assert f.evidence["slack_evidence"][0] == {
        "ledger_entry": "le-1", "collector_kind": "slack-directory", "action": "user_status",
        "at": LATER, "call": "users.info", "user_id": "U1"}
    restricted = entry(1, "user_status", LATER, kind="slack-directory", actor_id=None,
                       app_id=None, details={"deleted": False, "is_restricted": True})
    assert check("owner_offboarded", (dead,), (restricted,)) == []


# -- scope_expanded gains who and when --------------------------------------------------------

def test_scope_expanded_cites_the_audit_log_actor_and_time() -> None:
    b = clean(granted_scopes=("chat:write", "files:read"), approved_scopes=("chat:write",))
    grown = entry(1, "app_scopes_expanded", LATER, actor_id="U9",
                  scopes=("files:read",))
    (f,) = check("scope_expanded", (b,), (grown,), apps={b.id: APP})
    assert "(Slack: expanded 2026-05-20 by U9)" in f.message
    assert f.evidence["slack_evidence"] == [grown.cite()]
    # near-miss: an expansion of other scopes, or of another app, is not this one's evidence
    other = entry(2, "app_scopes_expanded", LATER, scopes=("channels:read",))
    (g,) = check("scope_expanded", (b,), (other,), apps={b.id: APP})
    assert "slack_evidence" not in g.evidence and "Slack:" not in g.message
    (h,) = check("scope_expanded", (b,), (grown,), apps={b.id: "A0OTHER"})
    assert "slack_evidence" not in h.evidence


# -- from the store: the snapshot builder hands rules the ledger and binding links ----------

def test_store_backed_check_reads_ledger_entries_and_binding_metadata(tmp_path: Path) -> None:
    import json

    from nhictl.checks.runner import run_checks
    from nhictl.ledgers.model import LedgerEntry
    from nhictl.ledgers.store import add_entries
    from tests.checks.store_helpers import add_binding, make_inventory

    inv = make_inventory(tmp_path)
    add_binding(inv, "b-00000000a1", metadata_json=json.dumps({"app_id": APP}))
    add_binding(inv, "b-00000000b1", token_kind="bot", slack_user_id="UBOT",
                source_slack_user_id="UBOT", token_fingerprint="fp-bot",
                metadata_json=json.dumps({"app_id": APP, "installer_user_id": "U5"}))

    def le(native: str, action: str, at: str, **kw: Any) -> LedgerEntry:
        return LedgerEntry(id=f"audit:{native}", collector="audit", kind="slack-audit",
                           action=action, at=at, **kw)

    try:
        with inv.engine.begin() as conn:
            add_entries(conn, [
                le("1", "app_installed", INSTALLED, app_id=APP, workspace_id="T1",
                   user_id="U7", actor_id="U7", scopes=("chat:write", "files:read")),
                le("2", "user_deactivated", LATER, user_id="U5", actor_id="UADMIN"),
            ])
        report = run_checks(inv, Policy(), load_catalog(), now=NOW, actor="t")
    finally:
        inv.dispose()
    found = {(f.rule_id, f.binding_id): f for f in report.findings}
    shadow = found[("grant_unaccounted", None)]
    assert shadow.evidence["source"] == "audit"  # the [[ledgers]] name that showed it
    assert shadow.evidence["slack_evidence"][0]["ledger_entry"] == "audit:1"
    assert shadow.evidence["bindings_in_workspace"] == ["b-00000000a1", "b-00000000b1"]
    departed = found[("installer_departed", "b-00000000b1")]
    assert departed.evidence["installer_user_id"] == "U5"
    assert departed.evidence["slack_evidence"][0]["ledger_entry"] == "audit:2"


def test_slack_side_text_in_messages_is_escaped() -> None:
    # Log fields are untrusted: a bidi override in an actor id must not reorder the message.
    hostile = entry(1, "app_uninstalled", LATER, actor_id="U\u202eEVIL", user_id=None)
    (f,) = check("uninstalled_still_held", (clean(),), (hostile,), apps={"b-0000000001": APP})
    assert "\u202e" not in f.message and "U\\u202eEVIL" in f.message
