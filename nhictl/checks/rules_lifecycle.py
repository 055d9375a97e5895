"""Lifecycle rules: dead, stale, never-expiring, unreviewed and unused credentials."""

from __future__ import annotations

from datetime import datetime, timedelta

from nhictl.catalog.loader import Catalog
from nhictl.checks.common import DEAD_GRANT, older_than
from nhictl.checks.model import BindingView, Finding, Rule, Snapshot
from nhictl.clock import age_days, iso, parse_time
from nhictl.policy import Policy


def _earliest(*stamps: str | None) -> str | None:
    present = [s for s in stamps if s]
    return min(present, key=parse_time) if present else None


def _days(then: str | None, now: datetime) -> int | None:
    age = age_days(then, now)
    return None if age is None else int(age)


def dead_token_retained(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    grace = policy.dead_credential_grace_days
    for b in snap.bindings:
        if b.revoked or b.status not in ("needs_reconnect", "removed"):
            continue
        since = b.status_changed_at or b.last_seen_at or b.first_seen_at
        if not older_than(since, grace, now):
            continue
        out.append(rule.finding(
            b, f"{b.describe()} has been {b.status} for {_days(since, now)} days and was "
            "never revoked.",
            {"status": b.status, "since": since, "days": _days(since, now),
             "grace_days": grace, "revoked_at": b.revoked_at},
        ))
    return out


def validation_stale(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    limit = policy.max_validation_age_days
    # Per distinct last_validated_at: how it reads, or None when it is recent enough.
    known: dict[str, str | None] = {}
    for b in snap.bindings:
        # Revoked, dead and removed grants cannot become fresher by validating;
        # dead_token_retained covers them.
        if b.revoked or b.status in ("needs_reconnect", "removed"):
            continue
        at = b.last_validated_at
        if at:
            if at not in known:
                known[at] = (f"was last validated {_days(at, now)} days ago"
                             if older_than(at, limit, now) else None)
            what = known[at]
            if what is None:
                continue
        else:
            what = "has never been validated"
        out.append(rule.finding(
            b, f"{b.describe()} {what}.",
            {"last_validated_at": b.last_validated_at,
             "last_validation_outcome": b.last_validation_outcome,
             "max_validation_age_days": limit, "status": b.status},
        ))
    return out


def token_never_expires(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    return [
        rule.finding(
            b, f"{b.describe()} holds an active token that never expires (rotation off).",
            {"status": b.status, "token_expires_at": None, "token_kind": b.token_kind},
        )
        for b in snap.bindings
        if b.status == "active" and not b.revoked and not b.token_expires_at
    ]


def _review_due(b: BindingView, interval: int) -> tuple[str | None, str]:
    """When the next review is due and what that is counted from."""
    if b.last_reviewed_at:
        return iso(parse_time(b.last_reviewed_at) + timedelta(days=interval)), "last review"
    if not b.first_seen_at:
        return None, "unknown"
    return iso(parse_time(b.first_seen_at) + timedelta(days=interval)), "first seen by nhictl"


def review_overdue(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """Never reviewed counts from when nhictl first saw the binding.

    The first review cycle is due ``review_interval_days`` after discovery, so adopting
    nhictl does not flag every existing connection as overdue on day one.
    """
    out: list[Finding] = []
    interval = policy.review_interval_days
    # Bindings share a few review/first-seen timestamps: each pair is parsed once.
    known: dict[tuple[str | None, str | None], tuple[str | None, str, bool]] = {}
    for b in snap.bindings:
        if b.revoked:
            continue
        key = (b.last_reviewed_at, b.first_seen_at)
        hit = known.get(key)
        if hit is None:
            due_at, how = _review_due(b, interval)
            hit = known[key] = (due_at, how, due_at is not None and parse_time(due_at) >= now)
        due, basis, not_due = hit
        if not_due:
            continue
        what = (f"was last reviewed on {b.last_reviewed_at[:10]}" if b.last_reviewed_at
                else "has never been reviewed")
        out.append(rule.finding(
            b, f"{b.describe()} {what}; its review was due {(due or 'long ago')[:10]}.",
            {"last_reviewed_at": b.last_reviewed_at,
             "last_review_decision": b.last_review_decision, "due_at": due,
             "first_seen_at": b.first_seen_at, "created_at": b.created_at,
             "counted_from": basis, "review_interval_days": interval},
        ))
    return out


def dormant_binding(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    out: list[Finding] = []
    limit = policy.dormant_after_days
    for b in snap.bindings:
        if b.revoked or b.status in DEAD_GRANT or b.status == "removed":
            continue
        if b.source not in snap.usage_sources:
            continue  # no evidence for this source: absence of use proves nothing
        start = snap.usage_since.get(b.source)
        if start is not None and not older_than(start, limit, now):
            continue  # the evidence covers less than the threshold: it cannot show dormancy
        since = b.last_used_at or max(
            (t for t in (start, _earliest(b.created_at, b.first_seen_at)) if t), default=None)
        if not older_than(since, limit, now):
            continue
        what = (f"was last used {_days(b.last_used_at, now)} days ago" if b.last_used_at
                else f"has no recorded use since {str(since)[:10]}")
        out.append(rule.finding(
            b, f"{b.describe()} {what}.",
            {"last_used_at": b.last_used_at, "idle_since": since,
             "idle_days": _days(since, now), "dormant_after_days": limit,
             "usage_evidence_source": b.source, "usage_evidence_since": start},
        ))
    return out
