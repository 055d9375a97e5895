"""Opening a PostgreSQL inventory: psycopg 3 (optional), the password, and NUL characters."""

from __future__ import annotations

import os
from typing import Any

from sqlalchemy import URL, Engine, create_engine

from nhictl.errors import InvalidInputError
from nhictl.untrusted import register_secret

PG_DRIVER = "postgresql+psycopg"
PG_EXTRA_HINT = "pip install 'nhictl[postgresql]' (psycopg 3)"


def psycopg_missing() -> bool:
    """Whether psycopg 3 cannot be imported (the ``postgresql`` extra is not installed)."""
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return True
    return False


NUL_STAND_IN = "\ufffd"  # what PostgreSQL stores for a NUL character (text cannot hold one)


def no_nul(
    conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, executemany: bool
) -> tuple[str, Any]:
    """PostgreSQL text cannot hold NUL (psycopg refuses it), yet a hostile export or server
    may send one: it is stored as U+FFFD instead of failing the whole write. One scan of the
    strings first (statements without NUL, nearly all, pass unchanged); a lookup by a value
    with NUL then finds its stored form."""
    if not parameters:
        return statement, parameters
    rows = parameters if executemany else [parameters]
    if not any("\x00" in v for row in rows
               for v in (row.values() if isinstance(row, dict) else row) if type(v) is str):
        return statement, parameters
    fixed = [_without_nul(row) for row in rows]
    return statement, fixed if executemany else fixed[0]


def _without_nul(row: Any) -> Any:
    def clean(v: Any) -> Any:
        return v.replace("\x00", NUL_STAND_IN) if type(v) is str else v

    if isinstance(row, dict):
        return {k: clean(v) for k, v in row.items()}
    return type(row)(clean(v) for v in row)


def postgresql_engine(url: URL, shown: str, password: str | None) -> Engine:
    if psycopg_missing():
        raise InvalidInputError(f"inventory {shown} is a PostgreSQL database, but psycopg is "
                                f"not installed; {PG_EXTRA_HINT}")
    args: dict[str, Any] = {"application_name": "nhictl"}
    if password and not url.password:  # the config's password_env; else libpq's own sources
        register_secret(password)
        args["password"] = password
    if "connect_timeout" not in url.query and not os.environ.get("PGCONNECT_TIMEOUT"):
        args["connect_timeout"] = 10  # a silent server must not hang a cron job for ever
    return create_engine(url.set(drivername=PG_DRIVER), connect_args=args)
