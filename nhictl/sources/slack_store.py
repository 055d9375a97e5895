"""The ``slack-store`` source: installation stores of python slack_sdk / Bolt apps, read-only.

Three layouts (read directly because the stores have no "list everything" call; how each is
read is in ``slack_store_read``):

* ``sqlite:PATH``: a ``SQLite3InstallationStore`` database (tables ``slack_installations``
  and ``slack_bots``), opened with a ``mode=ro`` URI inside one read transaction;
* ``sqlalchemy:URL``: a ``SQLAlchemyInstallationStore`` through any SQLAlchemy URL (``${VAR}``
  in the URL is taken from the environment), plain SELECTs after reflecting the column names;
  the app may have chosen its own table names (``installations_table_name``,
  ``bots_table_name``);
* ``dir:PATH``: a ``FileInstallationStore`` ``base_dir`` (``{enterprise}-{team}/`` directories,
  optionally under a ``{client_id}/`` level, with ``installer-{user}-latest`` and
  ``bot-latest`` JSON files).

The newest installation per (app, enterprise, team, user) gives a user-token binding, the newest
bot per (app, enterprise, team) a bot-token binding. Columns a store does not have (older
slack_sdk) read as empty. The store is the app's: a loose file mode is not refused but noted as
an observation (``token_store_exposed`` reports it).
"""

from __future__ import annotations

import os
import re
import sqlite3
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote, unquote

import sqlalchemy
from sqlalchemy.engine import URL, make_url
from sqlalchemy.pool import NullPool

from nhictl.clock import iso
from nhictl.errors import ConfigError, SourceError
from nhictl.models import SourceObservation, SourceRecord, TokenKind
from nhictl.secret import Secret
from nhictl.sources import slack_store_read as read
from nhictl.sources.base import InMemoryTokenMixin

SCHEMES = ("sqlite", "sqlalchemy", "dir")
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")

Row = dict[str, Any]


class SlackStoreSource(InMemoryTokenMixin):
    """Bindings held in a slack_sdk installation store (user and bot tokens)."""

    kind = "slack-store"

    def __init__(
        self,
        name: str,
        store: str,
        *,
        tenant: str | None = None,
        default_purpose: list[str] | None = None,
        spec: str | None = None,
        installations_table_name: str | None = None,
        bots_table_name: str | None = None,
    ) -> None:
        self.name = name
        self.tenant = tenant
        self.default_purpose = list(default_purpose or [])
        text = store.strip().removeprefix("slack-store:")
        scheme, sep, location = text.partition(":")
        if not sep or scheme not in SCHEMES or not location.strip():
            raise ConfigError(
                f"source {name!r}: invalid slack-store {store!r}",
                hint="use sqlite:PATH, sqlalchemy:URL or dir:PATH",
            )
        self.scheme = scheme
        self.location = location.strip()
        self.spec = spec or f"slack-store:{text}"
        if scheme == "dir" and (installations_table_name or bots_table_name):
            raise ConfigError(f"source {name!r}: table names apply to sqlite: and "
                              "sqlalchemy: stores, not to a FileInstallationStore directory")
        self.tables = read.Tables.named(name, installations_table_name, bots_table_name)
        self._observations: list[SourceObservation] = []
        if scheme == "sqlalchemy" and not _ENV_REF.fullmatch(self.location):
            read.parse_url(name, self.location)

    # -- Source protocol ---------------------------------------------------------------------

    def describe(self) -> str:
        if self.scheme == "sqlite":
            return f"slack_sdk SQLite installation store {self.location}"
        if self.scheme == "dir":
            return f"slack_sdk file installation store {self.location}"
        if _ENV_REF.fullmatch(self.location):
            return f"slack_sdk SQLAlchemy installation store {self.location}"
        shown = make_url(self.location).render_as_string(hide_password=True)
        return f"slack_sdk SQLAlchemy installation store {shown}"

    def check(self) -> str:
        records = list(self.collect())
        users = sum(1 for r in records if r.token_kind == TokenKind.USER.value)
        text = f"ok: {users} user and {len(records) - users} bot tokens readable"
        for obs in self._observations:
            d = obs.details
            who = sorted(set(d["readable_by"]) | set(d["writable_by"]))
            text += (f"; warning: {d['files_exposed']} store file(s) open to "
                     f"{' and '.join(who)} (mode {', '.join(d['modes'])})")
        return text

    def observations(self) -> list[SourceObservation]:
        """What the last ``collect`` noticed about the store (loose file modes)."""
        return list(self._observations)

    def collect(self) -> Iterator[SourceRecord]:
        self._observations = []
        if self.scheme == "sqlite":
            installs, bots = self._read_sqlite()
        elif self.scheme == "sqlalchemy":
            installs, bots = self._read_sqlalchemy()
        else:
            installs, bots = self._read_dir()
        return iter(self._records(installs, bots))

    # -- readers -----------------------------------------------------------------------------

    def _error(self, message: str, hint: str | None = None) -> SourceError:
        return SourceError(self.name, message, hint=hint)

    def _notes(self, root: Path) -> read.ExposureNotes:
        return read.ExposureNotes(root, self.scheme)

    def _read_sqlite(self) -> tuple[list[Row], list[Row] | None]:
        path, notes = read.store_file(self.location, self._notes, self._error)
        installs, bots = read.read_sqlite(path, self.tables, self._error)
        self._observations = notes.observations()
        return installs, bots

    def _read_sqlalchemy(self) -> tuple[list[Row], list[Row] | None]:
        url = read.parse_url(self.name, self._expand_env(self.location))
        backend = url.get_backend_name()
        secrets = [url.password] if isinstance(url.password, str) and url.password else []
        notes: read.ExposureNotes | None = None
        where = url.render_as_string(hide_password=True)
        try:
            if backend == "sqlite":
                path, notes = self._sqlite_url_file(url)
                engine = read.sqlite_engine(path)
            else:
                engine = sqlalchemy.create_engine(url, poolclass=NullPool)
            try:
                installs, bots = read.read_sqlalchemy(engine, backend, self.tables, where,
                                                      self._error)
            finally:
                engine.dispose()
        except (sqlalchemy.exc.SQLAlchemyError, ImportError, sqlite3.Error) as exc:
            detail = str(getattr(exc, "orig", None) or exc).splitlines()[0] if str(exc) else ""
            for secret in secrets:
                detail = detail.replace(secret, "***")
            hint = "install the database driver" if isinstance(exc, ImportError) else None
            raise self._error(f"cannot read store: {type(exc).__name__}: {detail}", hint) from None
        if notes is not None:
            self._observations = notes.observations()
        return installs, bots

    def _sqlite_url_file(self, url: URL) -> tuple[Path, read.ExposureNotes]:
        database = url.database or ""
        if database in ("", ":memory:") or database.startswith("file:"):
            raise ConfigError(
                f"source {self.name!r}: a SQLite URL must name a database file",
                hint="sqlalchemy:sqlite:////absolute/path.db",
            )
        return read.store_file(database, self._notes, self._error)

    def _expand_env(self, text: str) -> str:
        def value(match: re.Match[str]) -> str:
            found = os.environ.get(match.group(1))
            if found is None:
                raise ConfigError(
                    f"source {self.name!r}: environment variable {match.group(1)} is not set",
                    hint=f"export {match.group(1)}=...",
                )
            return quote(found, safe="")

        whole = _ENV_REF.fullmatch(text)
        if whole:  # the whole URL from one variable, taken as it is
            return unquote(value(whole))
        return _ENV_REF.sub(value, text)

    def _read_dir(self) -> tuple[list[Row], list[Row] | None]:
        base = Path(self.location).expanduser()
        notes = self._notes(base.resolve() if base.exists() else base)
        installs, bots = read.read_dir(base, notes, self._error)
        self._observations = notes.observations()
        return installs, bots

    # -- records -----------------------------------------------------------------------------

    def _records(self, installs: list[Row], bots: list[Row] | None) -> list[SourceRecord]:
        parsed = [self._normalise(r) for r in installs]
        newest_user: dict[tuple[str, str, str, str], Row] = {}
        newest_team: dict[tuple[str, str, str], Row] = {}
        for row in parsed:
            team_key = (row["app"], row["enterprise_id"] or "-", row["team_id"] or "-")
            _keep_newest(newest_user, (*team_key, row["user_id"] or "-"), row)
            _keep_newest(newest_team, team_key, row)
        bot_rows = parsed if bots is None else [self._normalise(r) for r in bots]
        newest_bot: dict[tuple[str, str, str], Row] = {}
        for row in bot_rows:
            if row.get("bot_token"):
                key = (row["app"], row["enterprise_id"] or "-", row["team_id"] or "-")
                _keep_newest(newest_bot, key, row)
        records = [
            self._user_record(key, row) for key, row in newest_user.items() if row.get("user_token")
        ]
        records += [
            self._bot_record(key, row, newest_team.get(key)) for key, row in newest_bot.items()
        ]
        return sorted(records, key=lambda r: r.connection_id)

    def _normalise(self, raw: Row) -> Row:
        where = raw.get("_where") or f"{self.tables.installations} row id={raw.get('id')}"
        row = dict(raw)
        for name in ("app_id", "client_id", "enterprise_id", "team_id", "user_id"):
            row[name] = _text(row.get(name))
        row["app"] = row["app_id"] or row["client_id"] or "-"
        for name in ("installed_at", "user_token_expires_at", "bot_token_expires_at"):
            try:
                row[name] = _to_datetime(row.get(name))
            except (ValueError, TypeError, OverflowError, OSError):
                raise self._error(f"{where}: unreadable {name}") from None
        row["_order"] = (
            row["installed_at"].timestamp() if row["installed_at"] else float("-inf"),
            row.get("id") if isinstance(row.get("id"), int) else 0,
        )
        return row

    def _base(self, row: Row, installer: Row | None) -> dict[str, Any]:
        installed = row["installed_at"]
        channel = _text((installer or {}).get("incoming_webhook_channel_id"))
        metadata = {
            "store": self.scheme,
            "client_id": row["client_id"],
            "app_id": row["app_id"],
            "enterprise_id": row["enterprise_id"],
            "enterprise_name": _text(row.get("enterprise_name")),
            "team_name": _text(row.get("team_name")),
            "bot_id": _text(row.get("bot_id")),
            "is_enterprise_install": _to_bool(row.get("is_enterprise_install")),
            "installed_at": iso(installed) if installed else None,
            "incoming_webhook_channel_id": channel,
            "incoming_webhook_channel": _text((installer or {}).get("incoming_webhook_channel")),
        }
        return {
            "tenant": self.tenant,
            "purpose": list(self.default_purpose),
            "source_team_id": row["team_id"],
            "enterprise_id": row["enterprise_id"],
            "owner_id": (installer or {}).get("user_id"),
            "channel_id": channel,
            "created_at": iso(installed) if installed else None,
            "metadata": metadata,
        }

    def _user_record(self, key: tuple[str, ...], row: Row) -> SourceRecord:
        base = self._base(row, row)
        base["metadata"]["token_type"] = _text(row.get("token_type"))
        expires = row["user_token_expires_at"]
        return SourceRecord(
            connection_id=":".join((*key, "user")),
            declared_scopes=_scopes(row.get("user_scopes")),
            source_slack_user_id=row["user_id"],
            token_kind=TokenKind.USER.value,
            token_expires_at=iso(expires) if expires else None,
            has_refresh_token=bool(row.get("user_refresh_token")),
            token=Secret(str(row["user_token"])),
            **base,
        )

    def _bot_record(self, key: tuple[str, ...], row: Row, installer: Row | None) -> SourceRecord:
        base = self._base(row, installer)
        base["metadata"]["installer_user_id"] = base["owner_id"]
        expires = row["bot_token_expires_at"]
        return SourceRecord(
            connection_id=":".join((*key, "bot")),
            declared_scopes=_scopes(row.get("bot_scopes")),
            source_slack_user_id=_text(row.get("bot_user_id")),
            token_kind=TokenKind.BOT.value,
            token_expires_at=iso(expires) if expires else None,
            has_refresh_token=bool(row.get("bot_refresh_token")),
            token=Secret(str(row["bot_token"])),
            **base,
        )


# -- helpers -------------------------------------------------------------------------------







def _keep_newest(best: dict[Any, Row], key: Any, row: Row) -> None:
    current = best.get(key)
    if current is None or row["_order"] > current["_order"]:
        best[key] = row


def _text(value: Any) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text or None


def _to_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "t", "yes")
    return bool(value)


def _scopes(value: Any) -> list[str]:
    parts: list[str] = []
    if isinstance(value, str):
        parts = value.replace(",", " ").split()
    elif isinstance(value, list | tuple):
        parts = [str(v).strip() for v in value]
    return sorted({p for p in parts if p})


def _to_datetime(value: Any) -> datetime | None:
    """Store timestamps: epoch seconds (int/float/text) or datetimes (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValueError("boolean timestamp")
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, int | float):
        return datetime.fromtimestamp(value, UTC)
    if isinstance(value, str):
        text = value.strip()
        try:
            return datetime.fromtimestamp(float(text), UTC)
        except ValueError:
            pass
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise TypeError(type(value).__name__)


__all__ = ["SlackStoreSource"]
