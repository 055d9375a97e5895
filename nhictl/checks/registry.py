"""The rule catalog: every rule of rules.md with its metadata, in a stable order."""

from __future__ import annotations

from collections.abc import Iterable

from nhictl.checks import rules_holders as rh
from nhictl.checks import rules_identity as ri
from nhictl.checks import rules_ledger as rlg
from nhictl.checks import rules_lifecycle as rl
from nhictl.checks import rules_scopes as rs
from nhictl.checks import rules_sources as rsrc
from nhictl.checks.common import fw
from nhictl.checks.model import Rule
from nhictl.errors import UsageError
from nhictl.models import Severity as S

REVOKE = "nhictl revoke {binding_id} --reason '...'"

_RULES: tuple[Rule, ...] = (
    Rule(
        "scope_exceeds_purpose", "Granted scopes exceed what the declared purpose needs", S.MEDIUM,
        "Every scope beyond the purpose widens what a stolen token can read or do (least "
        "privilege).",
        "Have the owner reconnect with only the purpose's scopes (or widen the purpose in the "
        "policy if the need is real); revoke the grant if it is not needed.",
        fw("NHI5:2025", "PR.AA-05", "AC-6, AC-6(7)", "6.8"), rs.scope_exceeds_purpose, REVOKE,
        "high if any excess scope is rated high or critical in the catalog",
    ),
    Rule(
        "privileged_scope", "Token holds an admin, audit-log or critical-risk scope", S.HIGH,
        "Admin and critical scopes reach the whole workspace or its most private content; a "
        "delegated notification token should never carry them.",
        "Revoke the grant and have the owner reconnect without the privileged scope.",
        fw("NHI5:2025", "PR.AA-05", "AC-6(5), AC-2(7)", "5.4"), rs.privileged_scope, REVOKE,
        "critical when any admin or admin.* scope is held, high otherwise",
    ),
    Rule(
        "legacy_scope", "Token holds a deprecated classic Slack scope", S.HIGH,
        "Classic scopes are coarse catch-all grants from before granular permissions; they "
        "cannot be narrowed and some act as the full user.",
        "Migrate the app to granular scopes, then revoke the classic grant.",
        fw("NHI4:2025", "PR.AA-03", "IA-5", "—"), rs.legacy_scope, REVOKE,
    ),
    Rule(
        "scope_lookalike", "Scope imitates a catalog scope (look-alike characters)", S.HIGH,
        "A scope that reads like a real one (Cyrillic or Greek letters, zero-width or bidi "
        "characters, a comma inside one scope, other case) slips past every allowlist and "
        "reviewer keyed on the real name; no honest app asks for one.",
        "Find where the scope string came from (source record or Slack's answer), revoke the "
        "grant and have the owner reconnect with real scope names.",
        fw("NHI5:2025", "PR.AA-05, DE.CM-09", "AC-6, SI-10", "—"), rs.scope_lookalike,
        REVOKE, "rated as the riskiest catalog scope it imitates",
    ),
    Rule(
        "purpose_undeclared", "Binding has no purpose the policy defines", S.MEDIUM,
        "Without a declared purpose nobody can tell which scopes the binding needs or whether "
        "it should exist.",
        "Record the purpose in the source (or a default_purpose for the source in nhictl.toml), "
        "or define the purpose under [purposes] in the policy; then re-check.",
        fw("NHI5:2025", "PR.AA-05, ID.AM-02", "AC-6", "5.5"), ri.purpose_undeclared,
        "nhictl check --rule purpose_undeclared",
        "high if the binding holds a scope rated high or critical in the catalog",
    ),
    Rule(
        "owner_missing", "Binding has no accountable owner", S.HIGH,
        "A credential nobody owns is never reviewed and never offboarded.",
        "Record the owner in the source system, or revoke the binding if no one claims it.",
        fw("NHI1:2025", "PR.AA-01, ID.AM-02", "AC-2", "5.5"), ri.owner_missing, REVOKE,
    ),
    Rule(
        "owner_offboarded", "Owner is deactivated but the binding is not revoked", S.CRITICAL,
        "A departed person's token keeps acting as them in Slack: the classic offboarding gap. "
        "Evidence is positive only: the app directory's owner status, or Slack's word about "
        "the token's user (users.info deleted, the audit log's user_deactivated), even when "
        "the token is already dead; a dead token alone is not. A bot token's departed "
        "installer is installer_departed.",
        "Revoke the binding now.",
        fw("NHI1:2025", "PR.AA-01", "AC-2(3)", "6.2"), ri.owner_offboarded, REVOKE,
    ),
    Rule(
        "installer_departed", "Bot token's installer is deactivated in Slack", S.HIGH,
        "A bot token keeps working after the person who installed it left: nobody accountable "
        "answers for what it can read and post. Evidence is Slack's: the audit log's "
        "user_deactivated, or users.info deleted for the installer.",
        "Have a current admin reinstall the app (a new, accountable installer) and revoke the "
        "old bot token; revoke it if nobody needs the bot.",
        fw("NHI1:2025", "PR.AA-01", "AC-2, AC-2(3)", "6.2"), rlg.installer_departed, REVOKE,
    ),
    Rule(
        "grant_unaccounted", "Slack shows a grant of the app that no holder accounts for",
        S.CRITICAL,
        "The workspace's own log shows an active grant (installed, scopes expanded or "
        "resources granted, not removed since) for a user no holder's binding covers: a shadow "
        "or leaked copy, an old deployment, or a token the app lost track of. Nobody reviews "
        "or revokes a token nobody lists.",
        "Find who holds it (the evidence names the installer, time, scopes and log entries; "
        "nhictl ledger list --workspace shows the workspace's history); import it into a "
        "source so it is governed, or have a workspace admin remove the grant in Slack.",
        fw("NHI1:2025, NHI2:2025", "ID.AM-02, PR.AA-01", "AC-2, CM-8", "5.5"),
        rlg.grant_unaccounted, None,
    ),
    Rule(
        "uninstalled_still_held", "Holder keeps a binding for an app Slack says was uninstalled",
        S.HIGH,
        "Slack revoked every token of an app when it left the workspace; a holder that still "
        "lists the binding as live runs on stale state (failed posts, silent retries) and "
        "shows a grant that no longer exists in every review.",
        "Revoke the binding in nhictl (records the cleanup) and have the app drop the "
        "connection, or reconnect if the app is meant to be there again.",
        fw("NHI1:2025", "ID.AM-02", "AC-2, AC-2(3)", "5.1"), rlg.uninstalled_still_held, REVOKE,
    ),
    Rule(
        "dead_token_retained", "Dead credential kept past the grace period without revocation",
        S.MEDIUM,
        "A grant Slack or the broker reports dead must be routed to reconnect or cleaned up, "
        "not kept and silently retried.",
        "Revoke it (records the cleanup) or have the owner reconnect.",
        fw("NHI1:2025", "PR.AA-01", "AC-2(3), IA-5", "5.3"), rl.dead_token_retained, REVOKE,
    ),
    Rule(
        "validation_stale", "Token not validated recently (or never)", S.LOW,
        "Status, scopes and identity are only as fresh as the last live validation. Revoked, "
        "dead (needs_reconnect) and removed grants are left to dead_token_retained.",
        "Run a reconcile with validation (from cron).",
        fw("NHI7:2025", "DE.CM-03", "AC-2", "5.1"), rl.validation_stale, "nhictl reconcile",
    ),
    Rule(
        "token_never_expires", "Active token never expires (token rotation off)", S.LOW,
        "A non-expiring token stays usable for years if leaked; Slack token rotation bounds it "
        "to 12 hours.",
        "Enable token rotation for the Slack app and reconnect; brokers refresh rotating "
        "tokens.",
        fw("NHI7:2025", "PR.AA-01", "IA-5", "—"), rl.token_never_expires, None,
    ),
    Rule(
        "discovery_scope_retained", "Channel-discovery scope still held after a channel was chosen",
        S.MEDIUM,
        "Discovery scopes (channel lists) are needed only while the user picks a channel.",
        "Have the owner reconnect with only the lasting purpose's scopes (e.g. chat:write).",
        fw("NHI5:2025", "PR.AA-05", "AC-6", "6.8"), rs.discovery_scope_retained, REVOKE,
    ),
    Rule(
        "scope_expanded", "Token gained scopes since its last validation or keep review", S.HIGH,
        "A grant that silently widens was never approved; it can mean a re-consent with a "
        "bigger scope set.",
        "Review the binding: keep it (sets the approved baseline) or revoke it.",
        fw("NHI5:2025", "PR.AA-05, DE.CM-03", "AC-6(7), AC-2(12)", "—"), rs.scope_expanded,
        "nhictl report access-review",
    ),
    Rule(
        "identity_mismatch", "Token's live Slack identity differs from what the source recorded",
        S.CRITICAL,
        "The token acts as another user or workspace than the app believes: a swapped, "
        "misrouted or stolen credential.",
        "Revoke the binding and have the owner reconnect; investigate how the token moved.",
        fw("NHI9:2025", "PR.AA-03", "IA-5", "—"), ri.identity_mismatch, REVOKE,
    ),
    Rule(
        "token_shared", "Same token is held by more than one binding", S.CRITICAL,
        "One credential under several owners or tenants cannot be attributed or revoked for "
        "one of them alone.",
        "Revoke the shared token and give each binding its own grant.",
        fw("NHI9:2025", "PR.AA-01", "IA-5", "5.5"), ri.token_shared, REVOKE,
    ),
    Rule(
        "cross_tenant_workspace", "One Slack user in one workspace is bound under several tenants",
        S.HIGH,
        "The same Slack identity reachable from two app tenants breaks tenant isolation.",
        "Confirm which tenant owns the connection and revoke the others.",
        fw("NHI8:2025", "PR.AA-05", "AC-6", "—"), ri.cross_tenant_workspace, REVOKE,
    ),
    Rule(
        "source_stale", "A source holding live bindings has not been reconciled lately", S.MEDIUM,
        "Bindings of a source nobody reads any more keep their last known state: a removed "
        "or re-scoped connection goes unseen. Fires when the newest reconcile of a source is "
        "older than source_stale_after_days.",
        "Reconcile the source again (nhictl reconcile --source NAME), or retire its bindings "
        "if it is gone for good (nhictl sources forget NAME).",
        fw("NHI1:2025", "ID.AM-02", "AC-2", "5.1"), rsrc.source_stale, None,
    ),
    Rule(
        "review_overdue", "Access review is overdue", S.MEDIUM,
        "Periodic review is how least privilege stays true over time. A never-reviewed binding "
        "is overdue once review_interval_days have passed since nhictl first saw it.",
        "Include it in the next access review and apply the decisions.",
        fw("NHI1:2025", "PR.AA-05", "AC-6(7), AC-2", "5.1"), rl.review_overdue,
        "nhictl report access-review",
    ),
    Rule(
        "dormant_binding", "Token unused for longer than the dormancy threshold", S.MEDIUM,
        "An unused credential is pure risk; CIS 5.3 disables accounts dormant for 45 days. "
        "Fires only when usage evidence was ingested for the binding's source.",
        "Confirm with the owner and revoke it.",
        fw("NHI1:2025", "DE.CM-03", "AC-2(3)", "5.3"), rl.dormant_binding, REVOKE,
    ),
    Rule(
        "token_store_exposed", "An installation store's token files are open to group or others",
        S.HIGH,
        "slack_sdk writes its stores with the process umask (0644 under the usual 022), so "
        "every local account and every backup of the host can read every token in them.",
        "Make the store private: chmod 600 its files (and -wal/-journal), chmod 700 its "
        "directory; and start the app with umask 077 (systemd UMask=0077) so new files stay "
        "private. nhictl reads the store but never changes it.",
        fw("NHI2:2025", "PR.DS-01", "SC-28, AC-3", "3.3"), rh.token_store_exposed, None,
        "medium while a parent directory keeps group and others out",
    ),
    Rule(
        "suppression_expired", "A suppression passed its expiry date", S.LOW,
        "Accepted risk is accepted for a time; after expiry the hidden finding shows again "
        "until someone re-decides.",
        "Fix the finding, or renew the suppression with a new expiry, ticket and approver.",
        fw("—", "PR.AA-05", "AC-6(7)", "—"), None, None,
    ),
)

RULE_IDS: tuple[str, ...] = tuple(r.id for r in _RULES)


def all_rules() -> list[Rule]:
    return list(_RULES)


def get_rule(rule_id: str) -> Rule:
    for rule in _RULES:
        if rule.id == rule_id:
            return rule
    raise UsageError(f"unknown rule {rule_id!r}", hint="valid rules: " + ", ".join(RULE_IDS))


def select_rules(ids: Iterable[str] | None) -> list[Rule]:
    """Rules by id (``None`` or empty: all), in catalog order; unknown id -> usage error."""
    wanted = [i.strip() for i in ids or [] if i.strip()]
    if not wanted:
        return all_rules()
    for rule_id in wanted:
        get_rule(rule_id)
    return [r for r in _RULES if r.id in wanted]
