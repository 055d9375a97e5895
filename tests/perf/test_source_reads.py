"""Complete reads of a source stand in for stamping each unchanged binding as seen: every
reader (repo, the check snapshot, ``sources list``) shows what rewriting each row would."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from nhictl.checks.snapshot import load_snapshot
from nhictl.models import SourceRecord, binding_id
from nhictl.reconcile import reconcile
from nhictl.shard import Shard
from nhictl.sources.inventory_sources import known_sources
from nhictl.store import repo
from nhictl.store.engine import Inventory, open_inventory
from nhictl.store.seen import whole_reads
from nhictl.store.tables import BINDINGS, SOURCE_READS
from tests.engines import InventoryDb
from tests.perf.test_repeat_runs import Writes, stored
from tests.test_reconcile import Clock, ListSource, recs


@pytest.fixture
def inv(inventory_db: InventoryDb) -> Iterator[Inventory]:
    inventory, _ = open_inventory(inventory_db.url, create=True)
    yield inventory
    inventory.dispose()


def run(inv: Inventory, clock: Clock, records: list[SourceRecord], name: str = "export",
        **kw: Any) -> Any:
    clock.tick()
    return reconcile(inv, [(ListSource(name, records), None)], clock=clock,
                     actor="tester", command="test", **kw)


def test_every_reader_shows_the_last_complete_read(inv: Inventory) -> None:
    clock = Clock()
    records = recs(4)
    run(inv, clock, records)
    run(inv, clock, records[:3])  # c3 removed at 14:00
    run(inv, clock, records[:3], name="other")
    last = run(inv, clock, records[:3])  # unchanged: nothing written
    gone = binding_id("export", "c3")
    with inv.engine.connect() as conn:
        listed = {b["id"]: b for b in repo.iter_bindings(conn)}
        one = repo.get_binding(conn, binding_id("export", "c1"))
        removed = repo.get_binding(conn, gone)
        snap = {b.id: b for b in load_snapshot(conn).bindings}
        sources = known_sources(conn)
        raw = dict(conn.execute(select(BINDINGS.c.id, BINDINGS.c.last_seen_at)).all())
    assert raw[binding_id("export", "c1")] == "2026-11-01T13:00:00Z"  # the row as written
    assert one is not None and one["last_seen_at"] == "2026-11-01T16:00:00Z"
    assert one["run_id"] == last.run_id
    for bid, b in listed.items():
        want = "2026-11-01T13:00:00Z" if bid == gone else (
            "2026-11-01T15:00:00Z" if b["source"] == "other" else "2026-11-01T16:00:00Z")
        assert b["last_seen_at"] == want and snap[bid].last_seen_at == want
    # Not seen by the later reads: a removed binding keeps its own.
    assert removed is not None and removed["status"] == "removed"
    assert removed["last_seen_at"] == "2026-11-01T13:00:00Z"
    assert sources["export"].last_reconciled_at == "2026-11-01T16:00:00Z"
    assert sources["other"].last_reconciled_at == "2026-11-01T15:00:00Z"


def test_a_read_with_a_partial_record_is_not_a_read_of_every_binding(inv: Inventory) -> None:
    clock = Clock()
    records = [*recs(3), SourceRecord(connection_id="c9#user", tenant="acme")]
    run(inv, clock, records)
    # c9's holder cannot describe it now: its "c9#..." bindings are kept, not seen.
    again = [*recs(3), SourceRecord(connection_id="c9", tenant="acme", partial=True)]
    writes = Writes(inv)
    run(inv, clock, again)
    with inv.engine.connect() as conn:
        rows = {b["id"]: b for b in repo.iter_bindings(conn)}
        reads = conn.execute(select(SOURCE_READS)).all()
    assert rows[binding_id("export", "c9#user")]["last_seen_at"] == "2026-11-01T13:00:00Z"
    assert rows[binding_id("export", "c9#user")]["status"] != "removed"
    # The unchanged ones are stamped one by one instead.
    assert rows[binding_id("export", "c1")]["last_seen_at"] == "2026-11-01T14:00:00Z"
    assert writes.rows_with_more_than_the_stamp() == 0  # c9 is new: inserted
    stamped = [row for row in stored(inv) if row[BINDINGS.c.keys().index("last_seen_at")]
               == "2026-11-01T14:00:00Z"]
    assert len(stamped) == 4  # c0..c2 stamped, c9 inserted
    assert [r.read_at for r in reads] == ["2026-11-01T13:00:00Z"]  # the first read only


def test_shard_reads_count_for_the_whole_source_once_every_shard_was_read(
        inv: Inventory) -> None:
    clock = Clock()
    records = [replace(r, source_team_id=f"T{i}") for i, r in enumerate(recs(12))]
    run(inv, clock, records)  # 13:00, whole
    before = stored(inv)
    run(inv, clock, records, shard=Shard(1, 2))  # 14:00
    with inv.engine.connect() as conn:
        seen = {b["last_seen_at"] for b in repo.iter_bindings(conn)}
    assert seen == {"2026-11-01T13:00:00Z"}  # shard 2/2 not read yet
    run(inv, clock, records, shard=Shard(2, 2))  # 15:00
    assert stored(inv) == before  # nothing written by either shard
    with inv.engine.connect() as conn:
        seen = {b["last_seen_at"] for b in repo.iter_bindings(conn)}
        sources = known_sources(conn)
    assert seen == {"2026-11-01T14:00:00Z"}  # the oldest of 1/2 and 2/2
    assert sources["export"].last_reconciled_at == "2026-11-01T15:00:00Z"


def test_the_whole_source_rule() -> None:
    a, b, c = "2026-01-01T00:00:00Z", "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z"
    assert whole_reads([]) is None
    assert whole_reads([("", a, "r1")]) == (a, "r1")
    assert whole_reads([("1/2", c, "r3")]) is None  # 2/2 never read
    assert whole_reads([("1/2", c, "r3"), ("2/2", b, "r2")]) == (b, "r2")
    assert whole_reads([("", c, "r3"), ("1/2", a, "r1"), ("2/2", b, "r2")]) == (c, "r3")
    assert whole_reads([("", a, "r1"), ("1/3", c, "r3"), ("2/3", c, "r4"),
                        ("3/3", b, "r2")]) == (b, "r2")
