"""When a binding was last seen: its own row, or a newer complete read of its source.

A reconcile that reads a source completely does not rewrite the rows of the bindings it
found unchanged; it records the read once (``source_reads``: source, scope, when, run). A
live binding's effective ``last_seen_at`` and ``run_id`` are those of the newest of its own
row and its source's complete reads. The reads that count as reads of the whole source:

* scope ``''``: an unsharded reconcile of the source;
* scope ``K/N`` (``reconcile --shard K/N``): for each N, once reads of every shard 1/N..N/N
  are on record, the oldest of them (each binding belongs to exactly one of the N shards,
  so every live binding was seen at least then). A binding's own shard may have been read
  later; its row does not say so until it changes.

Removed and revoked bindings are never overlaid: those reads did not see them. Every reader
of bindings goes through :class:`SeenOverlay` (``repo.iter_bindings``/``get_binding``, the
check snapshot, ``sources list``), so what they show is what rewriting each row would show.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from nhictl.store.tables import SOURCE_READS

RETIRED = frozenset({"removed", "revoked"})


def whole_reads(scopes: list[tuple[str, str, str]]) -> tuple[str, str] | None:
    """The newest read of the whole source among (scope, read_at, run_id) rows, by the rule
    in the module docstring: (read_at, run_id), or None."""
    best: tuple[str, str] | None = None
    shards: dict[int, dict[int, tuple[str, str]]] = defaultdict(dict)
    for scope, read_at, run_id in scopes:
        if scope:
            index, _, count = scope.partition("/")
            shards[int(count)][int(index)] = (read_at, run_id)
        elif best is None or read_at > best[0]:
            best = (read_at, run_id)
    for n, reads in shards.items():
        if len(reads) == n and all(1 <= k <= n for k in reads):
            oldest = min(reads.values())
            if best is None or oldest[0] > best[0]:
                best = oldest
    return best


@dataclass(frozen=True)
class SeenOverlay:
    """Per source, its newest whole-source read (read_at, run_id) and its newest read of any
    scope (what ``sources list`` shows as last reconciled)."""

    whole: dict[str, tuple[str, str]]
    newest: dict[str, str]

    @classmethod
    def load(cls, conn: Connection, source: str | None = None) -> SeenOverlay:
        query = select(SOURCE_READS.c.source, SOURCE_READS.c.scope, SOURCE_READS.c.read_at,
                       SOURCE_READS.c.run_id)
        if source is not None:
            query = query.where(SOURCE_READS.c.source == source)
        per_source: dict[str, list[tuple[str, str, str]]] = defaultdict(list)
        newest: dict[str, str] = {}
        for name, scope, read_at, run_id in conn.execute(query):
            per_source[name].append((scope, read_at, run_id))
            if read_at > newest.get(name, ""):
                newest[name] = read_at
        whole = {name: read for name, scopes in per_source.items()
                 if (read := whole_reads(scopes)) is not None}
        return cls(whole, newest)

    def last_seen(self, source: str, status: str | None, last_seen_at: str | None
                  ) -> str | None:
        """The binding's effective ``last_seen_at``."""
        read = self.whole.get(source)
        if read is None or status in RETIRED or read[0] <= (last_seen_at or ""):
            return last_seen_at
        return read[0]

    def apply(self, data: dict[str, Any]) -> dict[str, Any]:
        """A bindings row (as a dict) with its effective ``last_seen_at`` and ``run_id``."""
        read = self.whole.get(data.get("source") or "")
        if read is not None and data.get("status") not in RETIRED \
                and read[0] > (data.get("last_seen_at") or ""):
            data["last_seen_at"], data["run_id"] = read
        return data
