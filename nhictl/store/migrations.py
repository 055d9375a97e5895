"""Schema versions and how to move between them.

A fresh inventory is created from the current table definitions and stamped with
``SCHEMA_VERSION``. An older inventory is brought forward by running each migration after its
version, in order, inside one transaction. A newer one is refused, never touched. Migrations
use SQLAlchemy constructs (no dialect-specific SQL) so a PostgreSQL URL works too.
"""

from __future__ import annotations

from collections.abc import Callable

from sqlalchemy import Column, Connection, Integer, MetaData, String, Table, inspect
from sqlalchemy.schema import CreateColumn

Migration = Callable[[Connection], None]


def _add_source_observations(conn: Connection) -> None:
    """The table as version 2 defines it (spelled out: later versions may change it)."""
    Table(
        "source_observations",
        MetaData(),
        Column("source", String, primary_key=True),
        Column("kind", String, primary_key=True),
        Column("subject", String, primary_key=True),
        Column("details", String, nullable=False),
        Column("observed_at", String, nullable=False),
        Column("run_id", String, nullable=True),
    ).create(conn, checkfirst=True)


def _add_nullable_text_column(conn: Connection, table: str, name: str) -> None:
    """``ALTER TABLE ... ADD COLUMN`` (the same SQL on both engines; the dialect renders the
    type), skipped when the column is already there (a table created from the current
    definitions, then stamped older)."""
    if any(c["name"] == name for c in inspect(conn).get_columns(table)):
        return
    column = CreateColumn(Column(name, String, nullable=True))
    conn.exec_driver_sql(f"ALTER TABLE {table} ADD COLUMN {column.compile(dialect=conn.dialect)}")


def _add_content_hash(conn: Connection) -> None:
    """bindings.content_hash: what the source said when the row was last merged, hashed, so
    an unchanged repeat reconcile skips the row (NULL on old rows: merged once more)."""
    _add_nullable_text_column(conn, "bindings", "content_hash")


def _add_ledger(conn: Connection) -> None:
    """The Slack-side ledger as version 5 defines it (spelled out: later versions may
    change it). ``index=True`` names indexes ``ix_<table>_<column>`` as SQLModel does."""
    metadata = MetaData()
    Table(
        "ledger_entries",
        metadata,
        Column("id", String, primary_key=True),
        Column("collector", String, nullable=False, index=True),
        Column("kind", String, nullable=False),
        Column("action", String, nullable=False, index=True),
        Column("at", String, nullable=False, index=True),
        Column("app_id", String, nullable=True, index=True),
        Column("enterprise_id", String, nullable=True),
        Column("workspace_id", String, nullable=True, index=True),
        Column("user_id", String, nullable=True, index=True),
        Column("actor_id", String, nullable=True),
        Column("scopes", String, nullable=False),
        Column("details", String, nullable=False),
        Column("collected_at", String, nullable=False),
        Column("run_id", String, nullable=True),
    )
    Table(
        "ledger_checkpoints",
        metadata,
        Column("collector", String, primary_key=True),
        Column("position", String, nullable=False),
        Column("updated_at", String, nullable=False),
    )
    metadata.create_all(conn, checkfirst=True)


def _add_lock_holders_and_run_host(conn: Connection) -> None:
    """Version 3: ``lock_holders`` (who holds a PostgreSQL advisory lock) and ``runs.host``
    (several hosts share one inventory; a run names where it ran)."""
    Table(
        "lock_holders",
        MetaData(),
        Column("scope", String, primary_key=True),
        Column("holder", String, primary_key=True),
        Column("mode", String, nullable=False),
        Column("backend_pid", Integer, nullable=False),
        Column("pid", Integer, nullable=True),
        Column("host", String, nullable=True),
        Column("command", String, nullable=True),
        Column("started_at", String, nullable=True),
        Column("scopes", String, nullable=False),
    ).create(conn, checkfirst=True)
    _add_nullable_text_column(conn, "runs", "host")


def _add_notify_state(conn: Connection) -> None:
    """The table as version 6 defines it: what each notification target was told."""
    Table(
        "notify_state",
        MetaData(),
        Column("target", String, primary_key=True),
        Column("kind", String, primary_key=True),
        Column("subject", String, primary_key=True),
        Column("detail", String, nullable=True),
        Column("announced_at", String, nullable=False),
    ).create(conn, checkfirst=True)


def _add_source_reads(conn: Connection) -> None:
    """The table as version 7 defines it: the newest complete read of each source (scope)."""
    Table(
        "source_reads",
        MetaData(),
        Column("source", String, primary_key=True),
        Column("scope", String, primary_key=True),
        Column("read_at", String, nullable=False),
        Column("run_id", String, nullable=False),
    ).create(conn, checkfirst=True)


# (version reached, description, function). Version 1 is the initial schema, created whole.
MIGRATIONS: list[tuple[int, str, Migration | None]] = [
    (1, "initial schema: meta, bindings, runs, events, findings, usage", None),
    (2, "source_observations: what a read noticed about a holder (exposed store files)",
     _add_source_observations),
    (3, "lock_holders: who holds a PostgreSQL advisory lock; runs.host: where a run ran",
     _add_lock_holders_and_run_host),
    (4, "bindings.content_hash: unchanged rows are not rewritten by a repeat reconcile",
     _add_content_hash),
    (5, "ledger_entries, ledger_checkpoints: the Slack-side ledger (audit and integration "
     "logs, users.info)", _add_ledger),
    (6, "notify_state: what each notification target was told (nothing announced twice)",
     _add_notify_state),
    (7, "source_reads: complete reads of each source (an unchanged binding is not rewritten "
     "to say it was seen)", _add_source_reads),
]

SCHEMA_VERSION = MIGRATIONS[-1][0]


def pending(current: int) -> list[tuple[int, str, Migration | None]]:
    return [m for m in MIGRATIONS if m[0] > current]
