"""Reading the raw rows of a slack_sdk installation store, read-only, and noting file modes.

Layouts as slack_sdk writes them (python-slack-sdk, ``slack_sdk/oauth/installation_store/``):

* ``sqlite3/__init__.py``: ``SQLite3InstallationStore`` creates ``slack_installations`` and
  ``slack_bots`` with ``sqlite3.connect``, so the file gets 0666 minus the umask (0644 under
  the usual 022); ``enterprise_id``/``team_id`` are ``''`` when absent;
* ``sqlalchemy/__init__.py``: ``SQLAlchemyInstallationStore(client_id, engine,
  bots_table_name="slack_bots", installations_table_name="slack_installations")``;
* ``file/__init__.py``: ``FileInstallationStore`` writes ``{base_dir}[/{client_id}]/
  {enterprise_id or "none"}-{team_id or "none"}/`` holding ``installer-latest``,
  ``installer-{user_id or "none"}-latest``, ``bot-latest`` and history copies, with plain
  ``open(..., "w")`` (0644 under umask 022). ``delete_installation``/``delete_bot`` (and
  ``delete_all``, what Bolt runs on ``app_uninstalled``) remove files by glob and leave the
  team directory empty: an empty team directory is a workspace with nothing installed.

Nothing is ever created or written: no tables, no files, no journal.
"""

from __future__ import annotations

import json
import os
import re
import sqlite3
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from nhictl.errors import ConfigError, SourceError
from nhictl.models import SourceObservation
from nhictl.sources.fileperm import Exposure, exposure

INSTALLATIONS_TABLE = "slack_installations"
BOTS_TABLE = "slack_bots"
MAX_JSON_BYTES = 1024 * 1024
SQLITE_TIMEOUT_S = 5.0
EXPOSED = "store_file_exposed"  # the observation kind token_store_exposed reads
_USER_FILE = re.compile(r"^installer-([^-]+)-latest$")
# `{enterprise_id or "none"}-{team_id or "none"}` (Slack ids and "none" have no '-').
_TEAM_DIR = re.compile(r"^[A-Za-z0-9_]+-[A-Za-z0-9_]+$")
_TABLE_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,62}$")

Row = dict[str, Any]
Fail = Callable[[str], SourceError]


@dataclass(frozen=True)
class Tables:
    """The store's table names (SQLAlchemyInstallationStore lets an app choose them)."""

    installations: str = INSTALLATIONS_TABLE
    bots: str = BOTS_TABLE

    @classmethod
    def named(cls, source: str, installations: str | None, bots: str | None) -> Tables:
        for key, value in (("installations_table_name", installations),
                           ("bots_table_name", bots)):
            if value is not None and not _TABLE_NAME.fullmatch(value):
                raise ConfigError(
                    f"source {source!r}: {key} {value!r} is not a plain table name",
                    hint="letters, digits and _, as passed to SQLAlchemyInstallationStore",
                )
        return cls(installations or INSTALLATIONS_TABLE, bots or BOTS_TABLE)


class ExposureNotes:
    """Store files group or others can read or write, summed up into one observation."""

    def __init__(self, root: Path, scheme: str) -> None:
        self.root = root
        self.scheme = scheme
        self.found: list[Exposure] = []
        self._stats: dict[str, os.stat_result] = {}  # parent directories, stat'ed once

    def _stat(self, path: str) -> os.stat_result:
        if path not in self._stats:
            self._stats[path] = os.stat(path)
        return self._stats[path]

    def check(self, path: Path) -> None:
        found = exposure(path, self._stat)
        if found is not None:
            self.found.append(found)

    def observations(self) -> list[SourceObservation]:
        if not self.found:
            return []
        reachable = [e for e in self.found if e.reachable]
        details: dict[str, Any] = {
            "store": self.scheme,
            "path": str(self.root),
            "files_exposed": len(self.found),
            "modes": dict(sorted(Counter(e.mode for e in self.found).items())),
            "examples": [e.path for e in self.found[:3]],
            "readable_by": sorted({w for e in self.found for w in e.readable_by}),
            "writable_by": sorted({w for e in self.found for w in e.writable_by}),
            "reachable": bool(reachable),
            "blocked_by": None if reachable else self.found[0].blocked_by,
        }
        return [SourceObservation(EXPOSED, str(self.root), details)]


def store_file(raw: str, notes_for: Callable[[Path], ExposureNotes], fail: Fail
               ) -> tuple[Path, ExposureNotes]:
    """The store's database file, with the modes of it and its -wal/-journal noted."""
    path = Path(raw).expanduser()
    try:
        if not path.exists():
            raise fail(f"store file {path} not found")
        if not path.is_file():
            raise fail(f"{path} is not a file")
        notes = notes_for(path.resolve())
        # The write-ahead log and the rollback journal hold page images: tokens too.
        for part in (path, Path(f"{path}-wal"), Path(f"{path}-journal")):
            if part.exists():
                notes.check(part)
    except OSError as exc:
        raise fail(f"cannot read {path}: {exc.strerror or exc}") from None
    return path, notes


def connect_ro(path: Path) -> sqlite3.Connection:
    uri = "file:" + quote(str(path.resolve()), safe="/") + "?mode=ro"
    conn = sqlite3.connect(uri, uri=True, timeout=SQLITE_TIMEOUT_S, check_same_thread=False)
    conn.isolation_level = None  # explicit BEGIN/ROLLBACK only
    return conn


def _quoted(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def read_sqlite(path: Path, tables: Tables, fail: Fail) -> tuple[list[Row], list[Row] | None]:
    try:
        conn = connect_ro(path)
    except sqlite3.Error as exc:
        raise fail(f"cannot open {path}: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        conn.execute("BEGIN")  # one snapshot for both tables
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
        require_table(names, tables, str(path), fail)
        installs = [dict(r) for r in conn.execute(
            f"SELECT * FROM {_quoted(tables.installations)}")]
        bots = None
        if tables.bots in names:
            bots = [dict(r) for r in conn.execute(f"SELECT * FROM {_quoted(tables.bots)}")]
        conn.execute("ROLLBACK")
    except sqlite3.Error as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    finally:
        conn.close()
    return installs, bots


def require_table(names: set[str], tables: Tables, where: str, fail: Fail) -> None:
    if tables.installations not in names:
        hint = "" if tables.installations != INSTALLATIONS_TABLE else (
            "; set installations_table_name if the app chose its own")
        raise fail(f"{where} is not a slack_sdk installation store "
                   f"(no {tables.installations} table{hint})")


def parse_url(name: str, text: str) -> URL:
    """A SQLAlchemy URL whose dialect is known; anything else is a config error."""
    try:
        url = make_url(text)
        url.get_dialect()
    except (sqlalchemy.exc.ArgumentError, ValueError) as exc:
        raise ConfigError(
            f"source {name!r}: not a usable SQLAlchemy URL ({type(exc).__name__})",
            hint="e.g. sqlalchemy:postgresql://user:${DB_PASSWORD}@host/db",
        ) from None
    return url


def read_sqlalchemy(engine: sqlalchemy.Engine, backend: str, tables: Tables, where: str,
                    fail: Fail) -> tuple[list[Row], list[Row] | None]:
    """Plain SELECTs in a transaction that is read-only where the database supports it and
    always rolled back. Foreign exceptions are left to the caller, which masks secrets."""
    with engine.connect() as conn:
        if backend in ("postgresql", "mysql", "mariadb"):
            conn.exec_driver_sql("SET TRANSACTION READ ONLY")
        inspector = sqlalchemy.inspect(conn)
        names = set(inspector.get_table_names())
        require_table(names, tables, where, fail)
        installs = _select_all(conn, inspector, tables.installations)
        bots = _select_all(conn, inspector, tables.bots) if tables.bots in names else None
        conn.rollback()
    return installs, bots


def sqlite_engine(path: Path) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine("sqlite://", creator=lambda: connect_ro(path),
                                    poolclass=NullPool)


def _select_all(
    conn: sqlalchemy.Connection, inspector: sqlalchemy.Inspector, table: str
) -> list[Row]:
    """Plain SELECT of every column the table really has (no type processing)."""
    columns: list[sqlalchemy.ColumnClause[Any]] = [
        sqlalchemy.column(c["name"]) for c in inspector.get_columns(table)
    ]
    query = sqlalchemy.select(*columns).select_from(sqlalchemy.table(table))
    return [dict(r) for r in conn.execute(query).mappings()]


def read_dir(base: Path, notes: ExposureNotes, fail: Fail) -> tuple[list[Row], list[Row]]:
    """Every ``installer-*-latest`` and ``bot-latest`` of a FileInstallationStore."""
    if not base.exists():
        raise fail(f"store directory {base} not found")
    if not base.is_dir():
        raise fail(f"{base} is not a directory")
    installs: list[Row] = []
    bots: list[Row] = []
    teams = 0
    try:
        for child in sorted(p for p in base.iterdir() if p.is_dir()):
            if _is_team_dir(child):
                teams += 1
                _read_team_dir(child, None, installs, bots, notes, fail)
                continue
            for grandchild in sorted(p for p in child.iterdir() if p.is_dir()):
                if _is_team_dir(grandchild):  # under a {client_id}/ level
                    teams += 1
                    _read_team_dir(grandchild, child.name, installs, bots, notes, fail)
        if not teams and any(base.iterdir()):
            raise fail(f"{base} is not a slack_sdk FileInstallationStore directory")
    except OSError as exc:
        raise fail(f"cannot read {base}: {exc.strerror or exc}") from None
    return installs, bots


def _is_team_dir(path: Path) -> bool:
    if _TEAM_DIR.fullmatch(path.name) and not any(p.is_dir() for p in path.iterdir()):
        return True
    return any(
        p.name == "bot-latest" or _USER_FILE.match(p.name) is not None for p in path.iterdir()
    )


def _read_team_dir(team_dir: Path, client_id: str | None, installs: list[Row],
                   bots: list[Row], notes: ExposureNotes, fail: Fail) -> None:
    for path in sorted(team_dir.iterdir()):
        if not path.is_file():
            continue
        notes.check(path)  # history copies hold tokens as well
        if _USER_FILE.match(path.name):
            installs.append(_read_json(path, client_id, fail))
        elif path.name == "bot-latest":
            bots.append(_read_json(path, client_id, fail))


def _read_json(path: Path, client_id: str | None, fail: Fail) -> Row:
    with path.open("rb") as handle:
        data = handle.read(MAX_JSON_BYTES + 1)
    if len(data) > MAX_JSON_BYTES:
        raise fail(f"{path}: larger than {MAX_JSON_BYTES} bytes")
    try:
        row = json.loads(data)
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        raise fail(f"{path}: not valid JSON") from None
    if not isinstance(row, dict):
        raise fail(f"{path}: not a JSON object")
    row.setdefault("client_id", client_id)
    row["_where"] = str(path)
    return row
