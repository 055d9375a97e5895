"""The revoke plan (pure): for each binding, what will be called, or why nothing will be."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from nhictl.models import Status, TokenKind
from nhictl.revoke.record import Attempt

REMOVABLE_KINDS = frozenset({"workos", "nango"})
BROKER_NAMES = {"workos": "WorkOS Pipes", "nango": "Nango"}
BOT_NOTE = ("bot token: auth.revoke deactivates the bot user in this workspace; it does NOT "
            "uninstall the app (uninstall it from the workspace's app management page)")

NANGO_NOTE = ("any other Slack token of the same Nango connection (its bot or user token) is "
              "revoked at Slack too before the connection is deleted")

STORE_NOTE = ("the installation row (with its now-dead token) stays in the app's slack_sdk "
              "store; the app should delete it (installation_store.delete_installation)")


@dataclass(frozen=True)
class RevokeStep:
    binding_id: str
    owner: str
    workspace: str
    token_kind: str | None
    status: str
    source: str
    source_spec: str | None
    source_kind: str
    connection_id: str
    workspace_id: str | None
    reason: str
    calls: tuple[str, ...]
    notes: tuple[str, ...] = ()
    noop: str | None = None  # why nothing will be done
    owner_id: str | None = None  # lets a broker look the one connection up
    mark_removed: bool = False  # the operator's choice: record `removed`, Slack not told
    resume: str | None = None  # stage an earlier interrupted attempt reached (revoke.record)
    obtained_from: str = "its source"  # how the token will be obtained (the probe says truly)
    fingerprint: str | None = None  # the token nhictl recorded for it (checked before a call)

    @property
    def removable(self) -> bool:
        return self.source_kind in REMOVABLE_KINDS

    def as_row(self) -> dict[str, Any]:
        return {
            "binding_id": self.binding_id, "owner": self.owner, "workspace": self.workspace,
            "token_kind": self.token_kind or "unknown", "status": self.status,
            "source": self.source, "obtained_from": "-" if self.noop or self.mark_removed
            else self.obtained_from, "will_call": "nothing: " + self.noop if self.noop
            else " then ".join(self.calls),
            "reason": self.reason, "notes": "; ".join(self.notes),
        }


def source_kind(source: str, source_spec: str | None, configured: Mapping[str, str]) -> str:
    """The kind of a binding's source: its config kind, or the prefix of its spec."""
    if source in configured:
        return configured[source]
    spec = source_spec or source
    kind, sep, _ = spec.partition(":")
    return kind if sep else "unknown"


MARK_REMOVED_CALL = ("nothing at Slack or the broker: record it `removed` with an event saying "
                     "Slack was NOT told (the token may still work)")


def plan_step(binding: dict[str, Any], *, kind: str, reason: str,
              mark_removed: bool = False) -> RevokeStep:
    owner = binding.get("owner_email") or binding.get("owner_id") or "no recorded owner"
    team = binding.get("workspace_id") or binding.get("source_team_id")
    name = binding.get("workspace_name")
    workspace = f"{name} ({team})" if name and team else (team or "unknown workspace")
    token_kind = binding.get("token_kind")
    status = binding.get("status") or Status.UNVALIDATED.value
    source = str(binding.get("source"))
    holder = BROKER_NAMES.get(kind, f"{kind} source")
    calls = [f"Slack auth.revoke with the token obtained from {holder} {source!r}"]
    if kind in REMOVABLE_KINDS:
        connection = str(binding.get("connection_id"))
        if kind == "nango":  # CONNECTION#user is a binding of Nango's CONNECTION
            from nhictl.sources.nango_wire import USER_PART

            connection = connection.removesuffix(USER_PART)
        calls.append(f"{holder} removal of connection {connection}")
    notes = [BOT_NOTE] if token_kind == TokenKind.BOT.value else []
    if kind == "slack-store":
        notes.append(STORE_NOTE)
    if kind == "nango":
        notes.append(NANGO_NOTE)
    noop = None
    if mark_removed:
        calls, notes = [MARK_REMOVED_CALL], []
    if status == Status.REVOKED.value:
        when = binding.get("revoked_at") or "earlier"
        noop = f"already revoked at {when}"
        calls, notes = [], []
    return RevokeStep(
        binding_id=str(binding["id"]), owner=str(owner), workspace=workspace,
        token_kind=token_kind, status=status, source=source,
        source_spec=binding.get("source_spec"), source_kind=kind,
        connection_id=str(binding.get("connection_id")), workspace_id=team, reason=reason,
        calls=tuple(calls), notes=tuple(notes), noop=noop, owner_id=binding.get("owner_id"),
        mark_removed=mark_removed, fingerprint=binding.get("token_fingerprint") or None,
    )


def build_plan(
    targets: list[tuple[dict[str, Any], str]],
    configured: Mapping[str, str],
    shared: Mapping[str, list[str]] | None = None,
    notes: Mapping[str, list[str]] | None = None,
    *,
    attempts: Mapping[str, Attempt] | None = None,
    mark_removed: bool = False,
) -> list[RevokeStep]:
    """One step per (binding, reason), in the given order, each binding once.

    ``shared`` maps a binding id to the other bindings holding the same token (same
    fingerprint): revoking the token cuts them off too, which the plan must say.
    ``attempts`` are earlier attempts that never wrote their outcome: the step resumes them.
    """
    steps: list[RevokeStep] = []
    seen: set[str] = set()
    for binding, reason in targets:
        if binding["id"] in seen:
            continue
        seen.add(binding["id"])
        kind = source_kind(str(binding.get("source")), binding.get("source_spec"), configured)
        step = plan_step(binding, kind=kind, reason=reason, mark_removed=mark_removed)
        attempt = (attempts or {}).get(step.binding_id)
        if step.noop is None and attempt is not None:
            step = replace(step, resume=attempt.stage, notes=(*step.notes, attempt.describe()))
        others = (shared or {}).get(step.binding_id, [])
        if others and step.noop is None and not mark_removed:
            note = (f"shares its token with {', '.join(others)}: revoking it cuts "
                    f"{'that binding' if len(others) == 1 else 'those bindings'} off too")
            step = replace(step, notes=(*step.notes, note))
        extra = (notes or {}).get(step.binding_id, [])
        if extra and step.noop is None:
            step = replace(step, notes=(*step.notes, *extra))
        steps.append(step)
    return steps
