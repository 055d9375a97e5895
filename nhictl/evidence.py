"""What a review cycle did, from the audit trail: reviewed, kept, reduced, revoked, open.

Built only from append-only events plus the current state of each binding, so the same
inventory always gives the same evidence for the same window. ``revoked`` lists only what
Slack confirmed; bindings marked removed without telling Slack (and revocations recorded by
older versions without a Slack call) are listed apart, as ``not_revoked_at_slack``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection

from nhictl.models import EventType, Status
from nhictl.revoke.record import JOURNAL_TYPES, NOT_TOLD
from nhictl.store import repo
from nhictl.untrusted import md

VERIFIED = ("revoked", "already_dead")  # outcomes that rest on Slack's answer


def _latest_decisions(conn: Connection, since: str) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for ev in repo.iter_events(conn, since=since, types=[EventType.REVIEW_DECISION.value]):
        if ev["binding_id"]:
            out[ev["binding_id"]] = ev
    return out


def build_evidence(conn: Connection, *, since: str, generated_at: str,
                   keep: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """The evidence over every binding, or only those ``keep`` accepts (a filter)."""
    bindings = {b["id"]: b for b in repo.iter_bindings(conn) if keep is None or keep(b)}
    decisions = {bid: ev for bid, ev in _latest_decisions(conn, since).items()
                 if bid in bindings}
    revoked_events: dict[str, dict[str, Any]] = {}
    unverified: dict[str, dict[str, Any]] = {}
    failures: dict[str, dict[str, Any]] = {}
    in_flight: dict[str, dict[str, Any]] = {}  # an attempt that never wrote its outcome
    for ev in repo.iter_events(conn, since=since, types=list(JOURNAL_TYPES)):
        bid = ev["binding_id"]
        if not bid or bid not in bindings:
            continue
        in_flight.pop(bid, None)
        if ev["type"] == EventType.REVOKED.value and ev["details"].get("outcome") in VERIFIED:
            revoked_events[bid] = ev
            unverified.pop(bid, None)  # marked earlier, confirmed by Slack since
        elif ev["type"] in (EventType.REVOKED.value, EventType.MARKED_REMOVED.value):
            unverified[bid] = ev
        elif ev["type"] == EventType.REVOKE_FAILED.value:
            failures[bid] = ev
        else:
            in_flight[bid] = ev

    def who(bid: str) -> dict[str, Any]:
        b = bindings.get(bid) or {}
        return {"binding_id": bid, "tenant": b.get("tenant"),
                "owner": b.get("owner_email") or b.get("owner_id"),
                "workspace": b.get("workspace_name") or b.get("workspace_id"),
                "status": b.get("status")}

    reviewed, kept, reduced = [], [], []
    for bid, ev in sorted(decisions.items()):
        d = ev["details"]
        item = {**who(bid), "decision": d.get("decision"), "reviewer": d.get("reviewer"),
                "decided_at": d.get("decided_at"), "justification": d.get("justification"),
                "recorded_at": ev["at"], "recorded_by": ev["actor"]}
        reviewed.append(item)
        if d.get("decision") == "keep":
            kept.append(item)
        elif d.get("decision") == "reduce":
            before = set(d.get("granted_scopes") or [])
            now = set((bindings.get(bid) or {}).get("granted_scopes") or [])
            done = (bindings.get(bid) or {}).get("status") == Status.REVOKED.value or (
                bool(before) and now < before)
            reduced.append({**item, "done": done, "scopes_before": sorted(before),
                            "scopes_now": sorted(now)})
    revoked = [
        {**who(bid), "revoked_at": ev["at"], "revoked_by": ev["actor"],
         "reason": ev["details"].get("reason"), "outcome": ev["details"].get("outcome"),
         "slack": ev["details"].get("slack")}
        for bid, ev in sorted(revoked_events.items(), key=lambda kv: kv[1]["seq"])
    ]
    not_at_slack = [
        {**who(bid), "recorded_at": ev["at"], "recorded_by": ev["actor"],
         "reason": ev["details"].get("reason"),
         "why": NOT_TOLD if ev["type"] == EventType.MARKED_REMOVED.value
         else "recorded revoked without a Slack call (the source no longer held it)"}
        for bid, ev in sorted(unverified.items(), key=lambda kv: kv[1]["seq"])
    ]
    still_open = []
    for bid, b in sorted(bindings.items()):
        if b.get("status") == Status.REVOKED.value and bid not in unverified:
            continue
        decision = decisions.get(bid, {}).get("details", {}).get("decision")
        why = None
        if bid in in_flight:
            why = (f"revoke attempt interrupted at {in_flight[bid]['at']} "
                   f"({in_flight[bid]['type']}); run the revoke again to finish it")
        elif bid in unverified:
            why = None  # listed in not_revoked_at_slack
        elif decision is None:
            why = "not reviewed"
        elif decision == "revoke":
            fail = failures.get(bid)
            why = "revoke decided, not executed" + (
                f" (last attempt failed: {fail['details'].get('error')})" if fail else "")
        elif decision == "reduce" and not next(r["done"] for r in reduced
                                               if r["binding_id"] == bid):
            why = "reduce decided, scopes not reduced yet"
        elif decision == "keep":
            grown = sorted(set(b.get("granted_scopes") or [])
                           - set(b.get("approved_scopes") or []))
            if b.get("approved_scopes") is not None and grown:
                why = f"kept, but scopes grew since the decision: {', '.join(grown)}"
        if why:
            still_open.append({**who(bid), "why": why})
    return {
        "schema_version": 1, "generated_at": generated_at, "since": since,
        "counts": {"reviewed": len(reviewed), "kept": len(kept), "reduced": len(reduced),
                   "revoked": len(revoked), "not_revoked_at_slack": len(not_at_slack),
                   "open": len(still_open)},
        "reviewed": reviewed, "kept": kept, "reduced": reduced, "revoked": revoked,
        "not_revoked_at_slack": not_at_slack, "open": still_open,
    }


# Every evidence list carries these (who()); the time fields differ between lists.
EVIDENCE_SORT_FIELDS = ("binding_id", "tenant", "owner", "workspace", "status")


def sort_evidence(ev: dict[str, Any], spec: str | None) -> dict[str, Any]:
    """``ev`` with each list ordered by ``spec`` (see filters.sort_rows); counts unchanged."""
    from nhictl.filters import sort_rows

    if not spec:
        return ev
    sort_rows([], spec, EVIDENCE_SORT_FIELDS)  # a bad field is refused even with no rows
    return {**ev, **{key: list(sort_rows(ev[key], spec, EVIDENCE_SORT_FIELDS))
                     for key in ev["counts"]}}


def _cell(value: Any) -> str:
    return md(value) or "—"  # inert, no HTML, links or table breaks (untrusted.md)


def evidence_markdown(ev: dict[str, Any]) -> str:
    c = ev["counts"]
    out = ["# Access review evidence", "",
           f"Window: since {md(ev['since'])} (generated {md(ev['generated_at'])}).", "",
           f"* reviewed: {c['reviewed']} (kept {c['kept']}, reduce {c['reduced']})",
           f"* revoked (confirmed by Slack): {c['revoked']}",
           f"* not revoked at Slack (recorded without Slack confirming it): "
           f"{c['not_revoked_at_slack']}", f"* still open: {c['open']}"]
    sections: list[tuple[str, str, list[str]]] = [
        ("Reviewed", "reviewed",
         ["binding_id", "owner", "decision", "reviewer", "decided_at", "justification"]),
        ("Reduced", "reduced", ["binding_id", "owner", "reviewer", "decided_at", "done"]),
        ("Revoked", "revoked", ["binding_id", "owner", "workspace", "revoked_at", "revoked_by",
                                "slack", "reason"]),
        ("Not revoked at Slack", "not_revoked_at_slack",
         ["binding_id", "owner", "workspace", "recorded_at", "recorded_by", "why"]),
        ("Still open", "open", ["binding_id", "tenant", "owner", "status", "why"]),
    ]
    for title, key, cols in sections:
        out += ["", f"## {title}", ""]
        rows = ev[key]
        if not rows:
            out.append("_None._")
            continue
        out.append("| " + " | ".join(cols) + " |")
        out.append("|" + "---|" * len(cols))
        for r in rows:
            out.append("| " + " | ".join(_cell(r.get(k)) for k in cols) + " |")
    out.append("")
    return "\n".join(out)
