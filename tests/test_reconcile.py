"""One reconcile run through the public API: ids, mark-and-sweep, events, the run record."""

from __future__ import annotations

import json
import os
import re
import secrets
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from nhictl.errors import InputFileError, InvalidInputError, SourceError
from nhictl.models import SourceRecord, ValidationResult, binding_id
from nhictl.reconcile import ReconcileReport, reconcile
from nhictl.secret import Secret, fingerprint
from nhictl.sources.base import InMemoryTokenMixin
from nhictl.sources.export_file import ExportFileSource
from nhictl.store import repo
from nhictl.store.engine import Inventory, open_inventory
from nhictl.store.tables import BINDINGS, EVENTS, RUNS
from tests.conftest import NewInventoryDb, TokenExport, sample_records, write_export
from tests.engines import InventoryDb


class Clock:
    def __init__(self) -> None:
        self.now = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def tick(self, hours: int = 1) -> None:
        self.now += timedelta(hours=hours)


class ListSource(InMemoryTokenMixin):
    kind = "test"

    def __init__(self, name: str, records: list[SourceRecord],
                 fail: Exception | None = None) -> None:
        self.name = name
        self.records = records
        self.fail = fail

    def collect(self) -> Iterator[SourceRecord]:
        if self.fail is not None:
            raise self.fail
        return iter(list(self.records))

    def describe(self) -> str:
        return "test list"


class FakeValidator:
    def __init__(self, results: dict[str, ValidationResult]) -> None:
        self.results = results
        self.seen: list[str] = []

    def validate_all(self, items: Sequence[tuple[str, Secret, str | None, str | None]],
                     on_progress: Callable[[int, int], None] | None = None
                     ) -> dict[str, ValidationResult]:
        self.seen = [bid for bid, *_ in items]
        return {bid: self.results[bid] for bid, *_ in items if bid in self.results}

    def stats(self) -> dict[str, Any]:
        return {"calls": len(self.seen)}


def recs(n: int) -> list[SourceRecord]:
    return [SourceRecord(connection_id=f"c{i}", tenant="acme", owner_email=f"u{i}@acme.example",
                         declared_scopes=["chat:write"], source_team_id="T1",
                         source_slack_user_id=f"U{i}") for i in range(n)]


@pytest.fixture
def inv(inventory_db: InventoryDb) -> Iterator[Inventory]:
    inventory, _ = open_inventory(inventory_db.url, create=True)
    yield inventory
    inventory.dispose()


@pytest.fixture
def clock() -> Clock:
    return Clock()


def run(inv: Inventory, clock: Clock, *sources: ListSource | ExportFileSource,
        validator: FakeValidator | None = None, allow_empty: bool = False) -> ReconcileReport:
    clock.tick()
    return reconcile(inv, [(s, None) for s in sources], clock=clock, actor="tester",
                     command="nhictl reconcile (test)", validator=validator,
                     allow_empty=allow_empty)


def bindings(inv: Inventory) -> dict[str, dict[str, Any]]:
    with inv.engine.connect() as conn:
        return {r["id"]: r for r in repo.iter_bindings(conn)}


def events(inv: Inventory, run_id: str | None = None) -> list[dict[str, Any]]:
    with inv.engine.connect() as conn:
        rows = list(repo.iter_events(conn))
    return [e for e in rows if run_id is None or e["run_id"] == run_id]


def runs(inv: Inventory) -> list[dict[str, Any]]:
    with inv.engine.connect() as conn:
        return repo.latest_runs(conn, limit=100)


def test_ids_are_stable_and_well_formed(inv: Inventory, clock: Clock,
                                        new_inventory_db: NewInventoryDb) -> None:
    src = ListSource("export", recs(5))
    run(inv, clock, src)
    ids = set(bindings(inv))
    assert ids == {binding_id("export", f"c{i}") for i in range(5)}
    assert all(re.fullmatch(r"b-[0-9a-f]{10}", i) for i in ids)
    run(inv, clock, src)
    assert set(bindings(inv)) == ids
    other, _ = open_inventory(new_inventory_db("other").url, create=True)
    try:
        run(other, clock, src)
        assert set(bindings(other)) == ids  # derived from (source, id), not from the db
    finally:
        other.dispose()
    assert binding_id("export", "c1") != binding_id("export2", "c1")


def test_first_run_discovers_and_records_the_run(inv: Inventory, clock: Clock) -> None:
    report = run(inv, clock, ListSource("export", recs(4)))
    assert report.counts["discovered"] == 4 and report.counts["seen"] == 4
    assert report.exit_code == 0 and not report.partial
    assert report.status_counts == {"unvalidated": 4}
    (r,) = runs(inv)
    assert r["id"] == report.run_id and r["outcome"] == "ok" and r["kind"] == "reconcile"
    assert r["started_at"] == r["ended_at"] == "2026-11-01T13:00:00Z"
    assert r["counts"]["discovered"] == 4 and r["counts"]["seen"] == 4
    assert r["actor"] == "tester" and r["command"] == "nhictl reconcile (test)"
    evs = events(inv)
    assert [e["type"] for e in evs] == ["discovered"] * 4
    assert {e["run_id"] for e in evs} == {report.run_id}
    assert all(e["actor"] == "tester" for e in evs)


def test_unchanged_input_changes_nothing_but_the_run_record(inv: Inventory,
                                                             clock: Clock) -> None:
    src = ListSource("export", recs(6))
    run(inv, clock, src)
    before = bindings(inv)
    report = run(inv, clock, src)
    assert events(inv, report.run_id) == []
    assert report.counts["unchanged"] == 6 and report.counts["discovered"] == 0
    after = bindings(inv)
    for bid, row in after.items():
        assert row["first_seen_at"] == before[bid]["first_seen_at"] == "2026-11-01T13:00:00Z"
        assert row["last_seen_at"] == "2026-11-01T14:00:00Z"
        strip = ("last_seen_at", "run_id")
        assert {k: v for k, v in row.items() if k not in strip} == \
            {k: v for k, v in before[bid].items() if k not in strip}
    assert [r["outcome"] for r in runs(inv)] == ["ok", "ok"]


def test_a_changed_field_gives_one_changed_event_with_a_diff(inv: Inventory,
                                                             clock: Clock) -> None:
    records = recs(3)
    run(inv, clock, ListSource("export", records))
    records[1] = replace(records[1], owner_email="new@acme.example",
                         declared_scopes=["chat:write", "channels:read"])
    report = run(inv, clock, ListSource("export", records))
    (ev,) = events(inv, report.run_id)
    assert ev["type"] == "changed" and ev["binding_id"] == binding_id("export", "c1")
    assert ev["details"] == {"fields": {
        "owner_email": ["u1@acme.example", "new@acme.example"],
        "declared_scopes": [["chat:write"], ["channels:read", "chat:write"]]}}
    assert bindings(inv)[binding_id("export", "c1")]["owner_email"] == "new@acme.example"
    assert report.counts["changed"] == 1


def test_removal_marks_exactly_that_binding_and_reappearance_revives_it(
    inv: Inventory, clock: Clock
) -> None:
    records = recs(5)
    run(inv, clock, ListSource("export", records))
    gone = binding_id("export", "c2")
    report = run(inv, clock, ListSource("export", [r for r in records if r.connection_id != "c2"]))
    rows = bindings(inv)
    assert {b for b, r in rows.items() if r["status"] == "removed"} == {gone}
    assert rows[gone]["status_changed_at"] == "2026-11-01T14:00:00Z"
    assert rows[gone]["last_seen_at"] == "2026-11-01T13:00:00Z"
    (ev,) = events(inv, report.run_id)
    assert (ev["type"], ev["binding_id"], ev["details"]) == (
        "removed", gone, {"from": "unvalidated"})
    assert report.counts["removed"] == 1

    still = run(inv, clock, ListSource("export", [r for r in records if r.connection_id != "c2"]))
    assert events(inv, still.run_id) == []  # removed once, not every run

    back = run(inv, clock, ListSource("export", records))
    assert [e["type"] for e in events(inv, back.run_id)] == ["reappeared", "status_changed"]
    row = bindings(inv)[gone]
    assert row["status"] == "unvalidated"
    assert row["first_seen_at"] == "2026-11-01T13:00:00Z"
    assert row["last_seen_at"] == "2026-11-01T16:00:00Z"


def test_sweep_is_per_source(inv: Inventory, clock: Clock) -> None:
    a, b = ListSource("a", recs(2)), ListSource("b", recs(2))
    run(inv, clock, a, b)
    run(inv, clock, ListSource("a", []), b, allow_empty=True)
    statuses = {(r["source"], r["connection_id"]): r["status"] for r in bindings(inv).values()}
    assert statuses == {("a", "c0"): "removed", ("a", "c1"): "removed",
                        ("b", "c0"): "unvalidated", ("b", "c1"): "unvalidated"}


def test_a_source_that_fails_is_not_swept(inv: Inventory, clock: Clock) -> None:
    run(inv, clock, ListSource("export", recs(3)))
    report = run(inv, clock, ListSource("export", [], fail=SourceError("export", "HTTP 503")))
    assert report.partial and report.exit_code == 4
    assert {r["status"] for r in bindings(inv).values()} == {"unvalidated"}
    assert events(inv, report.run_id) == []
    latest = runs(inv)[0]
    assert latest["outcome"] == "partial" and "HTTP 503" in (latest["detail"] or "")


def test_invalid_input_writes_nothing_at_all(inv: Inventory, clock: Clock,
                                             tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('[{"id": "a"}, {"id": "a"}]')
    with pytest.raises(InputFileError):
        run(inv, clock, ListSource("ok", recs(2)), ExportFileSource("file:bad", bad))
    assert bindings(inv) == {} and events(inv) == [] and runs(inv) == []


def test_a_run_that_dies_mid_write_leaves_the_inventory_consistent(
    inv: Inventory, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    records = recs(4)
    run(inv, clock, ListSource("export", records))
    before = bindings(inv)

    def boom(conn: Any, rows: Any) -> None:
        raise KeyboardInterrupt  # as good as a kill between the upserts and the events

    monkeypatch.setattr(repo, "append_events", boom)
    with pytest.raises(KeyboardInterrupt):
        run(inv, clock, ListSource("export", records[:2]))
    monkeypatch.undo()
    assert bindings(inv) == before  # upserts and sweep rolled back together
    assert runs(inv)[0]["outcome"] == "running"

    report = run(inv, clock, ListSource("export", records[:2]))
    outcomes = [r["outcome"] for r in runs(inv)]
    assert outcomes == ["ok", "interrupted", "ok"]
    assert report.counts["removed"] == 2


def test_revoked_bindings_are_neither_swept_nor_revived(inv: Inventory, clock: Clock) -> None:
    run(inv, clock, ListSource("export", recs(2)))
    target = binding_id("export", "c0")
    with inv.engine.begin() as conn:
        conn.execute(BINDINGS.update().where(BINDINGS.c.id == target).values(status="revoked"))
    report = run(inv, clock, ListSource("export", recs(2)[1:]))
    assert bindings(inv)[target]["status"] == "revoked"
    assert [e["binding_id"] for e in events(inv, report.run_id)] == []


def test_validation_results_and_fingerprints(inv: Inventory, clock: Clock) -> None:
    tokens = {f"c{i}": "xoxp-fake-" + secrets.token_hex(8) for i in range(3)}
    records = [replace(r, token=Secret(tokens[r.connection_id])) for r in recs(3)]
    ids = [binding_id("export", f"c{i}") for i in range(3)]
    validator = FakeValidator({
        ids[0]: ValidationResult(outcome="ok", workspace_id="T1", slack_user_id="U0",
                                 granted_scopes=["chat:write"], token_kind="user"),
        ids[1]: ValidationResult(outcome="dead", error="token_revoked"),
        ids[2]: ValidationResult(outcome="inconclusive", detail="HTTP 503"),
    })
    report = run(inv, clock, ListSource("export", records), validator=validator)
    rows = bindings(inv)
    assert sorted(validator.seen) == sorted(ids)
    assert [rows[i]["status"] for i in ids] == ["active", "needs_reconnect", "unvalidated"]
    assert rows[ids[0]]["token_fingerprint"] == fingerprint(inv.key, tokens["c0"])
    assert re.fullmatch(r"hmac-sha256:[0-9a-f]{16}", rows[ids[1]]["token_fingerprint"])
    assert report.partial and report.inconclusive == [(ids[2], "HTTP 503")]
    assert runs(inv)[0]["outcome"] == "partial"
    with inv.engine.connect() as conn:
        stored = json.dumps([dict(r._mapping) for r in conn.execute(select(BINDINGS))],
                            default=str)
        stored += json.dumps([dict(r._mapping) for r in conn.execute(select(EVENTS))],
                             default=str)
        stored += json.dumps([dict(r._mapping) for r in conn.execute(select(RUNS))],
                             default=str)
    for token in tokens.values():
        assert token not in stored and token[-12:] not in stored


def test_reconcile_of_the_sample_export(inv: Inventory, clock: Clock, tmp_path: Path) -> None:
    rows = sample_records()
    path = write_export(tmp_path / "e.json", rows)
    report = run(inv, clock, ExportFileSource("file:e.json", path))
    assert report.counts["discovered"] == len(rows)
    stored = bindings(inv)
    assert {r["connection_id"] for r in stored.values()} == {r["id"] for r in rows}
    csv_twin = tmp_path / "e.csv"
    csv_twin.write_bytes((Path(__file__).parent.parent / "fixtures" / "sample-export.csv"
                          ).read_bytes())
    # the CSV twin under the same source name is the same input: nothing changes
    again = run(inv, clock, ExportFileSource("file:e.json", csv_twin))
    assert events(inv, again.run_id) == []


def test_other_providers_are_counted_in_the_run(inv: Inventory, clock: Clock) -> None:
    from tests.conftest import BROKEN

    report = run(inv, clock, ExportFileSource("file:o", BROKEN / "accept-other-providers.json"))
    assert report.counts["skipped_other_providers"] == 2 and report.counts["discovered"] == 2
    assert runs(inv)[0]["counts"]["skipped_other_providers"] == 2
    only = run(inv, clock, ExportFileSource("file:p",
                                            BROKEN / "accept-only-other-providers.json"))
    assert only.counts["skipped_other_providers"] == 2 and only.exit_code == 0
    assert len(bindings(inv)) == 2


def test_empty_read_of_a_populated_source_is_not_swept(inv: Inventory, clock: Clock) -> None:
    run(inv, clock, ListSource("a", recs(3)))
    report = run(inv, clock, ListSource("a", []))
    assert report.exit_code == 4
    assert report.sources[0].complete is False
    assert "no connections while 3 are on record" in (report.sources[0].error or "")
    assert {r["status"] for r in bindings(inv).values()} == {"unvalidated"}
    accepted = run(inv, clock, ListSource("a", []), allow_empty=True)
    assert accepted.exit_code == 0
    assert {r["status"] for r in bindings(inv).values()} == {"removed"}


def _sqlite_store(path: Path, token: str) -> Path:
    """A slack_sdk SQLite3InstallationStore with one user install (default file mode)."""
    from slack_sdk.oauth.installation_store import Installation
    from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

    SQLite3InstallationStore(database=str(path), client_id="c").save(Installation(
        app_id="A1", team_id="T1", user_id="U1", user_token=token, user_scopes="chat:write"))
    return path


@pytest.mark.parametrize("failure", ["corrupt", "not_a_store", "bug"])
def test_one_broken_source_does_not_sink_the_run(inv: Inventory, clock: Clock, tmp_path: Path,
                                                 failure: str) -> None:
    """A store that cannot be read is that store's failure: the others are reconciled, the
    run is recorded as partial and names it, and the broken source is left untouched."""
    from nhictl.sources.slack_store import SlackStoreSource

    db = _sqlite_store(tmp_path / "store.db", "xoxp-fake-" + secrets.token_hex(8))
    store = SlackStoreSource("store", f"sqlite:{db}")
    run(inv, clock, ListSource("a", recs(2)), store)
    before = {k: v for k, v in bindings(inv).items() if v["source"] == "store"}
    assert len(before) == 1
    if failure == "corrupt":
        db.write_bytes(b"not a database " * 100)
    elif failure == "not_a_store":
        db.unlink()
        with sqlite3.connect(db) as conn:
            conn.execute("CREATE TABLE notes (id integer)")
        conn.close()
    broken: Any = store
    if failure == "bug":
        broken = ListSource("store", [], fail=KeyError("team"))
    report = run(inv, clock, ListSource("a", recs(3)), broken, ListSource("b", recs(1)))
    assert report.exit_code == 4 and report.partial
    (bad,) = [s for s in report.sources if not s.complete]
    assert bad.name == "store" and bad.error
    assert not bad.error.startswith("source ")  # the name is said once, by whoever shows it
    if failure == "bug":
        assert "internal error" in bad.error and "KeyError at test_reconcile.py:" in bad.error
        assert "team" not in bad.error  # where, never the exception's text (data)
    rows = bindings(inv)
    assert {k: v for k, v in rows.items() if v["source"] == "store"} == before  # untouched
    assert sum(1 for r in rows.values() if r["source"] == "a") == 3  # the others went on
    assert sum(1 for r in rows.values() if r["source"] == "b") == 1
    latest = runs(inv)[0]
    assert latest["id"] == report.run_id and latest["outcome"] == "partial"
    assert (latest["detail"] or "").startswith("store: ")
    assert {e["binding_id"] for e in events(inv, report.run_id)} <= {
        k for k, v in rows.items() if v["source"] != "store"}


def test_the_operators_invalid_export_still_stops_everything(
    inv: Inventory, clock: Clock, token_export: TokenExport
) -> None:
    loose = token_export.path
    loose.chmod(0o644)
    with pytest.raises(InvalidInputError) as info:
        run(inv, clock, ListSource("ok", recs(2)), ExportFileSource("file:e", loose))
    assert info.value.exit_code == 3 and info.value.hint == f"chmod 600 {loose}"
    assert bindings(inv) == {} and runs(inv) == []


def test_store_exposure_is_kept_per_source_and_replaced_on_each_read(
    inv: Inventory, clock: Clock, tmp_path: Path
) -> None:
    from nhictl.checks.snapshot import load_snapshot
    from nhictl.sources.slack_store import SlackStoreSource

    old = os.umask(0o022)
    try:
        db = _sqlite_store(tmp_path / "store.db", "xoxp-fake-" + secrets.token_hex(8))
    finally:
        os.umask(old)
    store = SlackStoreSource("store", f"sqlite:{db}")
    report = run(inv, clock, store, ListSource("a", recs(1)))
    assert report.exit_code == 0
    with inv.engine.connect() as conn:
        (seen,) = load_snapshot(conn).observations
    assert (seen.source, seen.kind, seen.subject) == ("store", "store_file_exposed",
                                                      str(db.resolve()))
    assert seen.details["modes"] == {"0644": 1}
    assert seen.observed_at == "2026-11-01T13:00:00Z"

    db.write_bytes(b"garbage " * 100)  # a failed read keeps what was known
    run(inv, clock, store)
    with inv.engine.connect() as conn:
        assert len(load_snapshot(conn).observations) == 1
    from nhictl.sources.inventory_sources import forget

    forget(inv, "other", now=clock(), actor="t", command="c")  # another source: kept
    with inv.engine.connect() as conn:
        assert len(load_snapshot(conn).observations) == 1
    forget(inv, "store", now=clock(), actor="t", command="c")  # retired: nothing to report
    with inv.engine.connect() as conn:
        assert load_snapshot(conn).observations == ()
    db.unlink()
    _sqlite_store(db, "xoxp-fake-" + secrets.token_hex(8)).chmod(0o600)  # the app fixed it
    run(inv, clock, store)
    with inv.engine.connect() as conn:
        assert load_snapshot(conn).observations == ()


def test_enterprise_id_from_the_source_before_any_validation(inv: Inventory,
                                                             clock: Clock) -> None:
    org = SourceRecord(connection_id="org", enterprise_id="E1", source_team_id=None,
                       token=Secret("xoxp-fake-" + secrets.token_hex(8)))
    run(inv, clock, ListSource("s", [org]))
    bid = binding_id("s", "org")
    assert bindings(inv)[bid]["enterprise_id"] == "E1"
    validator = FakeValidator({bid: ValidationResult(outcome="ok", workspace_id="T7",
                                                     enterprise_id=None, granted_scopes=[])})
    run(inv, clock, ListSource("s", [org]), validator=validator)
    assert bindings(inv)[bid]["enterprise_id"] == "E1"  # Slack did not say otherwise


def test_a_version_1_inventory_is_migrated_and_then_keeps_observations(
    new_inventory_db: NewInventoryDb,
) -> None:
    """Schema 2 adds source_observations; an inventory from before gets it from `init`."""
    from sqlalchemy import inspect

    from nhictl.errors import SchemaVersionError
    from nhictl.store.tables import META, SOURCE_OBSERVATIONS

    db = new_inventory_db("v1").url
    inventory, _ = open_inventory(db, create=True)
    with inventory.engine.begin() as conn:
        SOURCE_OBSERVATIONS.drop(conn)
        conn.execute(META.update().where(META.c.key == "schema_version").values(value="1"))
    inventory.dispose()
    with pytest.raises(SchemaVersionError):
        open_inventory(db)  # a reader does not migrate behind the operator's back
    inventory, action = open_inventory(db, create=True)
    try:
        assert action == "migrated"
        with inventory.engine.connect() as conn:
            assert "source_observations" in inspect(conn).get_table_names()
        report = reconcile(inventory, [(ListSource("a", recs(1)), None)], clock=Clock(),
                           actor="t", command="c")
        assert report.exit_code == 0
    finally:
        inventory.dispose()


def test_a_file_store_emptied_by_uninstalls_is_swept_only_with_allow_empty(
    inv: Inventory, clock: Clock, tmp_path: Path
) -> None:
    from slack_sdk.oauth.installation_store import FileInstallationStore, Installation

    from nhictl.sources.slack_store import SlackStoreSource

    fs = FileInstallationStore(base_dir=str(tmp_path / "files"))
    fs.save(Installation(app_id="A1", team_id="T1", user_id="U1",
                         user_token="xoxp-fake-" + secrets.token_hex(8), user_scopes="chat:write",
                         bot_token="xoxb-fake-" + secrets.token_hex(8), bot_id="B1",
                         bot_user_id="UB1", bot_scopes="chat:write"))
    store = SlackStoreSource("files", f"dir:{tmp_path / 'files'}")
    assert run(inv, clock, store).counts["discovered"] == 2
    fs.delete_all(enterprise_id=None, team_id="T1")  # what Bolt does on app_uninstalled
    held = run(inv, clock, store)
    assert held.exit_code == 4
    assert "no connections while 2 are on record" in (held.sources[0].error or "")
    assert {r["status"] for r in bindings(inv).values()} == {"unvalidated"}
    swept = run(inv, clock, store, allow_empty=True)
    assert swept.exit_code == 0 and swept.counts["removed"] == 2
