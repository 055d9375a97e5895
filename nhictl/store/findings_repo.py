"""Findings per check run: store one run, read the previous comparable run."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, select

from nhictl.store.tables import FINDINGS, RUNS


def check_runs(conn: Connection) -> list[dict[str, Any]]:
    """Completed check runs, oldest first (ordered by start time, then sequence number)."""
    rows = conn.execute(
        select(RUNS).where(RUNS.c.kind == "check", RUNS.c.outcome == "ok")
    ).all()
    runs = []
    for row in rows:
        data = dict(row._mapping)
        data["counts"] = json.loads(data["counts"] or "{}")
        runs.append(data)
    runs.sort(key=lambda r: (r["started_at"], int(r["counts"].get("seq", 0))))
    return runs


def previous_run(conn: Connection, rule_ids: Iterable[str]) -> dict[str, Any] | None:
    """The newest check run that ran every one of ``rule_ids`` (so it is comparable)."""
    wanted = set(rule_ids)
    for run in reversed(check_runs(conn)):
        ran: list[str] = run["counts"].get("rules", [])
        if wanted <= set(ran):
            found: dict[str, Any] = run
            return found
    return None


def run_findings(conn: Connection, run_id: str) -> list[dict[str, Any]]:
    rows = conn.execute(
        select(FINDINGS).where(FINDINGS.c.run_id == run_id).order_by(FINDINGS.c.pk)
    ).all()
    out = []
    for row in rows:
        data = dict(row._mapping)
        data["evidence"] = json.loads(data["evidence"] or "{}")
        data["suppression"] = json.loads(data["suppression"]) if data["suppression"] else None
        out.append(data)
    return out


def latest_findings(conn: Connection, binding_id: str | None = None) -> list[dict[str, Any]]:
    """Findings of the newest complete (all rules) check run, optionally for one binding."""
    runs = [r for r in check_runs(conn) if not r["counts"].get("partial")]
    if not runs:
        return []
    found = run_findings(conn, runs[-1]["id"])
    if binding_id is not None:
        found = [f for f in found if f["binding_id"] == binding_id]
    return found


def insert_run(
    conn: Connection,
    *,
    run_id: str,
    at: str,
    actor: str,
    command: str | None,
    counts: dict[str, Any],
    findings: Sequence[dict[str, Any]],
) -> None:
    seq = max((int(r["counts"].get("seq", 0)) for r in check_runs(conn)), default=0) + 1
    conn.execute(RUNS.insert().values(
        id=run_id, kind="check", command=command, actor=actor, pid=None, started_at=at,
        ended_at=at, outcome="ok", counts=json.dumps({**counts, "seq": seq}, sort_keys=True),
    ))
    if findings:
        conn.execute(FINDINGS.insert(), [{**f, "run_id": run_id} for f in findings])
