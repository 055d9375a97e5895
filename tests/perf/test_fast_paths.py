"""The fast paths of parsing and scanning find exactly what the per-field checks find."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhictl.errors import InputFileError
from nhictl.sources.export_file import ExportFileSource
from nhictl.sources.export_secrets import any_secret_shape, secret_shape

# One sample of every shape, in upper, lower and mixed case, and look-alikes that are not.
SHAPED = [
    "xoxp-1-2-3", "XOXB-9", "xapp-1-A", "Bearer abcdefghijklmnop", "BASIC QWxhZGRpbjpvcGVu",
    "eyJhbGciOiJIUzI1.eyJzdWIiOiIxMjM0", "-----BEGIN RSA PRIVATE KEY-----",
    "https://HOOKS.slack.com/services/T0/B0/x", "sk_live_abcdefgh1", "rk_test_ABCDEFGH2",
    "ghp_abcdefghijklmnopqrstu", "AKIAABCDEFGHIJKLMNOP", "see xoxe.xoxp-1-x here",
    "baſic abcdefghijklmnop",  # a long s: the regex folds it to s; the fast path must too
]
PLAIN = ["bearer", "basic plan", "ghost_town", "eyJ", "sk_", "AKIA123", "notifications",
         "skill_live", "xo-xo", "hooks.slack.org/services/", "højde", "x\x00ox-"]


@pytest.mark.parametrize("text", SHAPED + PLAIN)
def test_one_search_over_joined_fields_agrees_with_the_per_field_scan(text: str) -> None:
    fields = ["acme", text, "chat:write"]
    assert any_secret_shape(fields) == any(secret_shape(f) for f in fields)
    assert any_secret_shape([text]) == (secret_shape(text) is not None)


_PIECES = [*"xoapbeariscskhgAKIJY_-.:/ 0123456789Kſ\x00é", "xox", "xapp", "Bearer ", "eyJ",
           "sk_live_", "ghp_", "AKIA"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(st.sampled_from(_PIECES), max_size=30).map("".join), max_size=4))
def test_joined_search_equals_per_field_search_on_generated_texts(fields: list[str]) -> None:
    assert any_secret_shape(fields) == any(secret_shape(f) for f in fields)


def _source(tmp_path: Path, records: list[dict[str, object]]) -> ExportFileSource:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    path.chmod(0o600)
    return ExportFileSource("x", path)


@pytest.mark.parametrize(("field", "value", "problem"), [
    ("owner_name", "Bearer abcdefghijklmnopqrstuvwxyz", "an HTTP credential"),
    ("tenant", "xoxb-1-abc", "a Slack token"),
    ("owner_email", "ok@example.com", None),
    ("owner_name", "\ud800", "invalid Unicode"),
    ("owner_name", "x" * 70_000, "longer than"),
    ("created_at", "2026-13-01T00:00:00Z", "is not ISO 8601"),
    ("created_at", "2026-02-01T00:00:00Z", None),
    ("expires_at", "2026-02-01T01:00:00+01:00", None),
])
def test_records_on_the_fast_path_are_refused_as_before(
        tmp_path: Path, field: str, value: str, problem: str | None) -> None:
    record = {"id": "c1", "team_id": "T1", "scopes": ["chat:write"], field: value}
    source = _source(tmp_path, [record])
    if problem is None:
        (got,) = source.read_all()
        if field == "expires_at":
            assert got.token_expires_at == "2026-02-01T00:00:00Z"
        return
    with pytest.raises(InputFileError) as caught:
        source.read_all()
    assert problem in caught.value.message and "record 0" in caught.value.message


def test_json_rows_are_written_one_line_each_by_the_c_encoder() -> None:
    import io

    from nhictl.exporters import Column, Document, Format, exporter_for

    def rows() -> Any:  # a generator: never all held
        for i in range(3):
            yield {"id": f"b-{i}", "note": "caf\u00e9\x1b[31m", "n": i, "scopes": ["a", "b"],
                   "leak": "token=xoxp-1-2-3" if i == 1 else None}

    out = io.StringIO()
    exporter_for(Format.JSON).write(
        Document("bindings", [Column("id", "ID")], rows(), "2026-01-01T00:00:00Z"), out)
    text = out.getvalue()
    assert text.isascii() and "\x1b" not in text
    doc = json.loads(text)
    assert [r["id"] for r in doc["bindings"]] == ["b-0", "b-1", "b-2"]
    assert "xoxp-1-2-3" not in text
    lines = text.splitlines()
    first = lines.index('  "bindings": [') + 1
    assert lines[first] == "    " + json.dumps(doc["bindings"][0]) + ","
    assert lines[first + 3] == "  ]" and lines[-1] == "}"


def test_one_suspect_row_in_a_batch_is_still_masked_when_stored(tmp_path: Path) -> None:
    from nhictl.store.engine import open_inventory
    from nhictl.store.repo import append_events, event_row, iter_events
    from nhictl.untrusted import suspect_rows

    plain = [("a", 1, None, "chat:write")] * 500
    assert not suspect_rows(plain)
    assert suspect_rows([*plain, ("x", "see xoxb-1-2-3")])
    inv, _ = open_inventory(str(tmp_path / "inv.db"), create=True)
    try:
        rows = [event_row(at="2026-01-01T00:00:00Z", run_id=None, binding_id=f"b-{i}",
                          type="changed", actor="t",
                          details={"note": "leak xoxp-1-2-3" if i == 377 else "plain"})
                for i in range(1000)]
        with inv.engine.begin() as conn:
            append_events(conn, rows)
        with inv.engine.connect() as conn:
            stored = list(iter_events(conn))
        assert len(stored) == 1000 and "xoxp-1-2-3" not in json.dumps(stored)
        assert stored[377]["details"]["note"].startswith("leak xox")
    finally:
        inv.dispose()


@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_one_suspect_row_among_many_is_masked_in_json_and_csv(fmt: str) -> None:
    import io

    from nhictl.exporters import Column, Document, Format, exporter_for

    def rows() -> Any:
        for i in range(1200):
            note = "plain"
            if i == 777:
                note = "Bearer abcdefghijklmnopqrstuvwxyz0123"
            if i == 1100:
                note = "red\x1b[31malert"
            yield {"id": f"b-{i}", "note": note}

    out = io.StringIO()
    exporter_for(Format(fmt)).write(
        Document("bindings", [Column("id", "ID"), Column("note", "NOTE")], rows(),
                 "2026-01-01T00:00:00Z"), out)
    text = out.getvalue()
    assert "abcdefghijklmnopqrstuvwxyz0123" not in text and "\x1b" not in text
    assert text.count("b-") == 1200 and "Bearer ***" in text
