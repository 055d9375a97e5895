"""Corroborating sightings: one token seen through several sources that agree on who holds it.

Two sources (an app's export and its installation store, say) may both hold the same
connection's token. When they agree on owner, tenant and Slack identity that is one
connection seen twice, which corroborates each binding; ``token_shared`` fires only when they
disagree (see :func:`nhictl.checks.rules_identity.holder_differences`).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select

from nhictl.checks.rules_identity import holder_differences, same_token_groups
from nhictl.checks.snapshot import view_from_binding
from nhictl.store import repo
from nhictl.store.seen import SeenOverlay
from nhictl.store.tables import BINDINGS


def corroborations(conn: Connection, only: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Binding id -> the other bindings that hold its token and agree on its holder.

    ``only``: just this binding's sightings (``inventory show``).
    """
    shared_fps = (select(BINDINGS.c.token_fingerprint)
                  .where(BINDINGS.c.token_fingerprint.is_not(None),
                         BINDINGS.c.status != "revoked")
                  .group_by(BINDINGS.c.token_fingerprint).having(func.count() > 1))
    if only is not None:
        shared_fps = shared_fps.where(BINDINGS.c.token_fingerprint == select(
            BINDINGS.c.token_fingerprint).where(BINDINGS.c.id == only).scalar_subquery())
    rows = conn.execute(select(BINDINGS).where(BINDINGS.c.token_fingerprint.in_(shared_fps)))
    seen = SeenOverlay.load(conn)
    views = [view_from_binding(repo.decode_binding(r, seen)) for r in rows]
    out: dict[str, list[dict[str, Any]]] = {}
    for _fp, members in same_token_groups(views):
        if holder_differences(members):
            continue  # not corroboration: a shared token (a finding)
        for b in members:
            out[b.id] = [{"binding_id": o.id, "source": o.source,
                          "connection_id": o.connection_id, "status": o.status}
                         for o in members if o.id != b.id]
    return out
