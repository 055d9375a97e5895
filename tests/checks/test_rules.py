"""Every rule fires on a minimal case and stays silent on its closest near-miss."""

from __future__ import annotations

from dataclasses import replace

import pytest

from nhictl.catalog import load_catalog
from nhictl.checks import RULE_IDS, Snapshot, all_rules, evaluate
from nhictl.models import Severity
from nhictl.policy import Policy
from tests.checks.helpers import NOW, clean, run

OTHER = {"id": "b-0000000002", "connection_id": "c2"}
FP2 = {"token_fingerprint": "hmac-sha256:0000000000000002"}

# rule id -> (bindings that fire, closest near-miss, usage sources)
CASES = {
    "scope_exceeds_purpose": (
        [clean(granted_scopes=("chat:write", "channels:read"))],
        [clean(granted_scopes=("chat:write", "incoming-webhook"))],
    ),
    "privileged_scope": (
        [clean(granted_scopes=("chat:write", "im:history"))],
        [clean(granted_scopes=("chat:write", "channels:history"))],  # high, not critical
    ),
    "legacy_scope": (
        [clean(granted_scopes=("chat:write", "chat:write:bot"))],
        [clean(granted_scopes=("chat:write", "chat:write.public"))],
    ),
    "scope_lookalike": (
        [clean(granted_scopes=("chat:write", "chat:wr\u0456te"))],  # Cyrillic i
        [clean(granted_scopes=("chat:write", "chat:write:bots"))],  # unknown, imitates none
    ),
    "purpose_undeclared": (
        [clean(purpose=("billing-alerts",))],
        [clean(purpose=("notifications",))],
    ),
    "owner_missing": (
        [clean(owner_id=None, owner_email=" ")],
        [clean(owner_id=None, owner_email="grace@example.com")],
    ),
    "owner_offboarded": (
        [clean(owner_status="deactivated")],
        [clean(owner_status="deactivated", status="revoked", revoked_at="2026-05-30T00:00:00Z")],
    ),
    "installer_departed": (  # validation's users.info on the installer; near-miss: revoked
        [clean(token_kind="bot", slack_user_deleted=True)],
        [clean(token_kind="bot", slack_user_deleted=True, status="revoked",
               revoked_at="2026-05-30T00:00:00Z")],
    ),
    "dead_token_retained": (
        [clean(status="needs_reconnect", status_changed_at="2026-05-20T00:00:00Z")],
        [clean(status="needs_reconnect", status_changed_at="2026-05-28T00:00:00Z")],
    ),
    "validation_stale": (
        [clean(last_validated_at="2026-05-24T11:00:00Z")],
        [clean(last_validated_at="2026-05-25T13:00:00Z")],
    ),
    "token_never_expires": (
        [clean(token_expires_at=None)],
        [clean(token_expires_at=None, status="expired")],
    ),
    "discovery_scope_retained": (
        [clean(purpose=("notifications", "channel-selection"),
               granted_scopes=("chat:write", "channels:read"), channel_id="C1")],
        [clean(purpose=("notifications", "channel-selection"),
               granted_scopes=("chat:write", "channels:read"), channel_id=None)],
    ),
    "scope_expanded": (
        [clean(scope_additions=(("2026-05-30T00:00:00Z", ("chat:write",)),),
               last_reviewed_at="2026-05-02T00:00:00Z", last_review_decision="revoke")],
        # added, then a keep review approved it
        [clean(scope_additions=(("2026-05-01T00:00:00Z", ("chat:write",)),),
               last_reviewed_at="2026-05-02T00:00:00Z", approved_scopes=("chat:write",))],
    ),
    "identity_mismatch": (
        [clean(slack_user_id="U9")],
        [clean(slack_user_id=None)],  # not validated yet: nothing to compare
    ),
    "token_shared": (  # near-miss: one connection seen through two sources that agree
        [clean(), clean(**OTHER, token_fingerprint="hmac-sha256:0000000000000001",
                        owner_email="mallory@example.com")],
        [clean(), clean(**OTHER, token_fingerprint="hmac-sha256:0000000000000001",
                        source="bolt-app")],
    ),
    "cross_tenant_workspace": (
        [clean(), clean(**OTHER, **FP2, tenant="globex")],
        [clean(), clean(**OTHER, **FP2, tenant="acme")],
    ),
    "source_stale": (  # last read 20 days ago vs 10 days ago (window: 14)
        [clean(last_seen_at="2026-05-12T12:00:00Z")],
        [clean(last_seen_at="2026-05-22T12:00:00Z")],
    ),
    "review_overdue": (
        [clean(last_reviewed_at="2026-03-01T00:00:00Z")],
        [clean(last_reviewed_at="2026-03-05T00:00:00Z")],
    ),
    "dormant_binding": (
        [clean(last_used_at="2026-04-01T00:00:00Z")],
        [clean(last_used_at="2026-04-20T00:00:00Z")],
    ),
}


# Rules over per-source observations rather than bindings, tested in their own modules.
HOLDER_RULES = {"token_store_exposed"}  # tests/checks/test_token_store_exposed.py
# Rules over Slack's ledger against the holders: tests/checks/test_rules_ledger.py.
LEDGER_RULES = {"grant_unaccounted", "uninstalled_still_held"}


def test_every_rule_with_a_check_has_a_case() -> None:
    assert set(CASES) | HOLDER_RULES | LEDGER_RULES == {
        r.id for r in all_rules() if r.check is not None}


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_fires_on_minimal_case(rule_id: str) -> None:
    fires, _ = CASES[rule_id]
    found = run(rule_id, *fires, usage_sources=("export",))
    assert found, rule_id
    assert {f.rule_id for f in found} == {rule_id}
    first = found[0]
    assert first.binding_id and first.binding_id in first.message
    assert "grace@example.com" in first.message or "no recorded owner" in first.message
    assert "Acme (T1)" in first.message
    assert first.evidence


@pytest.mark.parametrize("rule_id", sorted(CASES))
def test_rule_silent_on_near_miss(rule_id: str) -> None:
    _, near = CASES[rule_id]
    assert run(rule_id, *near, usage_sources=("export",)) == []


def test_clean_binding_triggers_nothing() -> None:
    snap = Snapshot(bindings=(clean(),), usage_sources=frozenset({"export"}))
    assert evaluate(snap, Policy(), load_catalog(), NOW) == []


def test_scope_exceeds_purpose_escalates_and_shows_never_used() -> None:
    b = clean(granted_scopes=("chat:write", "channels:read", "users:read.email"),
              used_scopes=("chat:write", "channels:read"))
    (f,) = run("scope_exceeds_purpose", b, usage_sources=("export",))
    assert f.severity == Severity.HIGH
    assert f.evidence["excess"] == ["channels:read", "users:read.email"]
    assert f.evidence["allowed_by_purpose"] == ["chat:write", "incoming-webhook"]
    assert f.evidence["granted_never_used"] == ["users:read.email"]
    (m,) = run("scope_exceeds_purpose", clean(granted_scopes=("chat:write", "channels:read")))
    assert m.severity == Severity.MEDIUM
    assert "granted_never_used" not in m.evidence  # no usage evidence for the source


def test_scope_rules_use_declared_scopes_before_validation() -> None:
    b = clean(granted_scopes=None, declared_scopes=("chat:write", "files:read"))
    (f,) = run("scope_exceeds_purpose", b)
    assert f.evidence["scopes_basis"] == "declared"
    assert f.severity == Severity.HIGH


def test_privileged_scope_is_critical_for_admin() -> None:
    (f,) = run("privileged_scope", clean(granted_scopes=("chat:write", "admin.users:read")))
    assert f.severity == Severity.CRITICAL
    (g,) = run("privileged_scope", clean(granted_scopes=("auditlogs:read",)))
    assert g.severity == Severity.HIGH


def test_scope_expanded_against_keep_baseline() -> None:
    b = clean(granted_scopes=("chat:write", "files:read"), approved_scopes=("chat:write",))
    (f,) = run("scope_expanded", b)
    assert f.evidence["added"] == ["files:read"]
    assert f.evidence["baseline"] == "keep review"


def test_scope_expanded_ignores_additions_no_longer_granted() -> None:
    b = clean(scope_additions=(("2026-05-30T00:00:00Z", ("files:read",)),))
    assert run("scope_expanded", b) == []


def test_dormant_needs_usage_evidence_for_the_source() -> None:
    b = clean(last_used_at=None, created_at="2026-01-01T00:00:00Z",
              first_seen_at="2026-01-01T00:00:00Z")
    assert run("dormant_binding", b) == []
    (f,) = run("dormant_binding", b, usage_sources=("export",))
    assert f.evidence["last_used_at"] is None
    assert run("dormant_binding", b, usage_sources=("other-source",)) == []


def test_review_overdue_counts_never_reviewed_from_discovery() -> None:
    young = clean(last_reviewed_at=None, created_at="2025-01-01T00:00:00Z",
                  first_seen_at="2026-05-01T00:00:00Z")
    assert run("review_overdue", young) == []
    old = clean(last_reviewed_at=None, first_seen_at="2026-03-01T00:00:00Z")
    (f,) = run("review_overdue", old)
    assert "never been reviewed" in f.message
    assert f.evidence["due_at"] == "2026-05-30T00:00:00Z"


def test_validation_stale_never_validated_but_not_revoked_or_dead() -> None:
    assert run("validation_stale", clean(last_validated_at=None))
    assert run("validation_stale", clean(last_validated_at=None, status="expired"))
    for status in ("revoked", "needs_reconnect", "removed"):
        assert run("validation_stale", clean(last_validated_at=None, status=status)) == []


def test_owner_offboarded_in_slack() -> None:
    (f,) = run("owner_offboarded", clean(slack_user_deleted=True))
    assert "Slack" in f.message
    assert f.severity == Severity.CRITICAL


@pytest.mark.parametrize(("kind", "code"), [("bot", "account_inactive"),
                                            ("user", "token_revoked"),
                                            ("user", "account_inactive")])
def test_owner_offboarded_never_from_a_dead_token_alone(kind: str, code: str) -> None:
    # account_inactive (bot token: workspace deleted or bot user deactivated) and
    # token_revoked (user token: deleted user, revoked grant, removed app or deleted
    # workspace) are ambiguous (docs.slack.dev/reference/methods/auth.test "Errors"): no
    # critical offboarding finding without positive directory evidence.
    dead = clean(status="needs_reconnect", token_kind=kind, slack_user_deleted=None,
                 last_validation_outcome="dead", last_validation_error=code)
    assert run("owner_offboarded", dead) == []
    (g,) = run("owner_offboarded", replace(dead, owner_status="deactivated"))
    assert "app directory" in g.message and g.evidence["slack_error"] == code


def test_bot_token_whose_installer_left_is_installer_departed_not_owner_offboarded() -> None:
    # A bot token acts as its bot user, not as the person who installed it (issue 14):
    # Slack's word that the installer left is installer_departed; owner_offboarded stays
    # for the app directory's owner.
    bot = clean(token_kind="bot", slack_user_deleted=True)
    assert run("owner_offboarded", bot) == []
    (f,) = run("installer_departed", bot)
    assert "deactivated in Slack (users.info)" in f.message
    assert f.evidence["slack_evidence"] == [
        {"call": "users.info", "user": None, "via": "validation", "deleted": True}]
    (g,) = run("owner_offboarded", replace(bot, owner_status="deactivated"))
    assert g.evidence["slack_user_checked"] == "installer"


def test_findings_have_metadata_and_remediation_command() -> None:
    (f,) = run("owner_offboarded", clean(owner_status="deactivated"))
    assert "nhictl revoke b-0000000001" in f.remediation
    assert f.frameworks["owasp_nhi"] == ["NHI1:2025"]
    assert f.frameworks["nist_800_53"] == ["AC-2(3)"]
    d = f.as_dict()
    for key in ("rule_id", "severity", "binding_id", "title", "message", "evidence",
                "remediation", "frameworks", "suppressed"):
        assert key in d
    assert d["severity"] == "critical"


def test_rule_ids_cover_rules_md() -> None:
    assert len(RULE_IDS) == 23


@pytest.mark.parametrize(("status", "fires"), [("inactive", True), ("deactivated", True),
                                               ("pending", False), ("active", False)])
def test_owner_offboarded_from_a_directory_status(status: str, fires: bool) -> None:
    # WorkOS organization memberships are active, inactive or pending (workos-python
    # workos/types/user_management/organization_membership.py, OrganizationMembershipStatus);
    # an app directory says deactivated.
    found = run("owner_offboarded", clean(owner_status=status))
    assert bool(found) is fires


def test_scope_messages_escape_a_look_alike_so_it_never_reads_as_the_real_scope() -> None:
    # "holds chat:wrіte beyond what notifications allows" would read as a contradiction
    # (notifications allows chat:write); every message that lists scopes escapes them.
    fake = "chat:wr\u0456te"
    (f,) = run("scope_exceeds_purpose", clean(granted_scopes=("chat:write", fake)))
    assert "chat:wr\\u0456te" in f.message and fake not in f.message
    (p,) = run("privileged_scope", clean(granted_scopes=("admin.us\u0435rs:read",)))
    assert "admin.us\\u0435rs:read" in p.message and p.message.isascii()
    (e,) = run("scope_expanded", clean(granted_scopes=("chat:write", fake),
                                       approved_scopes=("chat:write",)))
    assert "chat:wr\\u0456te" in e.message and fake not in e.message
