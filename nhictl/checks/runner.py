"""A check run: snapshot the inventory, run the rules, store findings, diff with the last run."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from nhictl.catalog.loader import Catalog
from nhictl.checks.common import gc_paused
from nhictl.checks.engine import evaluate, summary
from nhictl.checks.model import Finding, Rule
from nhictl.checks.registry import all_rules
from nhictl.checks.snapshot import load_accepted, load_snapshot
from nhictl.checks.suppressions import Suppression, load_suppressions
from nhictl.clock import iso
from nhictl.errors import InvalidInputError
from nhictl.policy import Policy
from nhictl.store import findings_repo
from nhictl.store.engine import Inventory
from nhictl.store.repo import new_run_id


@dataclass
class CheckReport:
    run_id: str
    generated_at: str
    findings: list[Finding]
    rules: list[str]
    bindings_checked: int
    previous_run_id: str | None = None
    resolved: list[dict[str, Any]] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return summary(
            self.findings, resolved=len(self.resolved), run_id=self.run_id,
            previous_run_id=self.previous_run_id, bindings_checked=self.bindings_checked,
        )

    def as_json(self, findings: Sequence[Finding] | None = None) -> dict[str, Any]:
        shown = self.findings if findings is None else findings
        return {
            "schema_version": 1,
            "generated_at": self.generated_at,
            "run_id": self.run_id,
            "findings": [f.as_dict() for f in shown],
            "resolved": self.resolved,
            "summary": self.summary(),
        }


def policy_suppressions(policy: Policy) -> list[Suppression]:
    if policy.suppressions_path is None:
        return []
    return load_suppressions(policy.suppressions_path, [r.id for r in all_rules()])


# Prebuilt encoders: ``json.dumps`` with options builds a new encoder per call.
_evidence_json = json.JSONEncoder(sort_keys=True, default=str).encode
_suppression_json = json.JSONEncoder(sort_keys=True).encode


def _row(f: Finding) -> tuple[Any, ...]:
    """A finding as stored (``findings_repo.FINDING_COLUMNS`` after ``run_id``)."""
    return (f.rule_id, f.binding_id, f.fingerprint, f.severity.value, f.title, f.message,
            _evidence_json(f.evidence), f.suppressed,
            _suppression_json(f.suppression) if f.suppression else None, f.first_seen_at)


def run_checks(
    inv: Inventory,
    policy: Policy,
    catalog: Catalog,
    *,
    now: datetime,
    actor: str,
    rules: Sequence[Rule] | None = None,
    suppressions: Sequence[Suppression] | None = None,
    command: str | None = None,
    trial: bool = False,
) -> CheckReport:
    """Run the rules over the inventory and record the findings as one check run.

    ``suppressions`` defaults to the file the policy names. ``first_seen_at`` carries over
    from the previous comparable run (one that ran every selected rule); findings of that run
    under the selected rules that are gone now are ``resolved``.
    """
    selected = list(rules) if rules is not None else all_rules()
    ids = [r.id for r in selected]
    sups = list(suppressions) if suppressions is not None else policy_suppressions(policy)
    stamp = iso(now)
    run_id = new_run_id(now)
    try:
        # Hundreds of thousands of long-lived views and findings: full collections would
        # walk them again and again (reference counting still frees garbage meanwhile).
        with gc_paused(), inv.engine.begin() as conn:
            snapshot = load_snapshot(conn)
            findings = evaluate(snapshot, policy, catalog, now, rules=selected,
                                suppressions=[*sups, *load_accepted(conn, now)])
            checked = len(snapshot.bindings)
            del snapshot  # the findings hold no view: a million views go before the writes
            prev = findings_repo.previous_run(conn, ids)
            # fingerprint -> (pk, first_seen_at) of the previous run's findings, oldest first
            before = findings_repo.run_fingerprints(conn, prev["id"], ids) if prev else {}
            out: list[Finding] = findings  # fresh objects from evaluate: updated in place
            for f in out:
                fp = f.fingerprint
                old = before.get(fp)
                f.first_seen_at = old[1] if old else stamp
                f.new = old is None
                if old is not None and old[0] is not None:
                    before[fp] = (None, old[1])  # seen again: not resolved (no extra set)
            gone = [pk for pk, _ in before.values() if pk is not None]
            before.clear()
            resolved = findings_repo.findings_by_pk(
                conn, gone, ("rule_id", "binding_id", "severity", "first_seen_at", "message"))
            report = CheckReport(run_id, stamp, out, ids, checked,
                                 prev["id"] if prev else None, resolved)
            counts = {**report.summary(), "rules": ids,
                      "partial": len(ids) != len(all_rules()), "trial": trial}
            findings_repo.insert_run(conn, run_id=run_id, at=stamp, actor=actor,
                                     command=command, counts=counts,
                                     findings=map(_row, out))
    except SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot run checks on {inv.location}: {exc}") from exc
    return report
