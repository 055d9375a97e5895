"""The inventory: SQLModel tables, engine, migrations and repository functions."""

from nhictl.store.engine import Inventory, default_db_path, open_inventory

__all__ = ["Inventory", "default_db_path", "open_inventory"]
