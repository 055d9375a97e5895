"""Where the inventory lives, as given to ``--db``/``NHICTL_DB``, and how it may be shown.

A plain path is a SQLite file; anything with ``://`` is a SQLAlchemy URL. A URL's password
(user info or libpq's ``password=`` parameter) is never shown: :func:`display_location` is
the form every message, log line and error uses, and the password is registered with
:mod:`nhictl.untrusted` so it is masked wherever else it might surface.
"""

from __future__ import annotations

from sqlalchemy import URL, make_url
from sqlalchemy.exc import ArgumentError

from nhictl.errors import InvalidInputError
from nhictl.untrusted import register_secret

# How a PostgreSQL inventory may be named; all are opened with psycopg 3.
PG_SCHEMES = ("postgresql", "postgres", "postgresql+psycopg")


def is_url(db: str) -> bool:
    return "://" in db


def parse_url(db: str) -> URL | None:
    """The SQLAlchemy URL a ``--db`` value names (None for a plain path); refuses junk."""
    if not is_url(db):
        return None
    try:
        return make_url(db)
    except (ArgumentError, ValueError) as exc:
        raise InvalidInputError(f"inventory URL {display_location(db)} is not a valid "
                                f"database URL: {type(exc).__name__}") from None


def is_postgresql(db: str | None) -> bool:
    url = quiet_url(db) if db else None
    return url is not None and url.drivername in PG_SCHEMES


def quiet_url(db: str) -> URL | None:
    try:
        return make_url(db) if is_url(db) else None
    except (ArgumentError, ValueError):
        return None


def url_password(db: str | None) -> str | None:
    """The password a ``--db`` URL carries, if any (to refuse it on the command line): in
    its user info or, as libpq also reads it, a ``password=`` query parameter."""
    url = quiet_url(db) if db else None
    if url is None:
        return None
    if url.password:
        return str(url.password)
    query = url.query.get("password")
    value = query if isinstance(query, str) else (query[0] if query else None)
    return value or None


def display_location(db: str) -> str:
    """``db`` as it may be printed: a URL's password becomes ``***`` (and is registered
    with :mod:`nhictl.untrusted`, so it is masked wherever else it might surface)."""
    url = quiet_url(db)
    if url is None:
        if is_url(db):  # unparsable: show no user info at all
            scheme, _, rest = db.partition("://")
            return f"{scheme}://" + ("***@" + rest.rpartition("@")[2] if "@" in rest else rest)
        return db
    secret = url_password(db)
    if secret:
        register_secret(secret)
    shown: str = url.difference_update_query(["password"]).render_as_string(hide_password=True)
    if "password" in url.query:
        shown += ("&" if "?" in shown else "?") + "password=***"
    return shown
