"""PostgreSQL failures an operator can fix, as nhictl errors (one line, URL masked).

Called by :func:`nhictl.store.engine.storage_error`, the one seam for database errors.
psycopg stays optional, so its errors are recognised by their SQLSTATE (``exc.sqlstate``)
and, for failures to connect (which carry no SQLSTATE in psycopg 3), by libpq's message.

Exit codes: the server cannot be reached, is shutting down, is out of connections, space or
memory, or a transaction lost a serialization/deadlock race -> 4 (partial: run again later;
the step in progress was rolled back). Authentication failed, the database or role does not
exist, the role lacks privileges, the server is read-only (a standby), a value is too big -> 3
(fix the configuration; nothing was written).
"""

from __future__ import annotations

from nhictl.errors import (
    InvalidInputError,
    NhictlError,
    ReadOnlyInventoryError,
    StorageFullError,
    UnavailableError,
)

# libpq's words for a connection that never got as far as the server's answer.
_UNREACHABLE = ("connection refused", "could not translate host name", "timeout expired",
                "no route to host", "network is unreachable", "could not connect to server",
                "no such file or directory", "server closed the connection unexpectedly",
                "connection timed out", "name or service not known")
_AUTH = ("password authentication failed", "no password supplied", "authentication failed",
         "no pg_hba.conf entry", "peer authentication failed")


def _first_line(exc: BaseException) -> str:
    """libpq's own explanation, without its ``connection to server at ...`` preamble."""
    text = " ".join(str(exc).split())
    for marker in ("failed: FATAL:", "failed:"):
        if marker in text:
            text = text.rsplit(marker, 1)[1]
            break
    return text.strip().removeprefix("FATAL:").strip()[:300]


def pg_storage_error(location: str, exc: BaseException) -> NhictlError | None:
    state = str(getattr(exc, "sqlstate", None) or "")
    why = _first_line(exc)
    low = str(exc).lower()
    if state in ("28P01", "28000") or any(w in low for w in _AUTH):
        return InvalidInputError(
            f"cannot log in to inventory {location}: {why}",
            hint="give the password through PGPASSWORD, ~/.pgpass, a service file or the "
            "variable named by [inventory] password_env in nhictl.toml",
        )
    if state == "3D000" or ("database" in low and "does not exist" in low):
        return InvalidInputError(f"inventory {location}: {why}",
                                 hint="create the database first (createdb), then "
                                 "`nhictl init`")
    if "role" in low and "does not exist" in low:
        return InvalidInputError(f"inventory {location}: {why}",
                                 hint="check the user name in the URL (or PGUSER)")
    if state == "42501":
        return InvalidInputError(f"inventory {location}: permission denied ({why})",
                                 hint="grant the role rights on the inventory's tables, or "
                                 "connect as their owner")
    if state == "25006":
        return ReadOnlyInventoryError(
            f"inventory {location} is read-only (a standby or a read-only transaction); "
            "nothing could be written to it",
            hint="point --db/NHICTL_DB at the primary server")
    if state in ("53100",):
        return StorageFullError(
            f"cannot write inventory {location}: the server's disk is full; the step in "
            "progress was rolled back", hint="free space on the database server and run the "
            "command again")
    if state in ("40001", "40P01"):
        return UnavailableError(
            f"inventory {location}: a concurrent change conflicted with this one "
            f"({'deadlock' if state == '40P01' else 'serialization failure'}); the step in "
            "progress was rolled back", hint="run the command again")
    if state in ("55P03", "57014"):
        return UnavailableError(f"inventory {location} is busy ({why}); the step in progress "
                                "was rolled back", hint="retry later")
    if state.startswith("53") or state.startswith("57P") or state.startswith("08") or \
            any(w in low for w in _UNREACHABLE):
        return UnavailableError(f"cannot reach inventory {location}: {why}",
                                hint="check that the server is running and reachable (host, "
                                "port, firewall), then run the command again")
    if state == "54000":
        return InvalidInputError(f"a value is too big to store in inventory {location}")
    return None
