"""Reconcile's side of IncrementalSource: stubs of unchanged records cost nothing, the
source's digests are what is stored, and only live bindings are offered as known."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any

import pytest
from sqlalchemy import select

from nhictl.models import SourceRecord, ValidationResult, binding_id
from nhictl.reconcile import digest_salt, reconcile
from nhictl.secret import Secret
from nhictl.shard import Shard
from nhictl.sources.base import IncrementalSource, UnchangedRecord
from nhictl.store import repo
from nhictl.store.engine import Inventory, open_inventory
from nhictl.store.tables import BINDINGS
from tests.engines import InventoryDb
from tests.perf.test_repeat_runs import Writes, stored
from tests.test_reconcile import Clock, FakeValidator, ListSource, recs


class IncrementalListSource(ListSource):
    """A test double: an IncrementalSource over an in-memory list, digesting each record's
    repr (and its token) keyed with the salt."""

    def __init__(self, name: str, records: list[SourceRecord]) -> None:
        super().__init__(name, records)
        self.calls: list[tuple[dict[str, str], bytes]] = []

    @staticmethod
    def digest(record: SourceRecord, salt: bytes) -> str:
        token = record.token.reveal() if record.token is not None else ""
        return hashlib.blake2b((repr(record) + token).encode(), key=salt,
                               digest_size=16).hexdigest()

    def collect_incremental(self, known: Mapping[str, str], salt: bytes
                            ) -> Iterable[SourceRecord | UnchangedRecord]:
        self.calls.append((dict(known), salt))
        for r in self.records:
            digest = self.digest(r, salt)
            if known.get(r.connection_id) == digest:
                yield UnchangedRecord(r.connection_id, r.source_team_id, r.enterprise_id)
            else:
                yield replace(r, content_digest=digest)


@pytest.fixture
def inv(inventory_db: InventoryDb) -> Iterator[Inventory]:
    inventory, _ = open_inventory(inventory_db.url, create=True)
    yield inventory
    inventory.dispose()


def run(inv: Inventory, clock: Clock, source: IncrementalListSource, spec: str = "list:a",
        **kw: Any) -> Any:
    clock.tick()
    return reconcile(inv, [(source, spec)], clock=clock, actor="tester", command="test", **kw)


def hashes(inv: Inventory) -> dict[str, str]:
    with inv.engine.connect() as conn:
        return {cid: h for cid, h in conn.execute(
            select(BINDINGS.c.connection_id, BINDINGS.c.content_hash))}


def test_the_double_is_an_incremental_source() -> None:
    assert isinstance(IncrementalListSource("x", []), IncrementalSource)


def test_unchanged_stubs_write_nothing_and_keep_their_bindings(inv: Inventory) -> None:
    clock = Clock()
    source = IncrementalListSource("export", recs(20))
    first = run(inv, clock, source)
    assert first.counts["discovered"] == 20 and source.calls[0][0] == {}
    salt = source.calls[0][1]
    assert hashes(inv) == {r.connection_id: source.digest(r, salt) for r in source.records}
    before = stored(inv)
    writes = Writes(inv)
    report = run(inv, clock, source)
    assert source.calls[1] == (hashes(inv), salt)  # every live binding's digest, same salt
    assert writes.writes == [] and stored(inv) == before
    assert report.counts["unchanged"] == 20 and report.counts["seen"] == 20
    assert report.counts["removed"] == 0 and report.counts["changed"] == 0
    with inv.engine.connect() as conn:
        rows = list(repo.iter_bindings(conn))
    assert {(b["status"], b["last_seen_at"], b["run_id"]) for b in rows} == \
        {("unvalidated", "2026-11-01T14:00:00Z", report.run_id)}


def test_a_changed_record_is_merged_with_the_sources_digest(inv: Inventory) -> None:
    clock = Clock()
    source = IncrementalListSource("export", recs(10))
    run(inv, clock, source)
    source.records[3] = replace(source.records[3], owner_email="moved@acme.example")
    writes = Writes(inv)
    report = run(inv, clock, source)
    assert report.counts["changed"] == 1 and report.counts["unchanged"] == 9
    assert sum(n for _, n in writes.updates) == 1
    salt = source.calls[-1][1]
    assert hashes(inv)["c3"] == source.digest(source.records[3], salt)
    with inv.engine.connect() as conn:
        row = repo.get_binding(conn, binding_id("export", "c3"))
    assert row is not None and row["owner_email"] == "moved@acme.example"


def test_removed_and_revoked_bindings_are_not_known_so_never_stubbed(inv: Inventory) -> None:
    clock = Clock()
    source = IncrementalListSource("export", recs(4))
    run(inv, clock, source)
    kept = source.records
    source.records = kept[:3]
    assert run(inv, clock, source).counts["removed"] == 1
    with inv.engine.begin() as conn:
        conn.execute(BINDINGS.update().where(BINDINGS.c.connection_id == "c0")
                     .values(status="revoked"))
    source.records = kept
    report = run(inv, clock, source)
    assert set(source.calls[-1][0]) == {"c1", "c2"}
    assert report.counts["reappeared"] == 1 and report.counts["unchanged"] == 3
    with inv.engine.connect() as conn:
        status = {b["connection_id"]: b["status"] for b in repo.iter_bindings(conn)}
    assert status == {"c0": "revoked", "c1": "unvalidated", "c2": "unvalidated",
                      "c3": "unvalidated"}


def test_a_validating_run_knows_nothing_so_every_token_is_validated(inv: Inventory) -> None:
    clock = Clock()
    records = [replace(r, token=Secret(f"xoxp-test-{i}")) for i, r in enumerate(recs(3))]
    source = IncrementalListSource("export", records)
    run(inv, clock, source)
    ok = ValidationResult(outcome="ok", granted_scopes=["chat:write"], workspace_id="T1")
    validator = FakeValidator({binding_id("export", f"c{i}"): ok for i in range(3)})
    report = run(inv, clock, source, validator=validator)
    assert source.calls[-1][0] == {}
    assert sorted(validator.seen) == sorted(binding_id("export", f"c{i}") for i in range(3))
    assert report.counts["validated"] == 3


def test_the_salt_is_secret_and_per_source_spec(inv: Inventory) -> None:
    a = digest_salt(inv.key, "export", "file:/a.json")
    assert a == digest_salt(inv.key, "export", "file:/a.json")
    assert a != digest_salt(inv.key, "export", "file:/a.json?other=1")
    assert a != digest_salt(b"k" * 32, "export", "file:/a.json")
    assert a != digest_salt(inv.key, "export2", "file:/a.json")
    clock = Clock()
    source = IncrementalListSource("export", recs(2))
    run(inv, clock, source, spec="list:a")
    run(inv, clock, source, spec="list:b")  # another spec: every record merged again
    assert source.calls[0][1] != source.calls[1][1]
    assert all(isinstance(r, SourceRecord) for r in
               source.collect_incremental(hashes(inv), source.calls[0][1]))


def test_a_sharded_run_places_stubs_and_sweeps_nothing_of_them(inv: Inventory) -> None:
    clock = Clock()
    records = [replace(r, source_team_id=f"T{i}") for i, r in enumerate(recs(12))]
    source = IncrementalListSource("export", records)
    run(inv, clock, source)
    before = stored(inv)
    for k in (1, 2):
        report = run(inv, clock, source, shard=Shard(k, 2))
        assert report.counts["removed"] == 0 and report.counts["discovered"] == 0
    assert stored(inv) == before


def test_held_records_share_equal_lists_and_keep_their_values() -> None:
    from nhictl.reconcile import _compact

    made = [SourceRecord(connection_id=f"c{i}", purpose=["alerts"], declared_scopes=[
        "chat:write", "users:read"], metadata={"k": i} if i % 2 else {}) for i in range(6)]
    before = [replace(r) for r in made]
    held = _compact(iter([*made, UnchangedRecord("c9")]))
    assert held[:6] == before and held[6] == UnchangedRecord("c9")  # same values
    assert len({id(r.purpose) for r in held[:6]}) == 1  # type: ignore[union-attr]
    assert len({id(r.declared_scopes) for r in held[:6]}) == 1  # type: ignore[union-attr]
    assert len({id(r.metadata) for r in held[:6:2]}) == 1  # type: ignore[union-attr]


class LyingSource(IncrementalListSource):
    def collect_incremental(self, known: Mapping[str, str], salt: bytes
                            ) -> Iterable[SourceRecord | UnchangedRecord]:
        yield from super().collect_incremental(known, salt)
        yield UnchangedRecord("never-seen")


def test_a_stub_for_no_live_binding_fails_that_source_only(inv: Inventory) -> None:
    clock = Clock()
    run(inv, clock, IncrementalListSource("export", recs(3)))
    before = stored(inv)
    report = run(inv, clock, LyingSource("export", recs(3)))
    assert report.partial and report.exit_code == 4
    (outcome,) = report.sources
    assert not outcome.complete and outcome.error is not None
    assert "internal error" in outcome.error and "never-seen" not in outcome.error
    assert stored(inv) == before
