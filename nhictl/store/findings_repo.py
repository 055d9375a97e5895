"""Findings per check run: store one run, read the previous comparable run.

Every run keeps its whole set of findings (one row each), so ``report evidence``, ``inventory
show``, the notify digest and ``check`` new/resolved read one run as before and no
migration is needed. What makes a million-finding run affordable is how it is written: rows
are plain tuples made lazily from the findings, sent :data:`INSERT_BATCH` at a time (the
engine's write masking then looks at one batch at a time, and the rows are never all held),
and the previous run is read as one ``fingerprint -> (pk, first_seen_at)`` map. Storing only
new/resolved rows plus a current-findings table (a schema change) would make unchanged
repeat runs write nothing; it was left for a later change, as it changes what every reader
of a run's rows relies on (partial ``--rule`` runs and trial runs compare against their own
baselines).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import Connection, Table, select

from nhictl.store.tables import FINDINGS, RUNS


def check_runs(conn: Connection) -> list[dict[str, Any]]:
    """Completed check runs of the configured policy, oldest first (by start time, then
    sequence number). Trial runs (``check --policy FILE``) are recorded but are not part of
    the history: they never become the baseline for new/resolved or the current findings."""
    rows = conn.execute(
        select(RUNS).where(RUNS.c.kind == "check", RUNS.c.outcome == "ok")
    ).all()
    runs = []
    for row in rows:
        data = dict(row._mapping)
        data["counts"] = json.loads(data["counts"] or "{}")
        if not data["counts"].get("trial"):
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


def run_fingerprints(
    conn: Connection, run_id: str, rule_ids: Iterable[str]
) -> dict[str, tuple[int | None, str]]:
    """``fingerprint -> (pk, first_seen_at)`` of a run's findings under ``rule_ids``, in
    insertion order (what a new check run needs of the previous one, without the rows)."""
    wanted = set(rule_ids)
    rows = conn.execute(
        select(FINDINGS.c.pk, FINDINGS.c.fingerprint, FINDINGS.c.rule_id,
               FINDINGS.c.first_seen_at)
        .where(FINDINGS.c.run_id == run_id).order_by(FINDINGS.c.pk)
    )
    shared: dict[str, str] = {}
    return {fp: (int(pk), shared.setdefault(first, first))
            for pk, fp, rule, first in rows if rule in wanted}


def findings_by_pk(
    conn: Connection, pks: Sequence[int], columns: Sequence[str]
) -> list[dict[str, Any]]:
    """``columns`` of the findings with these primary keys, in the order given."""
    found: dict[int, dict[str, Any]] = {}
    for start in range(0, len(pks), 500):
        chunk = list(pks[start:start + 500])
        rows = conn.execute(
            select(FINDINGS.c.pk, *[FINDINGS.c[c] for c in columns])
            .where(FINDINGS.c.pk.in_(chunk))
        )
        for row in rows:
            found[int(row[0])] = dict(zip(columns, row[1:], strict=True))
    return [found[pk] for pk in pks if pk in found]


def latest_findings(conn: Connection, binding_id: str | None = None) -> list[dict[str, Any]]:
    """Findings of the newest complete (all rules) check run, optionally for one binding."""
    runs = [r for r in check_runs(conn) if not r["counts"].get("partial")]
    if not runs:
        return []
    found = run_findings(conn, runs[-1]["id"])
    if binding_id is not None:
        found = [f for f in found if f["binding_id"] == binding_id]
    return found


# The columns a check run writes per finding, in the order ``insert_run`` takes them.
FINDING_COLUMNS: tuple[str, ...] = (
    "run_id", "rule_id", "binding_id", "fingerprint", "severity", "title", "message",
    "evidence", "suppressed", "suppression", "first_seen_at")
# Rows per executemany: the engine's write masking looks at one batch at a time, so one
# suspect value makes it mask this many rows one by one (not the whole run), and the rows
# of a million-finding run are never all held at once.
INSERT_BATCH = 2000


def insert_run(
    conn: Connection,
    *,
    run_id: str,
    at: str,
    actor: str,
    command: str | None,
    counts: dict[str, Any],
    findings: Iterable[Sequence[Any]],
) -> int:
    """Record one check run and its findings; returns how many findings were written.

    ``findings`` are plain tuples in :data:`FINDING_COLUMNS` order without the leading
    ``run_id`` (driver values: JSON already encoded), read lazily and written
    :data:`INSERT_BATCH` rows per statement. Every run keeps its whole set of findings:
    ``report evidence``, the notify digest and ``inventory show`` read a run's rows.
    """
    seq = max((int(r["counts"].get("seq", 0)) for r in check_runs(conn)), default=0) + 1
    conn.execute(RUNS.insert().values(
        id=run_id, kind="check", command=command, actor=actor, pid=None, started_at=at,
        ended_at=at, outcome="ok", counts=json.dumps({**counts, "seq": seq}, sort_keys=True),
    ))
    return insert_many(conn, FINDINGS, FINDING_COLUMNS,
                       ((run_id, *row) for row in findings))


def insert_many(
    conn: Connection, table: Table, columns: Sequence[str], rows: Iterable[Sequence[Any]]
) -> int:
    """Insert rows (tuples in ``columns`` order) with one driver-level executemany per
    :data:`INSERT_BATCH` rows; returns the number of rows.

    The statement is compiled once for the connection's dialect; the rows go to the driver as
    plain tuples (or dicts for a named paramstyle), skipping per-row parameter processing,
    which dominates inserting 100,000 findings. Values must already be driver types.
    """
    keys = list(columns)
    compiled = table.insert().compile(dialect=conn.dialect, column_keys=keys)
    order = compiled.positiontup
    statement = str(compiled)
    at = [keys.index(k) for k in order] if order is not None else None
    same_order = at == list(range(len(keys)))
    count = 0
    batch: list[Any] = []
    for row in rows:
        if at is None:
            batch.append(dict(zip(keys, row, strict=True)))
        elif same_order:
            batch.append(tuple(row))
        else:
            batch.append(tuple(row[i] for i in at))
        if len(batch) >= INSERT_BATCH:
            conn.exec_driver_sql(statement, batch)
            count += len(batch)
            batch = []
    if batch:
        conn.exec_driver_sql(statement, batch)
        count += len(batch)
    return count
