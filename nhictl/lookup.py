"""Finding a binding by whatever a user has in hand: its id or a unique prefix, the
connection id their app or broker uses, or a token fingerprint."""

from __future__ import annotations

from sqlalchemy import Connection, func, select

from nhictl.errors import UsageError
from nhictl.secret import FINGERPRINT_PREFIX
from nhictl.store import repo
from nhictl.store.tables import BINDINGS


def by_fingerprint(conn: Connection, fp: str) -> list[str]:
    rows = conn.execute(select(BINDINGS.c.id).where(BINDINGS.c.token_fingerprint == fp)
                        .order_by(BINDINGS.c.id)).all()
    return [str(r[0]) for r in rows]


def resolve(conn: Connection, ref: str, source: str | None = None) -> str:
    """One binding id for ``ref``; a usage error (exit 2) naming the candidates otherwise.

    Tried in order: a token fingerprint (``hmac-sha256:...``), a connection id (within
    ``source`` when given; case-sensitive, as sources use it), a binding id or unique prefix.
    """
    text = ref.strip()
    if not text:
        raise UsageError("empty binding reference")
    if text.startswith(FINGERPRINT_PREFIX):
        ids = by_fingerprint(conn, text)
        if not ids:
            raise UsageError(f"no binding holds a token with fingerprint {text}")
        if len(ids) > 1:
            raise UsageError(f"{len(ids)} bindings hold the token {text}: {', '.join(ids)}",
                             hint="name one of them by its binding id")
        return ids[0]
    query = select(BINDINGS.c.id, BINDINGS.c.source).where(BINDINGS.c.connection_id == text)
    if source:
        query = query.where(func.lower(BINDINGS.c.source) == source.strip().lower())
    matches = conn.execute(query.order_by(BINDINGS.c.id)).all()
    if len(matches) == 1:
        return str(matches[0][0])
    if len(matches) > 1:
        where = ", ".join(f"{r[0]} ({r[1]})" for r in matches)
        raise UsageError(f"connection id {text!r} is in {len(matches)} sources: {where}",
                         hint="add --source NAME to say which")
    if source:
        raise UsageError(f"no connection {text!r} in source {source!r}",
                         hint="see `nhictl sources list` or `nhictl inventory list`")
    return repo.resolve_binding_id(conn, text)
