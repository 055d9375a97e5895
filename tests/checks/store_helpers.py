"""A real (tmp) inventory with hand-written binding rows, for store-backed check tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sqlalchemy import select

from nhictl.store import open_inventory
from nhictl.store.engine import Inventory
from nhictl.store.tables import BINDINGS
from tests.engines import InventoryDb


def make_inventory(where: InventoryDb | Path) -> Inventory:
    """The test's inventory (either engine), or for a directory ``<dir>/inv.db`` (SQLite)."""
    location = str(where / "inv.db") if isinstance(where, Path) else where.url
    inv, _ = open_inventory(location, create=True)
    return inv


def add_binding(inv: Inventory, bid: str, **cols: Any) -> None:
    row: dict[str, Any] = {
        "id": bid, "source": "export", "connection_id": bid[-4:], "status": "active",
        "tenant": "acme", "owner_id": "u1", "owner_email": "grace@example.com",
        "owner_status": "active", "purpose": ["notifications"], "declared_scopes": ["chat:write"],
        "granted_scopes": ["chat:write"], "workspace_id": "T1", "workspace_name": "Acme",
        "slack_user_id": "U1", "source_team_id": "T1", "source_slack_user_id": "U1",
        "token_expires_at": "2026-06-01T20:00:00Z", "first_seen_at": "2026-05-01T00:00:00Z",
        "last_seen_at": "2026-05-31T12:00:00Z", "last_validated_at": "2026-05-31T12:00:00Z",
        "last_reviewed_at": "2026-05-02T00:00:00Z", "created_at": "2026-05-01T00:00:00Z",
    }
    row.update(cols)
    for key in ("purpose", "declared_scopes", "granted_scopes", "approved_scopes",
                "used_scopes"):
        if isinstance(row.get(key), list):
            row[key] = json.dumps(row[key])
    with inv.engine.begin() as conn:
        conn.execute(BINDINGS.insert().values(**row))


def update_binding(inv: Inventory, bid: str, **cols: Any) -> None:
    for key, value in list(cols.items()):
        if isinstance(value, list):
            cols[key] = json.dumps(value)
    with inv.engine.begin() as conn:
        conn.execute(BINDINGS.update().where(BINDINGS.c.id == bid).values(**cols))


def binding(inv: Inventory, bid: str) -> dict[str, Any]:
    with inv.engine.connect() as conn:
        row = conn.execute(select(BINDINGS).where(BINDINGS.c.id == bid)).one()
    return dict(row._mapping)
