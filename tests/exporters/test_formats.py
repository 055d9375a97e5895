"""Exporters: one Document, four formats."""

from __future__ import annotations

import csv
import io
import json
from typing import Any

import pytest

from nhictl.exporters import Column, Document, Format, exporter_for
from nhictl.exporters.base import cell_text
from nhictl.exporters.formats import PlainTableExporter, clip, fit_widths, neutralise

COLUMNS = [Column("id", "ID", 12), Column("owner", "OWNER", 24), Column("scopes", "SCOPES", 28),
           Column("note", "NOTE")]


def rows() -> list[dict[str, Any]]:
    return [
        {"id": "b-0000000001", "owner": "grace@acme.example", "scopes": ["chat:write"],
         "note": "=HYPERLINK(\"http://evil\")", "extra": {"k": 1}},
        {"id": "b-0000000002", "owner": "a|b", "scopes": ["x", "y"], "note": "line1\nline2"},
        {"id": "b-0000000003", "owner": None, "scopes": [], "note": "@SUM(A1)", "flag": True},
    ]


def render(fmt: Format, doc: Document) -> str:
    buf = io.StringIO(newline="")
    exporter_for(fmt).write(doc, buf)
    return buf.getvalue()


def doc(data: list[dict[str, Any]] | None = None, **kw: Any) -> Document:
    return Document("bindings", COLUMNS, rows() if data is None else data,
                    "2026-11-29T12:00:00Z", **kw)


def test_json_carries_whole_rows_with_the_envelope() -> None:
    out = json.loads(render(Format.JSON, doc(extra={"summary": {"n": 3}})))
    assert out["schema_version"] == 1 and out["generated_at"] == "2026-11-29T12:00:00Z"
    assert out["bindings"][0]["extra"] == {"k": 1}  # whole rows, not just the columns
    assert out["summary"] == {"n": 3}
    shaped = json.loads(render(Format.JSON, doc(json_row=lambda r: {"id": r["id"]})))
    assert shaped["bindings"] == [{"id": "b-0000000001"}, {"id": "b-0000000002"},
                                  {"id": "b-0000000003"}]
    assert json.loads(render(Format.JSON, doc([])))["bindings"] == []


def test_csv_is_rfc4180_and_spreadsheet_safe() -> None:
    text = render(Format.CSV, doc())
    assert text.startswith("id,owner,scopes,note\r\n")
    parsed = list(csv.reader(io.StringIO(text, newline="")))
    assert parsed[1] == ["b-0000000001", "grace@acme.example", "chat:write",
                         "'=HYPERLINK(\"http://evil\")"]
    assert parsed[2][3] == "line1\nline2" and parsed[2][2] == "x y"
    assert parsed[3][1] == "" and parsed[3][3] == "'@SUM(A1)"
    assert render(Format.CSV, doc([])) == "id,owner,scopes,note\r\n"


@pytest.mark.parametrize("cell", ["=1+1", "+1", "-1", "@x", "\tx", "\rx"])
def test_neutralise_formula_starters(cell: str) -> None:
    assert neutralise(cell) == "'" + cell
    assert neutralise("plain") == "plain" and neutralise("") == ""


def test_markdown_escapes_pipes_and_newlines() -> None:
    text = render(Format.MARKDOWN, doc(title="Bindings"))
    lines = text.splitlines()
    assert lines[0] == "# Bindings"
    table = [ln for ln in lines if ln.startswith("|")]
    assert len(table) == 2 + 3
    assert "a\\|b" in text and "line1 line2" in text
    assert all(ln.count("|") - ln.count("\\|") == len(COLUMNS) + 1 for ln in table)
    assert "_No rows._" in render(Format.MARKDOWN, doc([]))


@pytest.mark.parametrize("width", [60, 80, 100, 140])
def test_plain_table_fits_the_width(width: int) -> None:
    wide = [{"id": f"b-{i:010d}", "owner": "someone.with.a.long.name@example.com" * 2,
             "scopes": ["channels:read", "chat:write", "users:read.email"] * 3,
             "note": "n" * 300} for i in range(5)]
    buf = io.StringIO()
    PlainTableExporter(width=width).write(doc(wide), buf)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 2 + 5
    assert max(len(ln) for ln in lines) <= width
    assert lines[2].startswith("b-0000000000")  # narrow id kept whole
    assert "…" in lines[2]
    assert "\x1b" not in buf.getvalue()


def test_plain_table_small_and_empty() -> None:
    buf = io.StringIO()
    PlainTableExporter(width=100).write(doc(), buf)
    lines = buf.getvalue().splitlines()
    assert lines[0].split() == ["ID", "OWNER", "SCOPES", "NOTE"]
    assert set(lines[1].replace(" ", "")) == {"-"}
    assert "line1 line2" in buf.getvalue()  # no row ever spans two lines
    empty = io.StringIO()
    PlainTableExporter(width=100).write(doc([]), empty)
    assert empty.getvalue() == "no bindings\n"


def test_fit_widths_and_clip() -> None:
    assert fit_widths(["A", "B"], [["aaaa", "bb"]], [None, None], 100) == [4, 2]
    assert fit_widths(["A", "B"], [["a" * 50, "b" * 50]], [10, None], 40) == [10, 28]
    assert clip("abcdef", 4) == "abc…" and clip("abc", 4) == "abc" and clip("a\nb", 5) == "a b"


def test_cell_text() -> None:
    assert cell_text(None) == "" and cell_text(True) == "yes" and cell_text(False) == "no"
    assert cell_text(["a", "b"]) == "a b" and cell_text({"a": 1, "b": [2]}) == "a=1; b=2"
    assert cell_text(3) == "3"

