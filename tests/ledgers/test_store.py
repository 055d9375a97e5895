"""The ledger tables and repository: idempotent by id, directory rows updated in place,
filters, checkpoints, and migration of a version-2 inventory."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from nhictl.ledgers.model import LedgerEntry
from nhictl.ledgers.store import add_entries, get_checkpoint, iter_entries, set_checkpoint
from nhictl.store import migrations
from nhictl.store.engine import Inventory, open_inventory

NOW = datetime(2026, 11, 29, 12, tzinfo=UTC)


@pytest.fixture
def inv(tmp_path: Path) -> Iterator[Inventory]:
    inventory, _ = open_inventory(str(tmp_path / "inv.db"), create=True)
    yield inventory
    inventory.dispose()


def audit(native: str, action: str, at: str, **kw: str) -> LedgerEntry:
    return LedgerEntry(id=f"audit:{native}", collector="audit", kind="slack-audit",
                       action=action, at=at, **kw)  # type: ignore[arg-type]


def test_add_entries_is_idempotent_by_id(inv: Inventory) -> None:
    entries = [audit("e1", "app_installed", "2026-11-01T00:00:00Z", app_id="A1",
                     workspace_id="T1", user_id="U1"),
               audit("e2", "app_uninstalled", "2026-11-02T00:00:00Z", app_id="A1",
                     workspace_id="T1")]
    with inv.engine.begin() as conn:
        assert add_entries(conn, entries, collected_at="2026-11-03T00:00:00Z") == 2
    with inv.engine.begin() as conn:
        assert add_entries(conn, entries, collected_at="2026-11-04T00:00:00Z") == 0
        stored = list(iter_entries(conn))
    assert [e.id for e in stored] == ["audit:e1", "audit:e2"]
    assert stored[0].collected_at == "2026-11-03T00:00:00Z"  # the first read is kept


def test_directory_rows_are_updated_in_place(inv: Inventory) -> None:
    def row(deleted: bool, at: str) -> LedgerEntry:
        return LedgerEntry(id="dir:users.info:T1:U1", collector="dir", kind="slack-directory",
                           action="user_status", at=at, workspace_id="T1", user_id="U1",
                           details={"deleted": deleted})
    with inv.engine.begin() as conn:
        assert add_entries(conn, [row(False, "2026-11-01T00:00:00Z")]) == 1
        assert add_entries(conn, [row(False, "2026-11-02T00:00:00Z")]) == 0
        assert add_entries(conn, [row(True, "2026-11-03T00:00:00Z")]) == 1
        (stored,) = iter_entries(conn, user_id="U1")
    assert stored.details == {"deleted": True} and stored.at == "2026-11-03T00:00:00Z"


def test_filters_or_within_and_across(inv: Inventory) -> None:
    with inv.engine.begin() as conn:
        add_entries(conn, [
            audit("e1", "app_installed", "2026-11-01T00:00:00Z", app_id="A1", workspace_id="T1"),
            audit("e2", "app_installed", "2026-11-02T00:00:00Z", app_id="A2", workspace_id="T1"),
            audit("e3", "user_deactivated", "2026-11-03T00:00:00Z", user_id="U9",
                  workspace_id="T2"),
        ])
        def ids(**kw: object) -> list[str]:
            return [e.id for e in iter_entries(conn, **kw)]  # type: ignore[arg-type]
        assert ids(app_id="A1") == ["audit:e1"]
        assert ids(app_id=["A1", "A2"], workspace_id="T1") == ["audit:e1", "audit:e2"]
        assert ids(actions=["user_deactivated"]) == ["audit:e3"]
        assert ids(since="2026-11-02T00:00:00Z") == ["audit:e2", "audit:e3"]
        assert ids(since=datetime(2026, 11, 3, tzinfo=UTC)) == ["audit:e3"]
        assert ids(collector="other") == []


def test_checkpoints(inv: Inventory) -> None:
    with inv.engine.begin() as conn:
        assert get_checkpoint(conn, "audit") is None
        set_checkpoint(conn, "audit", "1700000000", now=NOW)
        set_checkpoint(conn, "audit", "1700000100", now=NOW)
        assert get_checkpoint(conn, "audit") == "1700000100"


def test_the_version_before_the_ledger_gains_its_tables(tmp_path: Path) -> None:
    db = tmp_path / "old.db"
    inventory, _ = open_inventory(str(db), create=True)
    version = next(v for v, _d, fn in migrations.MIGRATIONS if fn is migrations._add_ledger)
    with inventory.engine.begin() as conn:  # an inventory as the version before left it
        conn.execute(text("DROP TABLE ledger_entries"))
        conn.execute(text("DROP TABLE ledger_checkpoints"))
        conn.execute(text("UPDATE meta SET value = :v WHERE key = 'schema_version'"),
                     {"v": str(version - 1)})
    inventory.dispose()
    inventory, action = open_inventory(str(db), create=True)
    try:
        assert action == "migrated"
        names = set(inspect(inventory.engine).get_table_names())
        assert {"ledger_entries", "ledger_checkpoints"} <= names
        indexes = {i["name"] for i in inspect(inventory.engine).get_indexes("ledger_entries")}
        assert {"ix_ledger_entries_collector", "ix_ledger_entries_app_id"} <= indexes
        with inventory.engine.begin() as conn:
            add_entries(conn, [audit("e1", "app_installed", "2026-11-01T00:00:00Z")])
            assert [e.id for e in iter_entries(conn)] == ["audit:e1"]
    finally:
        inventory.dispose()
