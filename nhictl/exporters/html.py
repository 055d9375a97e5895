"""One self-contained HTML file: summary cards, inline SVG charts, a sortable table.

No external scripts, fonts or images (a Content-Security-Policy forbids loading any); the
small sorting script is inline; print CSS makes it readable on paper (landscape, repeated
table header, no buttons). Optional ``doc.extra`` keys it understands: ``summary`` (the
review summary: ``statuses``, ``by_severity``, ``recommended_actions``,
``oldest_validation``, ``never_validated``, ``bindings``) and ``instructions`` (a list of
sentences for reviewers).
"""

from __future__ import annotations

from html import escape
from typing import Any, TextIO

from nhictl.exporters.base import Column, Document
from nhictl.untrusted import inert

COLORS = {
    "active": "#2e7d32", "unvalidated": "#f9a825", "expired": "#8e24aa",
    "needs_reconnect": "#c62828", "removed": "#757575", "revoked": "#424242",
    "critical": "#b71c1c", "high": "#e53935", "medium": "#fb8c00", "low": "#1e88e5",
    "info": "#90a4ae", "keep": "#2e7d32", "reduce": "#fb8c00", "revoke": "#c62828",
    "investigate": "#1e88e5",
}
SEVERITY_RANK = {"": 0, "info": 1, "low": 2, "medium": 3, "high": 4, "critical": 5}
BADGE_KEYS = frozenset({"status", "max_severity", "severity", "recommended_action", "outcome"})

CSS = """
:root { --ink:#1f2933; --muted:#616e7c; --line:#d9e2ec; --bg:#f5f7fa; }
* { box-sizing: border-box; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, Arial, sans-serif;
  color: var(--ink); margin: 0; padding: 24px 32px; background: #fff; }
h1 { font-size: 22px; margin: 0 0 4px; } h2 { font-size: 16px; margin: 24px 0 8px; }
.meta { color: var(--muted); margin: 0 0 16px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; }
.card { background: var(--bg); border: 1px solid var(--line); border-radius: 8px;
  padding: 12px 16px; min-width: 160px; }
.card .n { font-size: 26px; font-weight: 700; } .card .l { color: var(--muted); }
.charts { display: flex; flex-wrap: wrap; gap: 24px; margin-top: 16px; }
.chart { background: var(--bg); border: 1px solid var(--line); border-radius: 8px;
  padding: 8px 12px; }
.chart h3 { font-size: 13px; margin: 4px 0; color: var(--muted); font-weight: 600; }
ol.howto { margin: 0; padding-left: 20px; } ol.howto li { margin: 2px 0; }
table { border-collapse: collapse; width: 100%; font-size: 12px; }
th, td { border-bottom: 1px solid var(--line); padding: 5px 6px; text-align: left;
  vertical-align: top; }
td { overflow-wrap: break-word; }
.c-binding_id, .c-id, .c-status, .c-recommended_action, .c-max_severity { white-space: nowrap; }
.c-action_reason, .c-detail, .c-message { min-width: 15em; }
.c-owner_email, .c-owner { min-width: 12em; max-width: 16em; overflow-wrap: anywhere; }
.c-findings, .c-granted_scopes, .c-excess_scopes { max-width: 11em; }
.c-decision { min-width: 6em; }
th { background: var(--bg); position: sticky; top: 0; white-space: nowrap; }
th button { all: unset; cursor: pointer; font-weight: 600; }
th button:focus-visible { outline: 2px solid #1e88e5; }
th[aria-sort=ascending] button::after { content: " \\25B2"; font-size: 10px; }
th[aria-sort=descending] button::after { content: " \\25BC"; font-size: 10px; }
tbody tr:nth-child(even) { background: #fbfcfd; }
.badge { display: inline-block; padding: 1px 7px; border-radius: 10px; color: #fff;
  font-size: 11.5px; font-weight: 600; white-space: nowrap; }
.mono { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace;
  font-size: 11.5px; }
.empty { color: var(--muted); font-style: italic; }
@media print {
  @page { size: A4 landscape; margin: 10mm; }
  body { padding: 0; font-size: 10.5px; }
  th { position: static; } thead { display: table-header-group; }
  tr { break-inside: avoid; } .chart, .card { break-inside: avoid; }
  th button::after { content: "" !important; }
  .badge { color: #000 !important; background: none !important; border: 1px solid #000; }
  .noprint { display: none; }
}
"""

SCRIPT = """
(function () {
  var root = document.documentElement;
  window.addEventListener('error', function (e) {
    root.setAttribute('data-js-error', String(e.message || e));
  });
  var table = document.getElementById('rows');
  if (table && table.tHead) {
    var heads = table.tHead.rows[0].cells;
    var key = function (cell) {
      var k = cell.getAttribute('data-sort');
      return k !== null ? k : cell.textContent.trim().toLowerCase();
    };
    var sortBy = function (index) {
      var th = heads[index];
      var dir = th.getAttribute('aria-sort') === 'ascending' ? -1 : 1;
      for (var i = 0; i < heads.length; i++) { heads[i].removeAttribute('aria-sort'); }
      th.setAttribute('aria-sort', dir > 0 ? 'ascending' : 'descending');
      var body = table.tBodies[0];
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = key(a.cells[index]), y = key(b.cells[index]);
        var nx = Number(x), ny = Number(y);
        if (x !== '' && y !== '' && !isNaN(nx) && !isNaN(ny)) { return (nx - ny) * dir; }
        return x < y ? -dir : (x > y ? dir : 0);
      });
      rows.forEach(function (r) { body.appendChild(r); });
    };
    Array.prototype.forEach.call(heads, function (th, i) {
      var button = th.querySelector('button');
      if (button) { button.addEventListener('click', function () { sortBy(i); }); }
    });
  }
  root.setAttribute('data-ready', '1');
})();
"""


def _e(value: Any) -> str:
    """HTML-escaped and inert (no secret, control, bidi override or invisible character)."""
    return escape(inert(value, "space"), quote=True)


def bar_chart(title: str, items: list[tuple[str, int]], width: int = 340) -> str:
    """A horizontal bar chart as inline SVG (labels, bars, counts)."""
    bar_h, gap, label_w, count_w = 18, 6, 120, 40
    height = max(1, len(items)) * (bar_h + gap) + gap
    top = max((v for _, v in items), default=0) or 1
    room = width - label_w - count_w
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'viewBox="0 0 {width} {height}" role="img" aria-label="{_e(title)}">']
    for i, (label, value) in enumerate(items):
        y = gap + i * (bar_h + gap)
        w = 0 if value == 0 else max(2, round(room * value / top))
        color = COLORS.get(label, "#607d8b")
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 13}" text-anchor="end" font-size="12" '
            f'fill="#1f2933">{_e(label.replace("_", " "))}</text>'
            f'<rect x="{label_w}" y="{y}" width="{w}" height="{bar_h}" rx="3" fill="{color}">'
            f'<title>{_e(label)}: {value}</title></rect>'
            f'<text x="{label_w + w + 5}" y="{y + 13}" font-size="12" fill="#1f2933">'
            f'{value}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _summary(summary: dict[str, Any]) -> str:
    oldest = summary.get("oldest_validation")
    oldest_text = (oldest["at"][:10] if oldest else "never")
    actions = summary.get("recommended_actions") or {}
    cards = [
        (summary.get("bindings", 0), "bindings in this review"),
        (actions.get("revoke", 0), "recommended to revoke"),
        (actions.get("reduce", 0), "recommended to reduce"),
        (actions.get("investigate", 0), "to investigate"),
        (oldest_text, "oldest validation" + (f" ({oldest['binding_id']})" if oldest else "")),
        (summary.get("never_validated", 0), "never validated"),
    ]
    out = ['<section aria-label="summary"><div class="cards">']
    out += [f'<div class="card"><div class="n">{_e(n)}</div><div class="l">{_e(label)}</div>'
            "</div>" for n, label in cards]
    out.append('</div><div class="charts">')
    charts = [("Bindings by status", summary.get("statuses") or {}),
              ("Findings by severity", summary.get("by_severity") or {}),
              ("Recommended action", actions)]
    for title, counts in charts:
        if counts:
            out.append(f'<div class="chart"><h3>{_e(title)}</h3>'
                       f'{bar_chart(title, [(str(k), int(v)) for k, v in counts.items()])}</div>')
    out.append("</div></section>")
    return "".join(out)


def _cell(col: Column, row: dict[str, Any]) -> str:
    text = col.text(row)
    attrs = ""
    if col.key in ("max_severity", "severity"):
        attrs = f' data-sort="{SEVERITY_RANK.get(text, 0)}"'
    if col.key in BADGE_KEYS and text:
        color = COLORS.get(text, "#607d8b")
        body = f'<span class="badge" style="background:{color}">{_e(text)}</span>'
    elif col.key.endswith(("_id", "scopes", "_command")) or col.key == "findings":
        body = f'<span class="mono">{_e(text)}</span>'
    else:
        body = _e(text)
    return f'<td class="c-{_e(col.key)}"{attrs}>{body}</td>'


class HtmlExporter:
    def write(self, doc: Document, out: TextIO) -> None:
        title = doc.title or doc.kind.replace("_", " ").capitalize()
        rows = list(doc.rows)
        out.write('<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">\n'
                  '<meta http-equiv="Content-Security-Policy" content="default-src \'none\'; '
                  "style-src 'unsafe-inline'; script-src 'unsafe-inline'; img-src data:\">\n"
                  '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
                  f"<title>{_e(title)}</title>\n<style>{CSS}</style></head>\n<body>\n")
        out.write(f"<header><h1>{_e(title)}</h1><p class=\"meta\">Generated "
                  f"{_e(doc.generated_at)} by nhictl · {len(rows)} row(s)</p></header>\n")
        summary = doc.extra.get("summary")
        if isinstance(summary, dict):
            out.write(_summary(summary) + "\n")
        instructions = doc.extra.get("instructions")
        if isinstance(instructions, list | tuple) and instructions:
            out.write('<section aria-label="instructions"><h2>How to review</h2>'
                      '<ol class="howto">')
            out.write("".join(f"<li>{_e(line)}</li>" for line in instructions))
            out.write("</ol></section>\n")
        out.write(f'<section aria-label="rows"><h2>{_e(doc.kind.capitalize())}</h2>'
                  '<p class="meta noprint">Click a column header to sort.</p>\n')
        if not rows:
            out.write(f'<p class="empty">No {_e(doc.kind)}.</p>')
        else:
            out.write('<table id="rows"><thead><tr>')
            out.write("".join(f'<th scope="col"><button type="button">{_e(c.header)}</button>'
                              "</th>" for c in doc.columns))
            out.write("</tr></thead>\n<tbody>\n")
            for row in rows:
                out.write("<tr>" + "".join(_cell(c, row) for c in doc.columns) + "</tr>\n")
            out.write("</tbody></table>")
        out.write(f"</section>\n<script>{SCRIPT}</script>\n</body></html>\n")
