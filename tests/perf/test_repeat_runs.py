"""A repeat reconcile costs what changed: unchanged rows are not written at all (the source's
complete read says when they were seen), on both engines."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import event, select

from nhictl.models import SourceRecord, binding_id
from nhictl.reconcile import reconcile
from nhictl.secret import Secret
from nhictl.store import repo
from nhictl.store.engine import Inventory, open_inventory
from nhictl.store.tables import BINDINGS
from tests.engines import InventoryDb
from tests.test_reconcile import Clock, ListSource, recs


@pytest.fixture
def inv(inventory_db: InventoryDb) -> Iterator[Inventory]:
    inventory, _ = open_inventory(inventory_db.url, create=True)
    yield inventory
    inventory.dispose()


class Writes:
    """The UPDATE statements on bindings, and how many rows each set of columns touched;
    and every statement that writes bindings (INSERT, UPDATE, DELETE)."""

    def __init__(self, inv: Inventory) -> None:
        self.updates: list[tuple[str, int]] = []
        self.writes: list[str] = []
        event.listen(inv.engine, "before_cursor_execute", self._seen)

    def _seen(self, conn: Any, cursor: Any, statement: str, params: Any, context: Any,
              executemany: bool) -> None:
        head = " ".join(statement.split()[:3]).upper()
        if head.startswith(("UPDATE BINDINGS", "INSERT INTO BINDINGS", "DELETE FROM BINDINGS")):
            self.writes.append(statement)
        if statement.lstrip().upper().startswith("UPDATE BINDINGS"):
            columns = statement.split(" SET ", 1)[1].split(" WHERE ", 1)[0]
            self.updates.append((columns, len(params) if executemany else 1))

    def rows_with_more_than_the_stamp(self) -> int:
        return sum(n for columns, n in self.updates
                   if set(c.split("=")[0].strip() for c in columns.split(","))
                   - {"last_seen_at", "run_id"})


def run(inv: Inventory, clock: Clock, records: list[SourceRecord], **kw: Any) -> Any:
    clock.tick()
    return reconcile(inv, [(ListSource("export", records), None)], clock=clock,
                     actor="tester", command="test", **kw)


def rows(inv: Inventory) -> dict[str, dict[str, Any]]:
    with inv.engine.connect() as conn:
        return {r["id"]: r for r in repo.iter_bindings(conn)}


def stored(inv: Inventory) -> list[tuple[Any, ...]]:
    """The bindings table as stored (no overlay), every column, in id order."""
    with inv.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(BINDINGS).order_by(BINDINGS.c.id))]


def test_an_unchanged_repeat_writes_no_binding_row(inv: Inventory) -> None:
    clock = Clock()
    records = recs(50)
    run(inv, clock, records)
    before, shown = stored(inv), rows(inv)
    writes = Writes(inv)
    report = run(inv, clock, records)
    assert writes.writes == [] and writes.updates == []
    assert stored(inv) == before  # every row byte for byte
    assert report.counts["unchanged"] == 50 and report.counts["seen"] == 50
    after = rows(inv)
    for bid, row in after.items():  # readers still see when each was last seen
        assert row["last_seen_at"] == "2026-11-01T14:00:00Z" and row["run_id"] == report.run_id
        strip = ("last_seen_at", "run_id")
        assert {k: v for k, v in row.items() if k not in strip} == \
            {k: v for k, v in shown[bid].items() if k not in strip}


def test_one_changed_record_rewrites_one_row_and_gives_its_event(inv: Inventory) -> None:
    clock = Clock()
    records = recs(50)
    run(inv, clock, records)
    records[7] = replace(records[7], owner_email="moved@acme.example")
    writes = Writes(inv)
    report = run(inv, clock, records)
    assert writes.rows_with_more_than_the_stamp() == 1
    assert report.counts["changed"] == 1 and report.counts["unchanged"] == 49
    assert rows(inv)[binding_id("export", "c7")]["owner_email"] == "moved@acme.example"


def test_a_cleared_fingerprint_is_learnt_again_by_an_unchanged_repeat(inv: Inventory) -> None:
    clock = Clock()
    records = [replace(r, token=Secret(f"xoxp-test-{i}")) for i, r in enumerate(recs(3))]
    run(inv, clock, records)
    with inv.engine.begin() as conn:  # what `init --new-key` does to a lost key's inventory
        conn.execute(BINDINGS.update().values(token_fingerprint=None))
    run(inv, clock, records)
    assert all(r["token_fingerprint"] for r in rows(inv).values())


def test_a_revoked_or_removed_binding_is_merged_again_not_skipped(inv: Inventory) -> None:
    clock = Clock()
    records = recs(3)
    run(inv, clock, records)
    target = binding_id("export", "c1")
    with inv.engine.begin() as conn:
        conn.execute(BINDINGS.update().where(BINDINGS.c.id == target).values(status="removed"))
    report = run(inv, clock, records)
    assert report.counts["reappeared"] == 1
    assert rows(inv)[target]["status"] == "unvalidated"


def test_a_row_from_before_the_hash_is_merged_once_then_skipped(inv: Inventory) -> None:
    clock = Clock()
    records = recs(5)
    run(inv, clock, records)
    with inv.engine.begin() as conn:  # a row written before migration 4: no hash yet
        conn.execute(BINDINGS.update().values(content_hash=None))
    writes = Writes(inv)
    run(inv, clock, records)
    assert writes.rows_with_more_than_the_stamp() == 5
    writes.updates.clear()
    report = run(inv, clock, records)
    assert writes.rows_with_more_than_the_stamp() == 0 and report.counts["unchanged"] == 5
