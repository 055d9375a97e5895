"""Building the review packet from the inventory, with findings computed fresh.

The packet runs the checks in memory (nothing recorded) so its findings are as current as
the inventory, whether or not ``nhictl check`` ran since the last reconcile.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.exc import SQLAlchemyError

from nhictl.catalog.loader import Catalog
from nhictl.checks.engine import evaluate
from nhictl.checks.runner import policy_suppressions
from nhictl.checks.snapshot import load_snapshot
from nhictl.clock import iso
from nhictl.errors import InvalidInputError
from nhictl.policy import Policy
from nhictl.review.report import build_rows, summarise
from nhictl.store import repo
from nhictl.store.engine import Inventory


@dataclass
class Packet:
    generated_at: str
    rows: list[dict[str, Any]]
    summary: dict[str, Any]


def build_packet(
    inv: Inventory,
    policy: Policy,
    catalog: Catalog,
    *,
    now: datetime,
    include_revoked: bool = False,
) -> Packet:
    try:
        with inv.engine.connect() as conn:
            snapshot = load_snapshot(conn)
            findings = evaluate(snapshot, policy, catalog, now,
                                suppressions=policy_suppressions(policy))
            bindings = list(repo.iter_bindings(conn))
    except SQLAlchemyError as exc:
        raise InvalidInputError(f"cannot read {inv.location}: {exc}") from exc
    rows = build_rows(bindings, [f.as_dict() for f in findings],
                      include_revoked=include_revoked)
    return Packet(iso(now), rows, summarise(rows))
