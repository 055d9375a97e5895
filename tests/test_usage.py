from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from nhictl.catalog import load_catalog
from nhictl.checks import select_rules
from nhictl.checks.runner import run_checks
from nhictl.errors import InputFileError
from nhictl.policy import Policy
from nhictl.store.tables import BINDINGS, EVENTS, USAGE
from nhictl.usage import inferred_scopes, ingest_usage
from tests.checks.helpers import NOW
from tests.checks.store_helpers import add_binding, binding, make_inventory


def jsonl(tmp_path: Path, lines: list[Any], name: str = "usage.jsonl") -> Path:
    p = tmp_path / name
    p.write_text("\n".join(x if isinstance(x, str) else json.dumps(x) for x in lines) + "\n",
                 encoding="utf-8")
    return p


def state(inv: Any) -> tuple[Any, ...]:
    with inv.engine.connect() as conn:
        bindings = conn.execute(select(BINDINGS).order_by(BINDINGS.c.id)).all()
        usage = conn.execute(select(USAGE).order_by(USAGE.c.key)).all()
        events = conn.execute(select(func.count()).select_from(EVENTS)).scalar()
    return [tuple(r) for r in bindings], [tuple(r) for r in usage], events


LINES = [
    {"time": "2026-05-10T10:00:00Z", "connection_id": "c-a1", "action": "token_requested"},
    {"time": "2026-05-10T10:00:01Z", "connection_id": "c-a1", "source": "export",
     "action": "message_posted", "channel_id": "C1"},
    {"time": "2026-05-01T09:00:00+02:00", "binding_id": "b-00000000a1",
     "action": "channel_selected", "channel_id": "G7"},
    {"time": "2026-05-11T00:00:00Z", "token_fingerprint": "hmac-sha256:00000000000000a2",
     "action": "custom_thing", "scopes": ["files:read"]},
    {"time": "2026-05-11T00:00:00Z", "connection_id": "ghost", "action": "message_posted"},
    "",
]


def test_ingest_sets_last_used_and_scopes_and_is_idempotent(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-00000000a1", connection_id="c-a1", last_used_at="2026-04-01T00:00:00Z")
    add_binding(inv, "b-00000000a2", connection_id="c-a2",
                token_fingerprint="hmac-sha256:00000000000000a2")
    path = jsonl(tmp_path, LINES)
    try:
        report = ingest_usage(inv, path, now=NOW, actor="t")
        assert (report.events, report.matched, report.inserted, report.unknown) == (5, 4, 4, 1)
        assert report.unknown_refs == ["connection_id=ghost"]
        a1 = binding(inv, "b-00000000a1")
        assert a1["last_used_at"] == "2026-05-10T10:00:01Z"
        assert json.loads(a1["used_scopes"]) == ["chat:write", "groups:read"]
        a2 = binding(inv, "b-00000000a2")
        assert json.loads(a2["used_scopes"]) == ["files:read"]
        before = state(inv)
        again = ingest_usage(inv, path, now=NOW, actor="t")
        assert (again.inserted, again.duplicates, again.bindings_updated) == (0, 4, 0)
        assert state(inv) == before
    finally:
        inv.dispose()


def test_older_evidence_never_lowers_last_used(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-00000000a1", connection_id="c-a1", last_used_at="2026-05-30T00:00:00Z")
    try:
        ingest_usage(inv, jsonl(tmp_path, LINES[:1]), now=NOW, actor="t")
        assert binding(inv, "b-00000000a1")["last_used_at"] == "2026-05-30T00:00:00Z"
    finally:
        inv.dispose()


@pytest.mark.parametrize(("bad", "needle"), [
    ("{not json", "not JSON"),
    ('["a"]', "JSON object"),
    ({"connection_id": "c-a1", "action": "x"}, "'time'"),
    ({"time": "yesterday", "connection_id": "c-a1", "action": "x"}, "ISO 8601"),
    ({"time": "2026-05-01", "action": "x"}, "connection_id"),
    ({"time": "2026-05-01", "connection_id": "c-a1"}, "'action'"),
    ({"time": "2026-05-01", "connection_id": "c-a1", "action": "x", "scopes": "chat:write"},
     "'scopes'"),
    ({"time": "2026-05-01", "connection_id": "c-a1", "action": "x", "access_token": "t"},
     "credential"),
])
def test_malformed_line_names_line_and_writes_nothing(
    tmp_path: Path, bad: Any, needle: str
) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-00000000a1", connection_id="c-a1")
    path = jsonl(tmp_path, [LINES[1], bad])
    try:
        before = state(inv)
        with pytest.raises(InputFileError) as err:
            ingest_usage(inv, path, now=NOW, actor="t")
        assert f"{path}:line 2" in str(err.value) and needle in str(err.value)
        assert err.value.exit_code == 3
        assert state(inv) == before
    finally:
        inv.dispose()


def test_ambiguous_connection_id_needs_source(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-00000000a1", connection_id="same", source="one")
    add_binding(inv, "b-00000000a2", connection_id="same", source="two")
    lines = [{"time": "2026-05-01", "connection_id": "same", "action": "message_posted"},
             {"time": "2026-05-01", "connection_id": "same", "source": "two",
              "action": "message_posted"}]
    try:
        report = ingest_usage(inv, jsonl(tmp_path, lines), now=NOW, actor="t")
        assert (report.matched, report.unknown) == (1, 1)
        assert binding(inv, "b-00000000a2")["last_used_at"] == "2026-05-01T00:00:00Z"
    finally:
        inv.dispose()


def test_usage_feeds_dormant_and_never_used_evidence(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    add_binding(inv, "b-00000000a1", connection_id="c-a1",
                granted_scopes=["chat:write", "channels:read"], created_at="2026-01-01T00:00:00Z")
    add_binding(inv, "b-00000000a2", connection_id="c-a2", created_at="2026-01-01T00:00:00Z")
    lines = [{"time": "2026-03-01T00:00:00Z", "connection_id": "c-a1",
              "action": "message_posted"}]
    try:
        rules = select_rules(["dormant_binding", "scope_exceeds_purpose"])
        before = run_checks(inv, Policy(), load_catalog(), now=NOW, actor="t", rules=rules)
        assert [f.rule_id for f in before.findings] == ["scope_exceeds_purpose"]
        ingest_usage(inv, jsonl(tmp_path, lines), now=NOW, actor="t")
        after = run_checks(inv, Policy(), load_catalog(), now=NOW, actor="t", rules=rules)
        dormant = sorted(f.binding_id or "" for f in after.findings
                         if f.rule_id == "dormant_binding")
        assert dormant == ["b-00000000a1", "b-00000000a2"]
        excess = next(f for f in after.findings if f.rule_id == "scope_exceeds_purpose")
        assert excess.evidence["granted_never_used"] == ["channels:read"]
    finally:
        inv.dispose()


def test_inferred_scopes() -> None:
    assert inferred_scopes("message_posted", "C1", False) == ("chat:write",)
    assert inferred_scopes("channel_selected", "C1", False) == ("channels:read",)
    assert inferred_scopes("channel_selected", "C1", True) == ("groups:read",)
    assert inferred_scopes("token_requested", None, False) == ()
    assert inferred_scopes("something_new", None, False) == ()


def test_future_usage_is_refused(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from nhictl.usage import parse_usage_file

    path = tmp_path / "usage.jsonl"
    path.write_text('{"time": "2030-01-01T00:00:00Z", "action": "x", "binding_id": "b-1"}\n')
    with pytest.raises(InputFileError, match="in the future"):
        parse_usage_file(path, datetime(2026, 11, 29, tzinfo=UTC))
