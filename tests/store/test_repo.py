"""Repository functions: id prefixes, filters, events, runs."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest

from nhictl.errors import UsageError
from nhictl.store import repo
from nhictl.store.engine import Inventory, open_inventory
from nhictl.store.tables import BINDINGS
from tests.engines import InventoryDb

NOW = "2026-11-01T00:00:00Z"


def binding(bid: str, **values: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "id": bid, "source": "export", "connection_id": bid[2:], "first_seen_at": NOW,
        "last_seen_at": NOW, "status": "unvalidated", "purpose": "[]",
        "declared_scopes": '["chat:write"]', "missing_scopes": "[]", "used_scopes": "[]",
        "metadata_json": "{}",
    }
    row.update(values)
    return row


@pytest.fixture
def inv(inventory_db: InventoryDb) -> Iterator[Inventory]:
    inventory, _ = open_inventory(inventory_db.url, create=True)
    with inventory.engine.begin() as conn:
        for row in [
            binding("b-aaaa000001", tenant="acme", owner_email="Grace@Acme.example",
                    owner_id="u1", workspace_id="T1", workspace_name="Acme Corp",
                    status="active", granted_scopes='["chat:write", "channels:read"]'),
            binding("b-aaaa000002", tenant="acme", owner_id="u2", slack_user_id="U2",
                    workspace_id="T2", declared_scopes='["chat:write", "files:read"]'),
            binding("b-bbbb000003", tenant="globex", owner_id="u3", status="removed",
                    declared_scopes='["channels:read_extra"]'),
            binding("b-a_%c000004", tenant="initech", owner_id="u4"),
        ]:
            conn.execute(BINDINGS.insert().values(**row))
    yield inventory
    inventory.dispose()


def ids(inv: Inventory, **filters: Any) -> list[str]:
    with inv.engine.connect() as conn:
        return sorted(r["id"] for r in repo.iter_bindings(conn, **filters))


@pytest.mark.parametrize("prefix,expected", [
    ("b-aaaa000001", "b-aaaa000001"),
    ("b-aaaa0000010", None),
    ("b-bb", "b-bbbb000003"),
    ("bbbb", "b-bbbb000003"),          # the b- may be left out
    ("  b-bbbb00  ", "b-bbbb000003"),
    ("b-a_", "b-a_%c000004"),          # LIKE wildcards are literal
    ("b-a_%", "b-a_%c000004"),
])
def test_resolve_binding_id(inv: Inventory, prefix: str, expected: str | None) -> None:
    with inv.engine.connect() as conn:
        if expected is None:
            with pytest.raises(UsageError, match="no binding matches") as err:
                repo.resolve_binding_id(conn, prefix)
            assert err.value.exit_code == 2
        else:
            assert repo.resolve_binding_id(conn, prefix) == expected


def test_ambiguous_prefix_lists_candidates(inv: Inventory) -> None:
    with inv.engine.connect() as conn, pytest.raises(UsageError) as err:
        repo.resolve_binding_id(conn, "b-aaaa")
    assert err.value.exit_code == 2
    assert "ambiguous" in err.value.message
    assert "b-aaaa000001" in err.value.message and "b-aaaa000002" in err.value.message
    with inv.engine.connect() as conn, pytest.raises(UsageError, match="empty"):
        repo.resolve_binding_id(conn, "  ")


def test_filters(inv: Inventory) -> None:
    assert ids(inv) == ["b-a_%c000004", "b-aaaa000001", "b-aaaa000002", "b-bbbb000003"]
    assert ids(inv, status=["active", "removed"]) == ["b-aaaa000001", "b-bbbb000003"]
    assert ids(inv, tenant="acme") == ["b-aaaa000001", "b-aaaa000002"]
    assert ids(inv, workspace="T2") == ["b-aaaa000002"]
    assert ids(inv, workspace="acme corp") == ["b-aaaa000001"]
    assert ids(inv, owner="grace@acme.example") == ["b-aaaa000001"]
    assert ids(inv, owner="u3") == ["b-bbbb000003"]
    assert ids(inv, owner="U2") == ["b-aaaa000002"]
    # granted scopes win over declared once validated; exact names, not substrings
    assert ids(inv, scope="channels:read") == ["b-aaaa000001"]
    assert ids(inv, scope="files:read") == ["b-aaaa000002"]
    assert ids(inv, scope="chat:write") == ["b-a_%c000004", "b-aaaa000001", "b-aaaa000002"]
    assert ids(inv, scope="channels") == []
    assert ids(inv, tenant="acme", status=["active"], scope="chat:write") == ["b-aaaa000001"]


def test_decoded_rows(inv: Inventory) -> None:
    with inv.engine.connect() as conn:
        row = repo.get_binding(conn, "b-aaaa000001")
        assert repo.get_binding(conn, "b-nope") is None
    assert row is not None
    assert row["granted_scopes"] == ["chat:write", "channels:read"]
    assert row["metadata"] == {} and "metadata_json" not in row


def test_runs_and_events(inv: Inventory) -> None:
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    run_id = repo.begin_run(inv, "reconcile", now=t0, actor="me", command="nhictl x")
    assert run_id.startswith("r-20261101T000000Z-")
    later = repo.begin_run(inv, "reconcile", now=t0.replace(hour=1), actor="me", command="y")
    with inv.engine.connect() as conn:
        outcomes = {r["id"]: r["outcome"] for r in repo.latest_runs(conn)}
    assert outcomes == {run_id: "interrupted", later: "running"}
    with inv.engine.begin() as conn:
        repo.finish_run(conn, later, now=t0.replace(hour=2), outcome="ok", counts={"seen": 2})
        repo.append_events(conn, [
            repo.event_row(at="2026-11-01T01:00:00Z", run_id=later, binding_id="b-aaaa000001",
                           type="changed", actor="me", details={"fields": {"x": [1, 2]}}),
            repo.event_row(at="2026-11-02T01:00:00Z", run_id=later, binding_id="b-aaaa000002",
                           type="removed", actor="me"),
        ])
        repo.append_events(conn, [])
    with inv.engine.connect() as conn:
        (latest, *_) = repo.latest_runs(conn, kind="reconcile")
        assert latest["counts"] == {"seen": 2} and latest["ended_at"] == "2026-11-01T02:00:00Z"
        assert repo.latest_runs(conn, kind="check") == []
        every = list(repo.iter_events(conn))
        assert [e["seq"] for e in every] == sorted(e["seq"] for e in every)
        assert every[0]["details"] == {"fields": {"x": [1, 2]}}
        assert [e["type"] for e in repo.iter_events(conn, since="2026-11-02T00:00:00Z")] == [
            "removed"]
        assert [e["type"] for e in repo.iter_events(conn, binding_id="b-aaaa000001")] == [
            "changed"]
        assert [e["type"] for e in repo.iter_events(conn, types=["removed"])] == ["removed"]
        assert len(list(repo.iter_events(conn, limit=1))) == 1
        assert repo.status_counts(conn) == {"active": 1, "removed": 1, "unvalidated": 2}
    assert json.loads(repo.event_row(at="x", run_id=None, binding_id=None, type="t",
                                     actor="a")["details"]) == {}


def test_actor_name(monkeypatch: pytest.MonkeyPatch) -> None:
    assert repo.actor_name("explicit") == "explicit"
    monkeypatch.setenv("NHICTL_ACTOR", "auditor")
    assert repo.actor_name() == "auditor"


def test_decoded_lists_are_each_rows_own() -> None:
    """Equal scope lists are decoded once (a memo), yet changing one row's list never
    changes another row's, nor what a later read returns."""
    from nhictl.store.repo import _decoded_list

    first, second = _decoded_list('["chat:write", "users:read"]'), \
        _decoded_list('["chat:write", "users:read"]')
    assert first == second == ["chat:write", "users:read"] and first is not second
    first.append("admin")
    assert second == ["chat:write", "users:read"]
    assert _decoded_list('["chat:write", "users:read"]') == ["chat:write", "users:read"]
    assert _decoded_list("null") is None
