"""Revoke plan (pure) and execution (fake Slack client and sources over a real inventory)."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nhictl.errors import SourceError
from nhictl.models import SourceRecord
from nhictl.revoke.execute import execute
from nhictl.revoke.plan import BOT_NOTE, RevokeStep, build_plan, source_kind
from nhictl.secret import Secret
from nhictl.slack.client import RevokeResult
from nhictl.sources.base import Source, TokenFetch
from nhictl.store import repo
from nhictl.store.engine import Inventory
from tests.checks.store_helpers import add_binding, binding, make_inventory

NOW = datetime(2026, 11, 29, 12, 0, tzinfo=UTC)


def fake_token() -> str:
    return "xoxp-fake" + secrets.token_hex(8)


def row(bid: str, **over: Any) -> dict[str, Any]:
    return {"id": bid, "source": "export", "source_spec": "file:/x.json",
            "connection_id": "c1", "owner_email": "g@x", "workspace_id": "T1",
            "workspace_name": "Acme", "token_kind": "user", "status": "active", **over}


def test_plan_calls_notes_and_noop() -> None:
    steps = build_plan([
        (row("b-1"), "r"), (row("b-2", source="pipes", token_kind="bot"), "r"),
        (row("b-3", status="revoked", revoked_at="2026-11-01T00:00:00Z"), "r"),
        (row("b-1"), "again"),
    ], {"pipes": "workos"})
    assert [s.binding_id for s in steps] == ["b-1", "b-2", "b-3"]
    assert steps[0].calls == ("Slack auth.revoke with the token obtained from file source "
                              "'export'",) and not steps[0].removable
    assert steps[1].removable and steps[1].calls[1] == "WorkOS Pipes removal of connection c1"
    assert steps[1].notes == (BOT_NOTE,) and "does NOT uninstall the app" in BOT_NOTE
    assert steps[2].noop == "already revoked at 2026-11-01T00:00:00Z" and steps[2].calls == ()
    assert steps[2].as_row()["will_call"].startswith("nothing: already revoked")
    assert source_kind("x", "slack-store:sqlite:/a", {}) == "slack-store"
    assert source_kind("nango", None, {"nango": "nango"}) == "nango"


def test_plan_names_the_nango_connection_nango_deletes() -> None:
    # The user part of a bot+user connection is binding "<id>#user"; Nango deletes "<id>",
    # and the plan used to promise the removal of a connection "<id>#user" that Nango lacks.
    steps = build_plan([(row("b-1", source="nango", connection_id="nc-1#user"), "r"),
                        (row("b-2", source="nango", connection_id="nc-1"), "r")],
                       {"nango": "nango"})
    assert [s.calls[1] for s in steps] == ["Nango removal of connection nc-1"] * 2


class FakeClient:
    def __init__(self, answers: dict[str, RevokeResult] | None = None) -> None:
        self.calls: list[tuple[str, bool]] = []
        self.answers = answers or {}

    def revoke(self, token: Secret, test: bool = False, *,
               workspace_hint: str | None = None) -> RevokeResult:
        self.calls.append((token.reveal(), test))
        default = RevokeResult("test_ok" if test else "revoked")
        return self.answers.get(token.reveal() + (":test" if test else ""), default)


class FakeSource:
    kind = "fake"

    def __init__(self, name: str, records: list[SourceRecord],
                 dead: dict[str, str] | None = None, fail_remove: bool = False) -> None:
        self.name = name
        self.records = records
        self.dead = dead or {}
        self.fail_remove = fail_remove
        self.removed: list[str] = []

    def collect(self) -> Iterator[SourceRecord]:
        yield from self.records

    def fetch_token(self, record: SourceRecord) -> TokenFetch:
        if record.connection_id in self.dead:
            return TokenFetch(dead_reason=self.dead[record.connection_id])
        return TokenFetch(token=record.token)

    def describe(self) -> str:
        return "fake"

    def remove(self, record: SourceRecord) -> None:
        if self.fail_remove:
            raise SourceError(self.name, "unavailable (503)")
        self.removed.append(record.connection_id)


class PlainSource(FakeSource):
    remove = None  # type: ignore[assignment]  # not a RemovableSource


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    return make_inventory(tmp_path)


def setup(inv: Inventory, specs: list[tuple[str, str, str]]) -> dict[str, str]:
    """(binding id, source, connection id) -> tokens by connection id."""
    tokens = {}
    for bid, source, conn in specs:
        add_binding(inv, bid, source=source, connection_id=conn)
        tokens[conn] = fake_token()
    return tokens


def plan_for(inv: Inventory, ids: list[str], kinds: dict[str, str]) -> list[RevokeStep]:
    with inv.engine.connect() as conn:
        targets = [(repo.get_binding(conn, b) or {}, "offboarded") for b in ids]
    return build_plan(targets, kinds)


def test_execute_independent_outcomes_and_events(inv: Inventory) -> None:
    tokens = setup(inv, [("b-00000000a1", "pipes", "ok"), ("b-00000000a2", "pipes", "dead"),
                         ("b-00000000a3", "export", "fails"), ("b-00000000a4", "export", "gone"),
                         ("b-00000000a5", "export", "slackdead")])
    pipes = FakeSource("pipes", [SourceRecord("ok", token=Secret(tokens["ok"])),
                                 SourceRecord("dead")], dead={"dead": "needs_reauthorization"})
    export = PlainSource("export", [SourceRecord("fails", token=Secret(tokens["fails"])),
                                    SourceRecord("slackdead",
                                                 token=Secret(tokens["slackdead"]))])
    client = FakeClient({tokens["fails"]: RevokeResult("failed", "ratelimited", "429"),
                         tokens["slackdead"]: RevokeResult("dead", "token_revoked")})
    ids = ["b-00000000a1", "b-00000000a2", "b-00000000a3", "b-00000000a4", "b-00000000a5"]
    sources: dict[str, Source] = {"pipes": pipes, "export": export}
    report = execute(inv, plan_for(inv, ids, {"pipes": "workos"}), client=client,
                     open_source=lambda s: sources[s.source], clock=lambda: NOW, actor="ops")
    got = {o.binding_id: o for o in report.outcomes}
    assert got["b-00000000a1"].outcome == "revoked" and got["b-00000000a1"].broker == "removed"
    # The holder cannot provide a token: not revoked at Slack, connection left in place.
    assert got["b-00000000a2"].outcome == "failed"
    assert "needs_reauthorization" in got["b-00000000a2"].detail
    assert got["b-00000000a2"].broker == "not called"
    assert got["b-00000000a3"].outcome == "failed" and "ratelimited" in got["b-00000000a3"].detail
    # The source no longer holds it: nothing to call, so it is NOT revoked (issue 10.6).
    assert got["b-00000000a4"].outcome == "failed"
    assert "no longer holds it" in got["b-00000000a4"].detail
    assert "--token-stdin" in got["b-00000000a4"].detail
    assert "--mark-removed" in got["b-00000000a4"].detail
    assert got["b-00000000a5"].outcome == "already_dead"
    assert got["b-00000000a5"].broker == "not applicable"
    assert pipes.removed == ["ok"]
    assert [c[0] for c in client.calls] == [tokens["ok"], tokens["fails"], tokens["slackdead"]]
    assert binding(inv, "b-00000000a4")["status"] == "active"
    for bid in ("b-00000000a1", "b-00000000a5"):
        b = binding(inv, bid)
        assert b["status"] == "revoked" and b["revoked_at"] == "2026-11-29T12:00:00Z"
        assert b["revoke_reason"].startswith("offboarded")
    assert binding(inv, "b-00000000a2")["status"] != "revoked"
    assert "token_revoked" in binding(inv, "b-00000000a5")["revoke_reason"]
    assert binding(inv, "b-00000000a3")["status"] == "active"
    with inv.engine.connect() as conn:
        evs = list(repo.iter_events(conn))
    types = [(e["type"], e["binding_id"]) for e in evs]
    assert types[:5] == [("revoke_planned", b) for b in ids]
    assert ("revoke_failed", "b-00000000a3") in types
    assert ("revoke_failed", "b-00000000a2") in types
    assert sum(1 for t, _ in types if t == "revoked") == 2
    assert ("revoke_failed", "b-00000000a4") in types
    assert all(e["actor"] == "ops" for e in evs)
    for token in tokens.values():
        assert token not in repr(evs)
    # Second run: revoked ones are no-ops, only the failed ones are tried again.
    client.calls.clear()
    again = execute(inv, plan_for(inv, ids, {"pipes": "workos"}), client=client,
                    open_source=lambda s: sources[s.source], clock=lambda: NOW, actor="ops")
    assert [c[0] for c in client.calls] == [tokens["fails"]]
    assert sum(1 for o in again.outcomes if o.outcome == "already_revoked") == 2


def test_preflight_failure_and_broker_removal_failure(inv: Inventory) -> None:
    tokens = setup(inv, [("b-00000000b1", "pipes", "p1"), ("b-00000000b2", "pipes", "p2")])
    pipes = FakeSource("pipes", [SourceRecord(c, token=Secret(t)) for c, t in tokens.items()],
                       fail_remove=True)
    client = FakeClient({tokens["p1"] + ":test": RevokeResult("failed", "invalid_arguments")})
    report = execute(inv, plan_for(inv, ["b-00000000b1", "b-00000000b2"], {"pipes": "nango"}),
                     client=client, open_source=lambda s: pipes, clock=lambda: NOW,
                     actor="ops", preflight=True)
    first, second = report.outcomes
    assert first.outcome == "failed" and first.slack == "preflight failed"
    assert (tokens["p1"], False) not in client.calls  # never revoked for real
    assert second.outcome == "failed" and second.slack == "revoked"
    assert second.broker == "failed" and "503" in second.detail
    assert client.calls[-2:] == [(tokens["p2"], True), (tokens["p2"], False)]
    assert binding(inv, "b-00000000b2")["status"] == "active"  # retried on the next run


def test_unreadable_source_fails_its_bindings_only(inv: Inventory) -> None:
    tokens = setup(inv, [("b-00000000c1", "down", "x"), ("b-00000000c2", "export", "y")])
    export = PlainSource("export", [SourceRecord("y", token=Secret(tokens["y"]))])

    def opener(step: RevokeStep) -> Source:
        if step.source == "down":
            raise SourceError("down", "unavailable")
        return export

    report = execute(inv, plan_for(inv, ["b-00000000c1", "b-00000000c2"], {}),
                     client=FakeClient(), open_source=opener, clock=lambda: NOW, actor="ops")
    assert [o.outcome for o in report.outcomes] == ["failed", "revoked"]
    assert "cannot read source 'down'" in report.outcomes[0].detail
    assert report.counts() == {"failed": 1, "revoked": 1}
