"""Which shard of a sharded reconcile (``reconcile --shard K/N``) a binding belongs to.

Each workspace belongs to exactly one shard, so N hosts reconciling one inventory never
share a workspace's Slack rate limits. A binding's workspace is the one Slack reported
(learnt by validation, kept in the inventory), else the team its source recorded, else the
Enterprise Grid org its source recorded. A binding whose workspace is not known yet is
placed by its source name and connection id (so it stays put until its workspace is learnt,
and may then move to its workspace's shard).

The shard is ``int(sha256(key)[:8]) mod N + 1``: stable across processes, hosts and Python
versions (never Python's randomized ``hash()``).
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

MAX_SHARDS = 1024
_SPEC = re.compile(r"\s*(\d{1,6})\s*/\s*(\d{1,6})\s*")


class ShardSpecError(ValueError):
    """A ``--shard`` value that is not K/N with 1 <= K <= N."""


@dataclass(frozen=True)
class Shard:
    index: int  # K, 1-based
    count: int  # N

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def holds(self, workspace: str | None, source: str, connection_id: str) -> bool:
        """Whether the binding (its workspace, else its source and connection) is ours."""
        return shard_of(workspace, source, connection_id, self.count) == self.index


def parse_shard(text: str) -> Shard:
    """``K/N`` (1 <= K <= N <= 1024) as a :class:`Shard`; ShardSpecError says what is wrong."""
    m = _SPEC.fullmatch(text)
    if m is None:
        raise ShardSpecError(f"{text[:40]!r} is not K/N (e.g. 1/4: the first of four shards)")
    index, count = int(m.group(1)), int(m.group(2))
    if not 1 <= count <= MAX_SHARDS:
        raise ShardSpecError(f"{text.strip()}: N must be between 1 and {MAX_SHARDS}")
    if not 1 <= index <= count:
        raise ShardSpecError(f"{text.strip()}: K must be between 1 and N ({count})")
    return Shard(index, count)


def placement_key(workspace: str | None, source: str, connection_id: str) -> str:
    """What decides the shard: the workspace when known, else source and connection id."""
    if workspace:
        return "workspace\x00" + workspace
    return "binding\x00" + source + "\x00" + connection_id


def shard_of(workspace: str | None, source: str, connection_id: str, count: int) -> int:
    """The 1-based shard (of ``count``) the binding belongs to."""
    key = placement_key(workspace, source, connection_id).encode("utf-8", "surrogatepass")
    return int.from_bytes(hashlib.sha256(key).digest()[:8], "big") % count + 1
