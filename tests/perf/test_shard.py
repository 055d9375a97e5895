"""reconcile --shard K/N: disjoint shards by workspace whose union is one unsharded run."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nhictl.models import SourceRecord, binding_id
from nhictl.reconcile import reconcile
from nhictl.shard import Shard, ShardSpecError, parse_shard, shard_of
from nhictl.store import repo
from nhictl.store.engine import Inventory, open_inventory
from tests.test_reconcile import Clock, ListSource


@pytest.mark.parametrize(("text", "want"), [("1/1", Shard(1, 1)), ("3/4", Shard(3, 4)),
                                            (" 2 / 2 ", Shard(2, 2))])
def test_a_shard_spec_parses(text: str, want: Shard) -> None:
    assert parse_shard(text) == want and str(want) == f"{want.index}/{want.count}"


@pytest.mark.parametrize(("text", "says"), [
    ("0/4", "K must be between 1 and N"), ("5/4", "K must be between 1 and N"),
    ("1/0", "N must be between 1 and 1024"), ("1/2000", "N must be between 1 and 1024"),
    ("1", "is not K/N"), ("a/b", "is not K/N"), ("-1/2", "is not K/N"), ("", "is not K/N"),
])
def test_a_bad_shard_spec_says_what_is_wrong(text: str, says: str) -> None:
    with pytest.raises(ShardSpecError, match=says):
        parse_shard(text)


def test_the_shard_of_a_workspace_is_stable_and_its_own() -> None:
    # Pinned values: the rule must not change between hosts, processes or versions.
    assert [shard_of(f"T{i}", "s", "c", 4) for i in range(8)] == \
        [shard_of(f"T{i}", "other", "d", 4) for i in range(8)]
    teams = ["T0GLOBX01", "T0INITC02", "T0ACME002", "T0ACME001", "T0INITC01"]
    assert [shard_of(t, "s", "c", 4) for t in teams] == [3, 4, 1, 1, 2]
    assert shard_of(None, "export", "c1", 4) == shard_of("", "export", "c1", 4)
    spread = Counter(shard_of(None, "export", f"c{i}", 4) for i in range(4000))
    assert set(spread) == {1, 2, 3, 4} and min(spread.values()) > 800
    for n in (1, 2, 3, 7):
        assert all(sum(Shard(k, n).holds(f"T{i}", "s", "c") for k in range(1, n + 1)) == 1
                   for i in range(50))


def records(n: int) -> list[SourceRecord]:
    """n connections over 6 workspaces, every fifth with no team id (placed by its id)."""
    return [SourceRecord(connection_id=f"c{i}", tenant="acme", owner_email=f"u{i}@a.example",
                         declared_scopes=["chat:write"],
                         source_team_id=None if i % 5 == 0 else f"T{i % 6}",
                         source_slack_user_id=f"U{i}") for i in range(n)]


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Inventory, Inventory]]:
    a, _ = open_inventory(str(tmp_path / "whole.db"), create=True)
    b, _ = open_inventory(str(tmp_path / "sharded.db"), create=True)
    yield a, b
    a.dispose()
    b.dispose()


def state(inv: Inventory) -> dict[str, tuple[Any, ...]]:
    with inv.engine.connect() as conn:
        return {r["id"]: (r["status"], r["owner_email"], r["last_seen_at"], r["workspace_id"])
                for r in repo.iter_bindings(conn)}


def event_set(inv: Inventory) -> Counter[tuple[str, str]]:
    with inv.engine.connect() as conn:
        return Counter((e["binding_id"], e["type"]) for e in repo.iter_events(conn))


def test_the_union_of_n_sharded_runs_is_one_unsharded_run(
        two: tuple[Inventory, Inventory]) -> None:
    whole, sharded = two
    clock = Clock()
    rounds = [records(60)]
    changed = records(60)[:50]  # ten gone (swept), one changed
    changed[3] = replace(changed[3], owner_email="new@a.example")
    rounds.append(changed)
    rounds.append(records(60))  # they come back
    for recs in rounds:
        clock.tick()
        reconcile(whole, [(ListSource("export", recs), None)], clock=clock, actor="t",
                  command="c", allow_empty=True)
        seen = 0
        for k in (1, 2, 3):
            report = reconcile(sharded, [(ListSource("export", recs), None)], clock=clock,
                               actor="t", command="c", allow_empty=True, shard=Shard(k, 3))
            seen += report.counts["seen"]
            with sharded.engine.connect() as conn:
                (run,) = [r for r in repo.latest_runs(conn, limit=100)
                          if r["id"] == report.run_id]
            assert run["counts"]["shard"] == f"{k}/3"  # the run record names its shard
        assert seen == len(recs)  # each record in exactly one shard
        assert state(sharded) == state(whole)
    assert event_set(sharded) == event_set(whole)
    assert event_set(whole)[(binding_id("export", "c55"), "removed")] == 1


def test_a_shard_never_sweeps_another_shards_bindings(
        two: tuple[Inventory, Inventory]) -> None:
    _, inv = two
    clock = Clock()
    reconcile(inv, [(ListSource("export", records(30)), None)], clock=clock, actor="t",
              command="c")
    clock.tick()
    # Shard 1 runs alone on an export that lost everything: only its own bindings go.
    report = reconcile(inv, [(ListSource("export", records(30)[:1]), None)], clock=clock,
                       actor="t", command="c", shard=Shard(1, 2))
    with inv.engine.connect() as conn:
        rows = list(repo.iter_bindings(conn))
    removed = {r["connection_id"] for r in rows if r["status"] == "removed"}
    assert removed and report.counts["removed"] == len(removed)
    for r in rows:
        mine = Shard(1, 2).holds(r["workspace_id"], "export", r["connection_id"])
        assert (r["connection_id"] in removed) == (mine and r["connection_id"] != "c0")
