"""Opening, creating and migrating the inventory (a SQLite file or a PostgreSQL database).

Where it lives and how that is shown: :mod:`nhictl.store.urls`; PostgreSQL specifics:
:mod:`nhictl.store.postgres` and :mod:`nhictl.store.pg_errors`; the fingerprint key:
:mod:`nhictl.store.keys`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError, SQLAlchemyError
from sqlmodel import SQLModel

from nhictl.errors import (
    InvalidInputError,
    NhictlError,
    NotInitializedError,
    ReadOnlyInventoryError,
    SchemaVersionError,
    StorageFullError,
    UnavailableError,
    UsageError,
)
from nhictl.fsutil import not_regular_reason, private_dirs
from nhictl.store import tables
from nhictl.store.keys import (
    KEY_BYTES,
    KEY_ENV,
    KEY_FILE_ENV,
    key_from_env,
    key_path_for,
    lost_key,
    resolve_key,
)
from nhictl.store.migrations import SCHEMA_VERSION, pending
from nhictl.store.pg_errors import pg_storage_error
from nhictl.store.postgres import no_nul, postgresql_engine, psycopg_missing
from nhictl.store.urls import (
    PG_SCHEMES,
    display_location,
    is_postgresql,
    is_url,
    parse_url,
    url_password,
)
from nhictl.untrusted import mask_rows, masked_params

if TYPE_CHECKING:
    from nhictl.store.lock import Locks

# Also re-exported: what callers imported from here before urls.py/keys.py/postgres.py.
__all__ = ["KEY_BYTES", "KEY_ENV", "KEY_FILE_ENV", "PG_SCHEMES", "Inventory", "default_db_path",
           "display_location", "is_postgresql", "key_from_env", "key_path_for",
           "open_inventory", "psycopg_missing", "storage_error", "url_password"]


def default_db_path() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "nhictl" / "inventory.db"


def _private_dir(path: Path) -> None:
    private_dirs(path)


def _private_file(path: Path) -> None:
    """Create an empty file with mode 0600 unless it exists."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY, 0o600)
    os.close(fd)


@dataclass
class Inventory:
    """An opened inventory: its engine, its fingerprint key and where it lives."""

    engine: Engine
    key: bytes
    location: str  # for messages: a URL's password is shown as ***
    path: Path | None  # the SQLite file, when it is one
    locks: Locks | None = None  # the command's locks (store/lock.py), when it holds them

    def dispose(self) -> None:
        self.engine.dispose()


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The one dialect-aware place: WAL lets readers work during a reconcile, and a busy
    # timeout makes short lock contention wait instead of failing.
    # journal_mode=WAL is persistent (it rewrites the file header), so it is switched on
    # only by ``_enable_wal`` once the schema version check passed: a database we refuse
    # must stay byte-for-byte untouched.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()
    # pysqlite only opens a transaction before DML, so DDL (migrations) and reads would run
    # outside ``engine.begin()``; let SQLAlchemy emit BEGIN itself (its documented recipe).
    dbapi_connection.isolation_level = None


WRITER_BUSY_TIMEOUT_MS = 600_000


def _sqlite_begin(conn: Any) -> None:
    if conn.get_execution_options().get("nhictl_write"):
        # A reconcile's write transaction (repo.write_transaction) waits for another
        # source's to commit: that writer is alive and working (a dead one holds nothing).
        conn.exec_driver_sql(f"PRAGMA busy_timeout={WRITER_BUSY_TIMEOUT_MS}")
        try:
            conn.exec_driver_sql("BEGIN IMMEDIATE")
        finally:
            conn.exec_driver_sql("PRAGMA busy_timeout=5000")
        return
    conn.exec_driver_sql("BEGIN")


def _mask_writes(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    """No secret reaches the inventory, whoever writes: servers' and sources' text is masked
    (``nhictl.untrusted``) in the parameters of every INSERT and UPDATE."""
    if not parameters or statement.lstrip()[:6].upper() not in ("INSERT", "UPDATE"):
        return statement, parameters
    if executemany:  # one scan of the batch; only rows that may hold a secret are masked
        return statement, mask_rows(parameters)
    return statement, masked_params(parameters)


def storage_error(location: str, exc: BaseException) -> NhictlError | None:
    """The nhictl error for a database failure the operator can fix (None for others, which
    stay bugs). SQLite: a read-only inventory (exit 3), a full disk or an I/O error (exit 4),
    a busy inventory (exit 4), a value too big to store (exit 3). PostgreSQL: see
    :func:`nhictl.store.pg_errors.pg_storage_error`."""
    if hasattr(exc, "sqlstate"):  # psycopg's errors (duck-typed: psycopg is optional)
        return pg_storage_error(location, exc)
    name = str(getattr(exc, "sqlite_errorname", "") or "")
    text = str(exc)
    if name.startswith("SQLITE_READONLY") or "readonly database" in text:
        return ReadOnlyInventoryError(
            f"inventory {location} is read-only; nothing could be written to it",
            hint="check the permissions of the file and its directory, or the file system",
        )
    if name in ("SQLITE_FULL",) or name.startswith("SQLITE_IOERR") or \
            "disk is full" in text or "disk I/O error" in text:
        return StorageFullError(
            f"cannot write inventory {location}: disk full or I/O error ({text}); the "
            "step in progress was rolled back",
            hint="free some space (or raise the file size limit) and run the command again",
        )
    if name.startswith("SQLITE_BUSY") or "database is locked" in text:
        return UnavailableError(f"inventory {location} is busy (locked by another process)",
                                hint="retry later or pass --lock-timeout")
    if name == "SQLITE_TOOBIG" or "too big" in text:
        return InvalidInputError(f"a value is too big to store in inventory {location}")
    if name.startswith("SQLITE_CANTOPEN") or "unable to open database" in text:
        return InvalidInputError(f"cannot open inventory {location}: {text}")
    return None


def _translate_errors(engine: Engine, location: str) -> None:
    """The one seam where database errors become nhictl errors, for every connect,
    statement and commit on this engine (SQLAlchemy's ``handle_error`` hook; raising
    replaces the exception after the connection was cleaned up)."""

    def handle(context: Any) -> None:
        error = storage_error(location, context.original_exception)
        if error is not None:
            raise error from context.sqlalchemy_exception

    event.listen(engine, "handle_error", handle)


def _engine_for(db: str, password: str | None = None) -> tuple[Engine, Path | None]:
    shown = display_location(db)
    url = parse_url(db)
    if url is not None and url.drivername in PG_SCHEMES:
        engine = postgresql_engine(url, shown, password)
        path = None
    elif url is not None:
        try:
            engine = create_engine(url)
        except (ArgumentError, ImportError) as exc:  # an unknown dialect or missing driver
            raise InvalidInputError(f"cannot open inventory {shown}: {exc}") from None
        path = None
        if engine.dialect.name == "sqlite" and engine.url.database:
            path = Path(engine.url.database)
    else:
        path = Path(db).expanduser()
        engine = create_engine(f"sqlite:///{path}")
    # The write seam: every string any INSERT or UPDATE stores passes untrusted.mask.
    event.listen(engine, "before_cursor_execute", _mask_writes, retval=True)
    if engine.dialect.name == "postgresql":
        event.listen(engine, "before_cursor_execute", no_nul, retval=True)
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        event.listen(engine, "begin", _sqlite_begin)
    _translate_errors(engine, shown)
    return engine, path


def _enable_wal(engine: Engine) -> None:
    if engine.dialect.name == "sqlite":
        raw = engine.raw_connection()  # outside any transaction: WAL cannot switch inside one
        try:
            cursor = raw.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.close()
        finally:
            raw.close()


def _schema_version(engine: Engine, location: str) -> int | None:
    """The stamped version, None for an empty database; refuses foreign databases."""
    try:
        names = set(inspect(engine).get_table_names())
    except DatabaseError as exc:
        raise InvalidInputError(f"{location} is not a readable database: {exc.orig}") from exc
    if not names:
        return None
    if "meta" not in names:
        raise SchemaVersionError(f"{location} is not an nhictl inventory (no meta table)")
    with engine.connect() as conn:
        row = conn.execute(
            select(tables.META.c.value).where(tables.META.c.key == "schema_version")
        ).first()
    if row is None or not str(row[0]).isdigit():
        raise SchemaVersionError(f"{location} has no schema version; not an nhictl inventory")
    return int(row[0])


def open_inventory(
    db: str | None = None, *, create: bool = False, new_key: bool = False,
    password: str | None = None,
) -> tuple[Inventory, str]:
    """Open (and with ``create``, create or migrate) an inventory.

    Returns the inventory and what happened: ``opened``, ``created``, ``migrated``,
    ``current`` or ``rekeyed``. An initialized inventory whose key file is missing is refused
    unless ``new_key`` (then a new key is made and every stored fingerprint cleared).
    Raises NotInitializedError when it does not exist and ``create`` is false,
    SchemaVersionError when it was written by a newer nhictl. ``password`` (from the
    config's ``[inventory] password_env``) is used when a PostgreSQL URL carries none;
    otherwise libpq finds one itself (PGPASSWORD, ~/.pgpass, a service file).
    """
    raw = db or str(default_db_path())
    location = display_location(raw)
    if not is_url(raw):
        p = Path(raw).expanduser()
        try:
            exists = p.exists()
            problem = not_regular_reason(p.stat().st_mode) if exists else None
        except OSError as exc:  # a name too long, a loop of symlinks
            raise InvalidInputError(f"cannot open inventory {location[:200]}: "
                                    f"{exc.strerror or exc}") from None
        if problem:  # SQLite would block on a FIFO, or call a device "disk I/O error"
            raise InvalidInputError(f"cannot {'create' if create else 'open'} inventory {p}: "
                                    f"it {problem}")
        if not create and not exists:
            raise NotInitializedError(
                f"no inventory at {p}", hint="run `nhictl init` (or pass --db / NHICTL_DB)"
            )
        if create:
            try:
                _private_dir(p.parent)
                _private_file(p)
            except OSError as exc:
                raise InvalidInputError(
                    f"cannot create inventory {p}: {exc.strerror or exc}"
                ) from None
    engine: Engine | None = None
    try:
        env_key = key_from_env()
        engine, path = _engine_for(raw, password)
        key_path = key_path_for(raw, path) if env_key is None else None
        version = _schema_version(engine, location)
        action = "opened"
        if version is not None and version > SCHEMA_VERSION:
            raise SchemaVersionError(
                f"{location} has schema version {version}, newer than this nhictl "
                f"supports ({SCHEMA_VERSION}); it was not modified",
                hint="upgrade nhictl",
            )
        if create:
            if new_key and key_path is None:
                raise UsageError(f"--new-key: the fingerprint key comes from {KEY_ENV}; "
                                 f"to replace it, set {KEY_ENV} to a new key instead")
            lost = key_path is not None and version is not None and not key_path.exists()
            if key_path is not None and lost and not new_key:
                raise lost_key(location, key_path)
            if new_key and key_path is not None and key_path.exists():
                raise UsageError(f"--new-key: the fingerprint key {key_path} exists; "
                                 "--new-key only replaces a lost key")
            if version is None:
                with engine.begin() as conn:  # tables and stamp together, or neither
                    SQLModel.metadata.create_all(conn)
                    conn.execute(
                        tables.META.insert(),
                        [{"key": "schema_version", "value": str(SCHEMA_VERSION)}],
                    )
                action = "created"
            elif version < SCHEMA_VERSION:
                _migrate(engine, version)
                action = "migrated"
            else:
                action = "current"
            key = resolve_key(env_key, key_path, create=True)
            if lost:
                _forget_fingerprints(engine)
                action = "rekeyed"
            _enable_wal(engine)
        else:
            if version is None:
                raise NotInitializedError(f"{location} is empty", hint="run `nhictl init`")
            if version < SCHEMA_VERSION:
                raise SchemaVersionError(
                    f"{location} has schema version {version}; this nhictl needs "
                    f"{SCHEMA_VERSION}",
                    hint="run `nhictl init` to migrate it",
                )
            key = resolve_key(env_key, key_path, create=False)
            _enable_wal(engine)
    except OperationalError as exc:
        _dispose(engine)
        raise InvalidInputError(f"cannot open inventory {location}: {exc.orig}") from exc
    except SQLAlchemyError as exc:
        _dispose(engine)
        raise InvalidInputError(f"cannot open inventory {location}: {exc}") from exc
    except BaseException:
        _dispose(engine)  # close SQLite connections now: no -wal/-shm left by a refusal
        raise
    return Inventory(engine=engine, key=key, location=location, path=path), action


def _forget_fingerprints(engine: Engine) -> None:
    """Fingerprints under a lost key can never be matched again: clear them, so the next
    reconcile records each token's new fingerprint without reporting a token change."""
    with engine.begin() as conn:
        conn.execute(tables.BINDINGS.update().values(token_fingerprint=None))
        conn.execute(tables.META.delete().where(tables.META.c.key == "key_replaced_at"))
        from datetime import UTC, datetime

        conn.execute(tables.META.insert(), [{
            "key": "key_replaced_at",
            "value": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")}])


def _dispose(engine: Engine | None) -> None:
    if engine is not None:
        engine.dispose()


def _migrate(engine: Engine, version: int) -> None:
    with engine.begin() as conn:
        for target, _desc, fn in pending(version):
            if fn is not None:
                fn(conn)
            conn.execute(
                tables.META.update()
                .where(tables.META.c.key == "schema_version")
                .values(value=str(target))
            )
