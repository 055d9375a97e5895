"""Rules about the holders of tokens rather than one binding: an installation store whose
files others can read."""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from nhictl.catalog.loader import Catalog
from nhictl.checks.common import live
from nhictl.checks.model import Finding, Rule, Snapshot
from nhictl.models import Severity
from nhictl.policy import Policy

# The observation kind the slack-store source records (nhictl.sources.slack_store_read).
STORE_FILE_EXPOSED = "store_file_exposed"


def token_store_exposed(
    rule: Rule, snap: Snapshot, policy: Policy, catalog: Catalog, now: datetime
) -> list[Finding]:
    """One finding per exposed store (not per binding): the fix is one chmod at the app."""
    held = Counter(b.source for b in live(snap))
    out: list[Finding] = []
    for obs in snap.observations:
        if obs.kind != STORE_FILE_EXPOSED:
            continue
        d = obs.details
        who = sorted(set(d.get("readable_by") or []) | set(d.get("writable_by") or []))
        modes = ", ".join(d.get("modes") or {}) or "unknown"
        reachable = bool(d.get("reachable", True))
        message = (f"Installation store {obs.subject} (source {obs.source}) holds "
                   f"{held.get(obs.source, 0)} live token(s) in {d.get('files_exposed', 1)} "
                   f"file(s) open to {' and '.join(who) or 'others'} (mode {modes}).")
        if not reachable:
            message += (f" A parent directory ({d.get('blocked_by')}) keeps them out for now; "
                        "moving or re-permissioning it would expose the tokens.")
        evidence = {**dict(d), "source": obs.source, "observed_at": obs.observed_at,
                    "live_bindings": held.get(obs.source, 0)}
        out.append(rule.finding(
            None, message, evidence,
            severity=None if reachable else Severity.MEDIUM,
            discriminator=f"{obs.source}:{obs.subject}",
        ))
    return out
