"""Hostile strings through every output format come out inert (issue 11, classes 7 and 8).

Strings an app user controls (owner names, tenants, workspace and channel names, scopes,
status reasons, event details) are stored through the inventory's write seam, then every
command that shows them runs through the real CLI: tables (plain and rich), JSON, CSV,
Markdown, HTML and the review packet. Whatever the string, the output holds no control
character, escape sequence, bidi override or invisible character; Markdown and HTML carry
no markup, link or entity from the data; CSV cells start with no formula trigger; no token
byte appears; a look-alike scope is a ``scope_lookalike`` finding shown escaped.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import re
import secrets
import sqlite3
import unicodedata
from collections.abc import Iterator
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from nhictl.cli.columns import BINDING_TABLE, binding_view
from nhictl.exporters.base import Document
from nhictl.exporters.formats import FORMULA_PREFIXES
from nhictl.store import repo
from tests.checks.store_helpers import add_binding, make_inventory
from tests.props_helpers import SETTINGS, cli

TOKEN = "xoxp-FAKE-" + secrets.token_hex(12)
ACTIVE = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")
OSC8 = "\x1b]8;;https://evil.example/\x1b\\click me\x1b]8;;\x1b\\"
PAYLOADS = [
    "\x1b[2J\x1b[Hscreen cleared", OSC8, "\x9b31mred", "\x07bell\x08\x08", "line\roverwrite",
    "admin\u202egnp.exe", "\u2066isolated\u2069", "zero\u200bwidth\ufeff", "a\u2028b",
    "<script>alert(1)</script>", "<img src=x onerror=alert(1)>", "[click](https://evil)",
    "![img](https://evil/x.png)", "&#x202e;&lt;b&gt;", "`code` | pipe *em* _u_",
    '=HYPERLINK("https://evil","x")', "+cmd|' /C calc'!A0", "-2+3", "@SUM(1)", "\t=1",
    "\n=1", f"Bearer {TOKEN}", TOKEN,
]
LOOKALIKES = ["chat:wr\u0456te", "ch\u0430t:write", "chat:write\u200b", "channels:read,admin",
              "ADMIN", "chat\uff1awrite", "users:re\u0251d"]
HOSTILE = st.one_of(
    st.sampled_from(PAYLOADS),
    st.text(st.characters(codec="utf-8"), max_size=30),
    st.lists(st.sampled_from([*PAYLOADS, "x", " ", "é", "山"]), min_size=1, max_size=4).map(
        "".join),
)
FIELDS = ("owner_email", "owner_name", "tenant", "workspace_name", "status_reason",
          "channel_id", "owner_id")
ALLOWED_TAGS = {"html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3",
                "p", "section", "div", "svg", "text", "rect", "ol", "li", "table", "thead",
                "tbody", "tr", "th", "td", "button", "span", "script",
                # the review packet's layout and filter box (packet_html.py)
                "colgroup", "col", "label", "input", "output", "wbr"}


def assert_inert(text: str, where: str, allowed: str = "\n") -> None:
    for ch in text:
        if ch not in allowed and unicodedata.category(ch) in ACTIVE:
            raise AssertionError(f"{where}: active character U+{ord(ch):04X} in output")
    assert TOKEN[10:] not in text and TOKEN[-12:] not in text, f"{where}: token bytes"


def assert_markdown_inert(text: str, where: str) -> None:
    assert_inert(text, where)
    prose = re.sub(r"`[^`\n]*`", "", text)  # code spans show their text literally
    for ch in "<[&":
        unescaped = re.findall(r"(?<!\\)" + re.escape(ch), prose)
        assert not unescaped, f"{where}: unescaped {ch!r} from data"
    assert "](" not in prose, where


class _Tags(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        self.attrs.extend(attrs)


def assert_html_inert(text: str, where: str) -> None:
    assert_inert(text, where)
    parser = _Tags()
    parser.feed(text)
    assert parser.tags <= ALLOWED_TAGS, f"{where}: tags from data {parser.tags - ALLOWED_TAGS}"
    assert text.count("<script>") == 1
    for name, _ in parser.attrs:
        assert not name.startswith("on") and name not in ("href", "src"), f"{where}: {name}"


def assert_csv_inert(text: str, where: str) -> None:
    assert_inert(text, where, allowed="\r\n\t")
    for row in csv.reader(io.StringIO(text, newline="")):
        for cell in row:
            assert "\r" not in cell, f"{where}: CR inside a cell"
            assert not cell.startswith(FORMULA_PREFIXES), f"{where}: formula cell {cell!r}"


def assert_json_inert(text: str, where: str) -> None:
    assert_inert(text, where)
    assert text.isascii(), f"{where}: JSON is not ASCII"
    json.loads(text)


class World:
    """One inventory reused across examples (bindings accumulate; every output covers all)."""

    def __init__(self, root: Path) -> None:
        self.db = root / "inv.db"
        make_inventory(root).dispose()
        self.n = 0

    def add(self, values: dict[str, str], scope: str) -> str:
        from nhictl.store import open_inventory

        self.n += 1
        bid = f"b-{self.n:010x}"
        inv, _ = open_inventory(str(self.db))
        try:
            add_binding(inv, bid, connection_id=f"c-{self.n}",
                        granted_scopes=["chat:write", scope], declared_scopes=[scope],
                        purpose=[values["tenant"]], **values)
            with inv.engine.begin() as conn:
                repo.append_events(conn, [repo.event_row(
                    at="2026-05-31T12:00:00Z", run_id=None, binding_id=bid, type="changed",
                    actor=values["owner_name"], details={"fields": {
                        "owner_name": [values["owner_email"], values["owner_name"]]},
                        "reason": values["status_reason"]})])
        finally:
            inv.dispose()
        db = sqlite3.connect(self.db)  # the write seam masked what any writer stored
        try:
            stored = [str(v) for table in ("bindings", "events")
                      for row in db.execute(f"SELECT * FROM {table}") for v in row]
        finally:
            db.close()
        assert not any(TOKEN[-12:] in v for v in stored), "token bytes in the inventory"
        return bid

    def run(self, *argv: str, ok: tuple[int, ...] = (0,)) -> str:
        code, out, err = cli("--db", str(self.db), *argv)
        assert code in ok, f"nhictl {' '.join(argv)}: exit {code}: {err}"
        assert "Traceback" not in err
        assert_inert(err, f"nhictl {' '.join(argv)} [stderr]")
        return out


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    saved = dict(os.environ)
    for var in [v for v in os.environ if v.startswith("NHICTL_")]:
        del os.environ[var]
    os.environ.update({"NHICTL_NOW": "2026-06-01T12:00:00Z", "NO_COLOR": "1",
                       "COLUMNS": "200"})
    try:
        yield World(tmp_path_factory.mktemp("inert"))
    finally:
        os.environ.clear()
        os.environ.update(saved)


@settings(SETTINGS, max_examples=12)
@given(values=st.fixed_dictionaries({f: HOSTILE for f in FIELDS}),
       scope=st.one_of(st.sampled_from(LOOKALIKES), HOSTILE))
@example(values=dict(zip(FIELDS, PAYLOADS, strict=False)), scope=LOOKALIKES[0])
@example(values={f: OSC8 for f in FIELDS}, scope="chat:write\u202e")
@example(values={f: p for f, p in zip(FIELDS, PAYLOADS[9:], strict=False)},
         scope=LOOKALIKES[3])
def test_every_output_format_is_inert(world: World, values: dict[str, str],
                                      scope: str) -> None:
    bid = world.add(values, scope)
    for fmt, checker in (("table", assert_inert), ("json", assert_json_inert),
                         ("csv", assert_csv_inert), ("markdown", assert_markdown_inert)):
        checker(world.run("inventory", "list", "-o", fmt), f"inventory list -o {fmt}")
        checker(world.run("events", "-o", fmt), f"events -o {fmt}")
        checker(world.run("check", "-o", fmt, ok=(0, 1)), f"check -o {fmt}")
    assert_inert(world.run("inventory", "show", bid), "inventory show")
    assert_json_inert(world.run("inventory", "show", bid, "-o", "json"), "inventory show json")
    for fmt, checker in (("csv", assert_csv_inert), ("json", assert_json_inert),
                         ("markdown", assert_markdown_inert), ("html", assert_html_inert)):
        checker(world.run("report", "access-review", "-o", fmt), f"access-review -o {fmt}")
    assert_markdown_inert(world.run("report", "evidence", "-o", "markdown"), "evidence md")
    assert_json_inert(world.run("report", "evidence", "-o", "json"), "evidence json")
    assert_inert(rich_table_text(world), "rich table")


def rich_table_text(world: World) -> str:
    """The terminal table (rich) as a terminal would receive it."""
    from nhictl.cli.render import rich_table
    from nhictl.store import open_inventory

    inv, _ = open_inventory(str(world.db))
    try:
        with inv.engine.connect() as c:
            rows = [binding_view(r) for r in repo.iter_bindings(c)]
    finally:
        inv.dispose()
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        rich_table(Document("bindings", BINDING_TABLE, rows, "now"), no_color=True)
    return out.getvalue()


@pytest.mark.parametrize("scope, imitates, severity", [
    ("chat:wr\u0456te", ["chat:write"], None),
    ("chat:write\u200b", ["chat:write"], None),
    ("channels:read,admin", ["admin", "channels:read"], "critical"),
    ("\u0430dmin", ["admin"], "critical"),
    ("ADMIN", ["admin"], "critical"),
])
def test_lookalike_scope_is_a_finding_shown_escaped(
    world: World, scope: str, imitates: list[str], severity: str | None
) -> None:
    from nhictl.catalog import load_catalog

    bid = world.add({f: "plain" for f in FIELDS}, scope)
    doc = json.loads(world.run("check", "--rule", "scope_lookalike", "-o", "json", ok=(0, 1)))
    found = [f for f in doc["findings"] if f["binding_id"] == bid]
    assert len(found) == 1, found
    finding: dict[str, Any] = found[0]
    assert finding["evidence"]["imitates"] == imitates
    catalog = load_catalog()
    worst = max((catalog.risk_of(s) for s in imitates), key=lambda r: r.rank if r else -1)
    assert finding["severity"] == (severity or (worst.value if worst else "high"))
    assert finding["evidence"]["scope"].isascii()
    assert finding["evidence"]["scope"] in finding["message"]
    table = world.run("check", "--rule", "scope_lookalike", ok=(0, 1))
    assert bid in table and finding["evidence"]["scope"][:8] in table
    assert_inert(table, "check table")
    listing = world.run("inventory", "list", "--tenant", "plain")
    if not scope.isascii():  # the scopes column shows a look-alike escaped
        assert finding["evidence"]["scope"] in listing and scope not in listing
