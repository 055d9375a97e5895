"""Source rules: is every source that holds live bindings still being read?"""

from __future__ import annotations

from datetime import datetime

from nhictl.catalog.loader import Catalog
from nhictl.checks.model import Finding, Rule, Snapshot
from nhictl.clock import age_days
from nhictl.policy import Policy

RETIRED = ("removed", "revoked")


def last_reconciled(snap: Snapshot) -> dict[str, tuple[str, int]]:
    """Per source with live bindings: when a reconcile last read it (the newest
    ``last_seen_at`` of its bindings, which the snapshot takes from its source's complete
    reads, ``nhictl.store.seen``; a failed read records none) and its live count."""
    newest: dict[str, str] = {}
    live: dict[str, int] = {}
    for b in snap.bindings:
        if b.last_seen_at and b.last_seen_at > newest.get(b.source, ""):
            newest[b.source] = b.last_seen_at
        if b.status not in RETIRED and not b.revoked:
            live[b.source] = live.get(b.source, 0) + 1
    return {s: (newest[s], n) for s, n in live.items() if s in newest}


def source_stale(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """One finding per live binding of a stale source (so it shows in ``inventory show``,
    the review packet and every per-binding filter)."""
    limit = policy.source_stale_after_days
    stale: dict[str, tuple[str, int, int]] = {}
    for source, (seen_at, n_live) in last_reconciled(snap).items():
        age = age_days(seen_at, now)
        if age is not None and age > limit:
            stale[source] = (seen_at, int(age), n_live)
    out: list[Finding] = []
    for b in snap.bindings:
        if b.source not in stale or b.status in RETIRED or b.revoked:
            continue
        seen_at, age, n_live = stale[b.source]
        out.append(rule.finding(
            b, f"{b.describe()} comes from source {b.source}, last reconciled {age} days ago "
            f"(window {limit} days): its state is no longer checked against its holder.",
            {"source": b.source, "last_reconciled_at": seen_at, "age_days": age,
             "source_stale_after_days": limit, "live_bindings_of_source": n_live,
             "commands": [f"nhictl reconcile --source {b.source}",
                          f"nhictl sources forget {b.source}"]},
        ))
    return out
