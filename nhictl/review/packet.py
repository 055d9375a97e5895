"""Building the review packet from the inventory, with findings computed fresh.

The packet runs the checks in memory (nothing recorded) so its findings are as current as
the inventory, whether or not ``nhictl check`` ran since the last reconcile.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from nhictl.catalog.loader import Catalog
from nhictl.checks.common import gc_paused
from nhictl.checks.engine import evaluate
from nhictl.checks.model import BindingView, Finding, LedgerEntryView
from nhictl.checks.runner import policy_suppressions
from nhictl.checks.slack_side import histories
from nhictl.checks.snapshot import load_accepted, load_snapshot
from nhictl.clock import iso
from nhictl.errors import InvalidInputError
from nhictl.filters import Filters
from nhictl.policy import Policy
from nhictl.review.report import Tally, iter_rows
from nhictl.store.engine import Inventory


@dataclass
class Packet:
    generated_at: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


@dataclass
class PacketStream:
    """The packet's rows one at a time (in packet order); ``tally`` has counted every row
    once ``rows`` is exhausted (its summary goes after the rows, or to the terminal)."""

    generated_at: str
    rows: Iterator[dict[str, Any]]
    tally: Tally


def build_packet(
    inv: Inventory,
    policy: Policy,
    catalog: Catalog,
    *,
    now: datetime,
    include_revoked: bool = False,
    wanted: Filters | None = None,
) -> Packet:
    """The packet; ``wanted`` keeps the bindings it matches (and, with rules, only the
    bindings with an open finding of one of those rules)."""
    stream = stream_packet(inv, policy, catalog, now=now, include_revoked=include_revoked,
                           wanted=wanted)
    with gc_paused():
        rows = list(stream.rows)
    return Packet(stream.generated_at, rows, stream.tally.summary())


def stream_packet(
    inv: Inventory,
    policy: Policy,
    catalog: Catalog,
    *,
    now: datetime,
    include_revoked: bool = False,
    wanted: Filters | None = None,
) -> PacketStream:
    """:func:`build_packet` with its rows built as they are read (none held): the findings
    are computed here, each row when it is asked for."""
    try:
        with inv.engine.connect() as conn:
            snapshot = load_snapshot(conn)
            accepted = load_accepted(conn, now)
    except SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot read {inv.location}: {exc}") from exc
    findings = evaluate(snapshot, policy, catalog, now,
                        suppressions=[*policy_suppressions(policy), *accepted])
    # The rows are built from the snapshot's views (which share equal values) rather than
    # a second read of every binding; a row reads its findings as dicts made when it is
    # built (a dict per finding held for all of them: most of the peak at 1M).
    by_binding: dict[str, list[Finding]] = {}
    for f in findings:
        if f.binding_id:
            by_binding.setdefault(f.binding_id, []).append(f)
    del findings

    def findings_of(binding_id: str) -> list[dict[str, Any]]:
        return [_slim(f) for f in by_binding.get(binding_id, ())]

    history = histories(snapshot)
    # Views put in packet order first (a list of references), so rows can go out as built.
    views = sorted(snapshot.bindings, key=lambda v: (v.tenant or "",
                                                     v.owner_email or v.owner_id or "", v.id))
    bindings: Iterable[dict[str, Any]] = (_binding(v, history.get(v.id)) for v in views)
    if wanted is not None and wanted.on_bindings:
        bindings = (b for b in bindings if wanted.binding_matches(b))
    rows = iter_rows(bindings, (), include_revoked=include_revoked, ordered=True,
                     findings_of=findings_of)
    if wanted is not None and wanted.rule:
        rule_wanted = wanted
        rows = (r for r in rows if any(rule_wanted.rule_matches(rule) for rule in r["findings"]))
    tally = Tally()
    return PacketStream(iso(now), _counted(rows, tally), tally)


def _counted(rows: Iterable[dict[str, Any]], tally: Tally) -> Iterator[dict[str, Any]]:
    for row in rows:
        tally.add(row)
        yield row


# What ``review_row`` reads of a binding (``repo.decode_binding`` keys).
_BINDING_KEYS: tuple[str, ...] = (
    "id", "tenant", "owner_id", "owner_email", "owner_name", "owner_status", "workspace_id",
    "workspace_name", "source_team_id", "slack_user_id", "source_slack_user_id", "token_kind",
    "purpose", "granted_scopes", "status", "status_reason", "last_validated_at",
    "last_validation_outcome", "last_used_at", "revoke_reason", "source", "connection_id",
    "last_review_decision", "last_reviewed_at", "declared_scopes",
)


def _binding(view: BindingView, history: list[LedgerEntryView] | None) -> dict[str, Any]:
    out = {key: getattr(view, key) for key in _BINDING_KEYS}
    out["slack_history"] = [e.cite() for e in history] if history else []
    return out


def _slim(f: Finding) -> dict[str, Any]:
    """The keys of ``Finding.as_dict`` that packet rows read."""
    return {"rule_id": f.rule_id, "severity": f.severity.value, "binding_id": f.binding_id,
            "title": f.title, "message": f.message, "evidence": f.evidence,
            "suppressed": f.suppressed, "suppression": f.suppression}
