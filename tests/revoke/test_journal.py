"""The revoke journal: an attempt is recorded before Slack is called, survives a crash
(kill -9 simulated by an exception no handler catches), is resumed by the next revoke, and a
failed write after Slack revoked never reads as "nothing written"."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from nhictl.errors import RevokeFailedError
from nhictl.models import SourceRecord
from nhictl.revoke.execute import execute
from nhictl.revoke.plan import RevokeStep, build_plan
from nhictl.revoke.record import SLACK_REVOKED, STARTED, interrupted_attempts
from nhictl.secret import Secret
from nhictl.slack.client import RevokeResult
from nhictl.store import repo
from nhictl.store.engine import Inventory
from tests.checks.store_helpers import add_binding, binding, make_inventory
from tests.revoke.test_revoke import NOW, FakeClient, FakeSource, PlainSource, fake_token


class Killed(BaseException):
    """What kill -9 looks like to the code under test: nothing after it runs."""


class SlackThenDie(FakeClient):
    """Slack revokes the token, then the process dies before reading the answer."""

    def revoke(self, token: Secret, test: bool = False, *,
               workspace_hint: str | None = None) -> RevokeResult:
        super().revoke(token, test, workspace_hint=workspace_hint)
        raise Killed


class RevokedAtSlack(FakeClient):
    """Slack after the token was revoked: every further call says token_revoked."""

    def revoke(self, token: Secret, test: bool = False, *,
               workspace_hint: str | None = None) -> RevokeResult:
        self.calls.append((token.reveal(), test))
        return RevokeResult("dead", "token_revoked")


class DieOnRemove(FakeSource):
    """The broker deletes the connection, then the process dies before the record."""

    def remove(self, record: SourceRecord) -> None:
        self.records = [r for r in self.records if r.connection_id != record.connection_id]
        raise Killed


@pytest.fixture
def inv(tmp_path: Path) -> Inventory:
    return make_inventory(tmp_path)


def _plan(inv: Inventory, bid: str, kinds: dict[str, str]) -> list[RevokeStep]:
    """What the CLI plans: the binding as it is now, with any interrupted attempt."""
    with inv.engine.connect() as conn:
        row = repo.get_binding(conn, bid)
        attempts = interrupted_attempts(conn, [bid])
    assert row is not None
    return build_plan([(row, "offboarded")], kinds, attempts=attempts)


def _types(inv: Inventory, bid: str) -> list[str]:
    with inv.engine.connect() as conn:
        return [e["type"] for e in repo.iter_events(conn, binding_id=bid)]


def test_kill_after_slack_call_is_visible_and_resumed(inv: Inventory) -> None:
    add_binding(inv, "b-00000000d1", source="export", connection_id="c1")
    token = fake_token()
    export = PlainSource("export", [SourceRecord("c1", token=Secret(token))])
    with pytest.raises(Killed):
        execute(inv, _plan(inv, "b-00000000d1", {}), client=SlackThenDie(),
                open_source=lambda s: export, clock=lambda: NOW, actor="ops")
    # Visible: the attempt is journalled, the binding is not claimed revoked.
    assert _types(inv, "b-00000000d1") == ["revoke_planned", "revoke_started"]
    assert binding(inv, "b-00000000d1")["status"] == "active"
    with inv.engine.connect() as conn:
        attempt = interrupted_attempts(conn, ["b-00000000d1"])["b-00000000d1"]
    assert attempt.stage == STARTED and "interrupted while calling Slack" in attempt.describe()
    steps = _plan(inv, "b-00000000d1", {})
    assert steps[0].resume == STARTED and any("interrupted" in n for n in steps[0].notes)
    # Resumed: Slack now says the token is dead, so the record is written from Slack's word.
    client = RevokedAtSlack()
    report = execute(inv, steps, client=client, open_source=lambda s: export,
                     clock=lambda: NOW, actor="ops")
    assert [o.outcome for o in report.outcomes] == ["already_dead"]
    assert binding(inv, "b-00000000d1")["status"] == "revoked"
    assert _types(inv, "b-00000000d1")[-1] == "revoked"
    with inv.engine.connect() as conn:
        assert interrupted_attempts(conn, ["b-00000000d1"]) == {}
        runs = repo.latest_runs(conn, "revoke")
    assert sorted(r["outcome"] for r in runs) == ["interrupted", "ok"]


def test_kill_after_broker_removal_is_finished_from_the_journal(inv: Inventory) -> None:
    add_binding(inv, "b-00000000d2", source="pipes", connection_id="c2")
    token = fake_token()
    pipes = DieOnRemove("pipes", [SourceRecord("c2", token=Secret(token))])
    with pytest.raises(Killed):
        execute(inv, _plan(inv, "b-00000000d2", {"pipes": "nango"}), client=FakeClient(),
                open_source=lambda s: pipes, clock=lambda: NOW, actor="ops")
    assert _types(inv, "b-00000000d2")[-1] == "revoked_at_slack"
    steps = _plan(inv, "b-00000000d2", {"pipes": "nango"})
    assert steps[0].resume == SLACK_REVOKED
    client = FakeClient()
    report = execute(inv, steps, client=client, open_source=lambda s: pipes,
                     clock=lambda: NOW, actor="ops")
    # The broker no longer holds it, but the journal holds Slack's confirmation.
    assert [o.outcome for o in report.outcomes] == ["revoked"] and client.calls == []
    assert report.outcomes[0].slack == "revoked (earlier attempt)"
    assert binding(inv, "b-00000000d2")["status"] == "revoked"


def test_retry_after_broker_failure_finishes_when_the_connection_is_gone(
        inv: Inventory) -> None:
    add_binding(inv, "b-00000000d3", source="pipes", connection_id="c3")
    token = fake_token()
    pipes = FakeSource("pipes", [SourceRecord("c3", token=Secret(token))], fail_remove=True)
    first = execute(inv, _plan(inv, "b-00000000d3", {"pipes": "nango"}), client=FakeClient(),
                    open_source=lambda s: pipes, clock=lambda: NOW, actor="ops")
    assert [(o.outcome, o.slack, o.broker) for o in first.outcomes] == [
        ("failed", "revoked", "failed")]
    pipes.records = []  # the broker's delete went through after all (or someone deleted it)
    steps = _plan(inv, "b-00000000d3", {"pipes": "nango"})
    assert steps[0].resume == SLACK_REVOKED and "then failed" in steps[0].notes[-1]
    client = FakeClient()
    again = execute(inv, steps, client=client, open_source=lambda s: pipes,
                    clock=lambda: NOW, actor="ops")
    assert [(o.outcome, o.broker) for o in again.outcomes] == [("revoked", "gone")]
    assert client.calls == [] and binding(inv, "b-00000000d3")["status"] == "revoked"


def test_failed_write_after_slack_revoked_says_slack_revoked(inv: Inventory) -> None:
    add_binding(inv, "b-00000000e1", source="export", connection_id="c1")
    token = fake_token()
    export = PlainSource("export", [SourceRecord("c1", token=Secret(token))])
    with inv.engine.begin() as conn:  # the disk "fills up" exactly at the final record
        conn.execute(text("CREATE TRIGGER full_disk BEFORE UPDATE OF status ON bindings "
                          "WHEN NEW.status = 'revoked' BEGIN SELECT RAISE(ABORT, "
                          "'database or disk is full'); END"))
    client = FakeClient()
    with pytest.raises(RevokeFailedError) as info:
        execute(inv, _plan(inv, "b-00000000e1", {}), client=client,
                open_source=lambda s: export, clock=lambda: NOW, actor="ops")
    message = info.value.message
    assert info.value.exit_code == 5
    assert "Slack revoked: b-00000000e1" in message and "disk is full" in message
    assert "run the same revoke again" in (info.value.hint or "")
    assert token not in message
    assert client.calls == [(token, False)]
    assert binding(inv, "b-00000000e1")["status"] == "active"
    assert _types(inv, "b-00000000e1")[-1] == "revoked_at_slack"
    with inv.engine.begin() as conn:
        conn.execute(text("DROP TRIGGER full_disk"))
    report = execute(inv, _plan(inv, "b-00000000e1", {}), client=RevokedAtSlack(),
                     open_source=lambda s: export, clock=lambda: NOW, actor="ops")
    assert [o.outcome for o in report.outcomes] == ["already_dead"]
    assert binding(inv, "b-00000000e1")["status"] == "revoked"


def test_supplied_token_and_mark_removed(inv: Inventory) -> None:
    add_binding(inv, "b-00000000f1", source="export", connection_id="gone1")
    add_binding(inv, "b-00000000f2", source="export", connection_id="gone2")
    export = PlainSource("export", [])
    token = fake_token()
    client = FakeClient()
    steps = _plan(inv, "b-00000000f1", {})
    report = execute(inv, steps, client=client, open_source=lambda s: export,
                     clock=lambda: NOW, actor="ops", supplied={"b-00000000f1": Secret(token)})
    assert [(o.outcome, o.slack, o.broker) for o in report.outcomes] == [
        ("revoked", "revoked", "not applicable")]
    assert client.calls == [(token, False)]
    with inv.engine.connect() as conn:
        row = repo.get_binding(conn, "b-00000000f2")
    assert row is not None
    marked = build_plan([(row, "offboarded")], {}, mark_removed=True)
    assert "Slack was NOT told" in marked[0].as_row()["will_call"]
    client.calls.clear()
    report = execute(inv, marked, client=client, open_source=lambda s: export,
                     clock=lambda: NOW, actor="ops")
    assert [o.outcome for o in report.outcomes] == ["marked_removed"] and client.calls == []
    b = binding(inv, "b-00000000f2")
    assert b["status"] == "removed" and b["revoked_at"] is None
    assert "Slack was not told" in b["status_reason"]
    assert _types(inv, "b-00000000f2")[-1] == "marked_removed"


def test_evidence_separates_what_slack_confirmed(inv: Inventory) -> None:
    from nhictl.evidence import build_evidence, evidence_markdown

    for bid in ("b-00000000g1", "b-00000000g2", "b-00000000g3"):
        add_binding(inv, bid)
    stamp = "2026-11-29T12:00:00Z"

    def ev(bid: str, kind: str, **details: str) -> dict[str, object]:
        return repo.event_row(at=stamp, run_id=None, binding_id=bid, type=kind, actor="ops",
                              details=details)

    with inv.engine.begin() as conn:
        conn.execute(text("UPDATE bindings SET status = 'revoked' WHERE id IN "
                          "('b-00000000g1', 'b-00000000g2')"))
        repo.append_events(conn, [
            ev("b-00000000g1", "revoked", outcome="revoked", slack="revoked"),
            # what older versions recorded when the source no longer held the token
            ev("b-00000000g2", "revoked", outcome="gone"),
            ev("b-00000000g3", "revoke_started"),
        ])
        got = build_evidence(conn, since="2026-11-01T00:00:00Z", generated_at=stamp)
    assert [r["binding_id"] for r in got["revoked"]] == ["b-00000000g1"]
    assert [r["binding_id"] for r in got["not_revoked_at_slack"]] == ["b-00000000g2"]
    assert "without a Slack call" in got["not_revoked_at_slack"][0]["why"]
    why = {r["binding_id"]: r["why"] for r in got["open"]}
    assert why["b-00000000g3"].startswith("revoke attempt interrupted")
    assert "b-00000000g1" not in why
    assert "not revoked at Slack (recorded without Slack confirming it): 1" in (
        evidence_markdown(got))
