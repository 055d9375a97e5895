"""The review packet as HTML: rows that need action first, grouped by owner.

Builds on html.py (same escaping, summary cards and charts). Per owner: a heading with a
summary, then a table whose rows run revoke, reduce, investigate, keep (most severe first).
Owners are ordered by the most urgent action among their bindings. A filter box hides the
rows that do not contain what is typed; headers repeat on every printed page; identifiers
(binding ids, scopes, rule ids) never break in the middle; the page fits 1280 px.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, TextIO

from nhictl.exporters.html import COLORS, CSS, _e, _summary

ACTION_ORDER = ("revoke", "reduce", "investigate", "keep")
_RANK = {a: i for i, a in enumerate(ACTION_ORDER)}
_SEVERITY = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4, "": 5}

PACKET_CSS = """
table.rows { table-layout: fixed; width: 100%; }
table.rows td { overflow-wrap: normal; word-break: keep-all; }
.id { display: inline-block; max-width: 100%; } .nw { white-space: nowrap; }
.finding { display: block; } .mark, .sub { color: var(--muted); font-size: 11px; }
.sub { margin-top: 2px; }
section.owner { margin-top: 18px; }
section.owner h3 { font-size: 14px; margin: 0 0 4px; }
section.owner h3 .meta { font-weight: 400; margin-left: 6px; }
.filter { margin: 8px 0 4px; } .filter input { font: inherit; padding: 4px 8px; width: 24em;
  border: 1px solid #9aa5b1; border-radius: 4px; }
.filter output { color: var(--muted); margin-left: 8px; }
[hidden] { display: none !important; }
@media print { section.owner h3 { break-after: avoid; } .filter { display: none; }
  table.rows { table-layout: auto; } }
"""

SORT_SCRIPT = """
(function () {
  var root = document.documentElement;
  window.addEventListener('error', function (e) {
    root.setAttribute('data-js-error', String(e.message || e));
  });
  Array.prototype.forEach.call(document.querySelectorAll('table.rows'), function (table) {
    var heads = table.tHead.rows[0].cells;
    var key = function (cell) {
      var t = cell.textContent.trim().toLowerCase();
      return t;
    };
    Array.prototype.forEach.call(heads, function (th, index) {
      th.querySelector('button').addEventListener('click', function () {
        var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
        Array.prototype.forEach.call(heads, function (h) { h.removeAttribute('aria-sort'); });
        th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = key(a.cells[index]), y = key(b.cells[index]);
          return x < y ? -dir : (x > y ? dir : 0);
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  root.setAttribute('data-ready', '1');
})();
"""

FILTER_SCRIPT = """
(function () {
  var box = document.getElementById('filter');
  var count = document.getElementById('shown');
  if (!box) { return; }
  var rows = Array.prototype.slice.call(document.querySelectorAll('table.rows tbody tr'));
  var sections = Array.prototype.slice.call(document.querySelectorAll('section.owner'));
  var apply = function () {
    var q = box.value.trim().toLowerCase(), shown = 0;
    rows.forEach(function (r) {
      var hit = q === '' || r.textContent.toLowerCase().indexOf(q) !== -1;
      r.hidden = !hit; if (hit) { shown++; }
    });
    sections.forEach(function (s) {
      s.hidden = s.querySelectorAll('tbody tr:not([hidden])').length === 0
        && s.textContent.toLowerCase().indexOf(q) === -1;
    });
    count.textContent = shown + ' of ' + rows.length + ' rows';
  };
  box.addEventListener('input', apply);
  apply();
  // For the layout test: how far the page is wider than the window (0: no scrollbar).
  var el = document.documentElement;
  el.setAttribute('data-overflow-x', String(Math.max(0, el.scrollWidth - el.clientWidth)));
})();
"""


def action_rank(row: dict[str, Any]) -> tuple[int, int, str]:
    return (_RANK.get(str(row.get("recommended_action")), len(ACTION_ORDER)),
            _SEVERITY.get(str(row.get("max_severity") or ""), 5), str(row.get("binding_id")))


def owner_label(row: dict[str, Any]) -> str:
    return str(row.get("owner_email") or row.get("owner_id") or "")


def owner_groups(rows: Sequence[dict[str, Any]]) -> list[tuple[str, list[dict[str, Any]]]]:
    """(owner, rows) with each group's rows by action; groups by their most urgent row."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(owner_label(row), []).append(row)
    ordered = [(owner, sorted(items, key=action_rank)) for owner, items in groups.items()]
    ordered.sort(key=lambda g: (action_rank(g[1][0])[:2], g[0] == "", g[0].lower()))
    return ordered


def group_summary(rows: Sequence[dict[str, Any]]) -> str:
    counts = [(a, sum(1 for r in rows if r.get("recommended_action") == a))
              for a in ACTION_ORDER]
    tenants = sorted({str(r.get("tenant")) for r in rows if r.get("tenant")})
    parts = ", ".join(f"{a} {n}" for a, n in counts if n)
    where = f" · tenant {', '.join(tenants)}" if tenants else ""
    return f"{len(rows)} binding(s): {parts}{where}"


def _ident(value: Any) -> str:
    """An identifier kept whole: an atomic box on its line, which may wrap inside only
    when it alone is wider than its column, and then only after ``:``, ``.`` or ``_``."""
    chunks = re.findall(r"[^:._]+[:._]*|[:._]+", str(value)) or [""]
    inner = "<wbr>".join(f'<span class="nw">{_e(c)}</span>' for c in chunks)
    return f'<span class="id mono">{inner}</span>'


def _idents(value: Any) -> str:
    items = value if isinstance(value, list | tuple) else ([value] if value else [])
    return " ".join(_ident(v) for v in items)


def _badge(text: Any) -> str:
    if not text:
        return ""
    color = COLORS.get(str(text), "#607d8b")
    return f'<span class="badge" style="background:{color}">{_e(text)}</span>'


def _marked(value: Any) -> str:
    """Findings: ``rule (accepted)`` shows the rule whole and the mark as a note."""
    out = []
    for item in value or []:
        rule, _, mark = str(item).partition(" (")
        note = f' <span class="mark">({_e(mark)}</span>' if mark else ""
        out.append(f'<span class="finding">{_ident(rule)}{note}</span>')
    return " ".join(out)


def _date(value: Any) -> str:
    text = _e(str(value).replace("T", " ")[:16]) if value else "never"
    return f'<span class="nw">{text}</span>'


_BINDING_ID = re.compile(r"\bb-[0-9a-f]{10}\b")


def _prose(value: Any) -> str:
    """Escaped text in which binding ids stay whole."""
    return _BINDING_ID.sub(lambda m: f'<span class="nw">{m.group(0)}</span>', _e(value or ""))


def _slack(row: dict[str, Any]) -> str:
    """Slack's own record of the grant (issue 14), under the reason."""
    text = row.get("slack_evidence")
    return f'<div class="sub">Slack: {_prose(text)}</div>' if text else ""


# (header, css class, width in px or None for the rest, cell body)
LAYOUT: list[tuple[str, str, int | None, Callable[[dict[str, Any]], str]]] = [
    ("Binding", "p-binding", 100, lambda r: f'<span class="id mono">{_e(r.get("binding_id"))}'
     f'</span><div class="sub">{_e(r.get("token_kind") or "")} token</div>'),
    ("Workspace", "p-workspace", 90, lambda r: f'{_e(r.get("workspace") or "")}'
     f'<div class="sub">{_e(r.get("tenant") or "")}</div>'),
    ("Purpose", "p-purpose", 126, lambda r: _idents(r.get("purpose"))),
    ("Status", "p-status", 120, lambda r: f'{_badge(r.get("status"))}<div class="sub">'
     f'validated {_date(r.get("last_validated_at"))}</div>'),
    ("Granted scopes", "p-granted", 125, lambda r: _idents(r.get("granted_scopes"))),
    ("Excess scopes", "p-excess", 115, lambda r: _idents(r.get("excess_scopes"))),
    ("Findings", "p-findings", 185, lambda r: _marked(r.get("findings_marked")
                                                   or r.get("findings"))),
    ("Recommended", "p-action", 112, lambda r: f'{_badge(r.get("recommended_action"))}'
     f'<div class="sub">{_badge(r.get("max_severity"))}</div>'),
    ("Why", "p-why", None, lambda r: _prose(r.get("action_reason")) + _slack(r)),
]


class PacketHtmlExporter:
    def __init__(self, instructions: Sequence[str]) -> None:
        self.instructions = list(instructions)

    def write(self, rows: Sequence[dict[str, Any]], summary: dict[str, Any],
              generated_at: str, out: TextIO, title: str = "Access review") -> None:
        out.write('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
                  '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                  "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
                  '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                  f"<title>{_e(title)}</title>\n<style>{CSS}{PACKET_CSS}</style></head>\n"
                  "<body>\n")
        out.write(f"<header><h1>{_e(title)}</h1><p class=\"meta\">Generated "
                  f"{_e(generated_at)} by nhictl · {len(rows)} binding(s); rows that need "
                  "action first (revoke, reduce, investigate, then keep), grouped by owner"
                  "</p></header>\n")
        out.write(_summary(summary) + "\n")
        if self.instructions:
            out.write('<section aria-label="instructions"><h2>How to review</h2>'
                      '<ol class="howto">')
            out.write("".join(f"<li>{_e(line)}</li>" for line in self.instructions))
            out.write("</ol></section>\n")
        out.write('<section aria-label="rows"><h2>Bindings by owner</h2>\n')
        if not rows:
            out.write('<p class="empty">No bindings.</p>')
        else:
            out.write('<p class="filter"><label for="filter">Filter rows </label>'
                      '<input type="search" id="filter" placeholder="owner, binding, scope, '
                      'rule, status…" autocomplete="off"><output id="shown"></output></p>\n')
        cols = "".join(f'<col style="width:{w}px">' if w else "<col>"
                       for _, _, w, _ in LAYOUT)
        head = "".join(f'<th scope="col" class="{css}"><button type="button">'
                       f"{_e(header)}</button></th>" for header, css, _, _ in LAYOUT)
        for i, (owner, items) in enumerate(owner_groups(rows)):
            name = owner or "(no recorded owner)"
            out.write(f'<section class="owner" aria-label="owner {_e(name)}">'
                      f'<h3>Owner {_e(name)}<span class="meta">{_e(group_summary(items))}'
                      "</span></h3>\n")
            out.write(f'<table class="rows" id="rows-{i}"><colgroup>{cols}</colgroup>'
                      f"<thead><tr>{head}</tr></thead>\n<tbody>\n")
            for row in items:
                out.write("<tr>" + "".join(f'<td class="{css}">{body(row)}</td>'
                                           for _, css, _, body in LAYOUT) + "</tr>\n")
            out.write("</tbody></table></section>\n")
        out.write(f"</section>\n<script>{SORT_SCRIPT}{FILTER_SCRIPT}</script>\n</body></html>\n")
