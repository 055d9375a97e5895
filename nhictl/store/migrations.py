"""Schema versions and how to move between them.

A fresh inventory is created from the current table definitions and stamped with
``SCHEMA_VERSION``. An older inventory is brought forward by running each migration after its
version, in order, inside one transaction. A newer one is refused, never touched. Migrations
use SQLAlchemy constructs (no dialect-specific SQL) so a PostgreSQL URL works too.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Connection

Migration = Callable[[Connection], None]

# (version reached, description, function). Version 1 is the initial schema, created whole.
MIGRATIONS: list[tuple[int, str, Migration | None]] = [
    (1, "initial schema: meta, bindings, runs, events, findings, usage", None),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def pending(current: int) -> list[tuple[int, str, Migration | None]]:
    return [m for m in MIGRATIONS if m[0] > current]
