"""Builders for check tests: a clean binding that no rule flags, varied per case."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from nhictl.catalog import load_catalog
from nhictl.checks import BindingView, Finding, Snapshot, evaluate, get_rule
from nhictl.policy import Policy

NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
RECENT = "2026-05-31T12:00:00Z"


def clean(**changes: Any) -> BindingView:
    """An active, validated, reviewed, least-privilege notifications binding."""
    base = BindingView(
        id="b-0000000001",
        source="export",
        connection_id="c1",
        status="active",
        tenant="acme",
        owner_id="u1",
        owner_email="grace@example.com",
        owner_status="active",
        purpose=("notifications",),
        declared_scopes=("chat:write",),
        granted_scopes=("chat:write",),
        source_team_id="T1",
        source_slack_user_id="U1",
        workspace_id="T1",
        workspace_name="Acme",
        slack_user_id="U1",
        token_kind="user",
        created_at="2026-05-01T00:00:00Z",
        token_expires_at="2026-06-01T20:00:00Z",
        token_fingerprint="hmac-sha256:0000000000000001",
        status_changed_at="2026-05-01T00:00:00Z",
        slack_user_deleted=False,
        first_seen_at="2026-05-01T00:00:00Z",
        last_seen_at=RECENT,
        last_validated_at=RECENT,
        last_validation_outcome="ok",
        last_used_at=RECENT,
        last_reviewed_at="2026-05-02T00:00:00Z",
        last_review_decision="keep",
    )
    return replace(base, **changes)


def run(rule_id: str, *bindings: BindingView, usage_sources: tuple[str, ...] = (),
        policy: Policy | None = None) -> list[Finding]:
    snap = Snapshot(bindings=tuple(bindings), usage_sources=frozenset(usage_sources))
    return evaluate(snap, policy or Policy(), load_catalog(), NOW, rules=[get_rule(rule_id)])
