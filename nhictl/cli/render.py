"""Rich rendering for terminals (the core never imports rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from nhictl.exporters.base import Document, row_cells
from nhictl.exporters.formats import KEEP_WHOLE, fit_widths
from nhictl.untrusted import inert

STATUS_STYLE = {
    "active": "green",
    "unvalidated": "yellow",
    "expired": "magenta",
    "needs_reconnect": "red",
    "removed": "dim",
    "revoked": "dim",
}
SEVERITY_STYLE = {
    "critical": "bold red",
    "high": "red",
    "medium": "yellow",
    "low": "cyan",
    "info": "dim",
}


def rich_table(doc: Document, *, no_color: bool = False, wide: bool = False,
               console: Console | None = None) -> bool:
    """A table on a terminal, laid out like the plain one (same widths: ids never cut; other
    columns shrink or, with ``wrap``, fold). ``no_color``: no escape code at all (not even
    bold). ``wide``: every cell whole. Returns whether a cell was cut."""
    if console is None:
        console = Console(no_color=no_color, color_system=None if no_color else "auto",
                          highlight=False)
    # Every cell inert (untrusted.inert) before rich sees it; rich markup escaped too.
    rows = [row_cells(doc.columns, r) for r in doc.rows]
    if not rows:
        console.print(f"no {doc.kind}", markup=False)
        return False
    headers = [c.header for c in doc.columns]
    keep = [c.key in KEEP_WHOLE for c in doc.columns]
    widths = fit_widths(headers, rows, [c.max_width for c in doc.columns],
                        10**9 if wide else console.width, keep)
    if wide:
        console.width = max(console.width, sum(widths) + 2 * (len(widths) - 1))
    title = escape(inert(doc.title)) if doc.title else None
    table = Table(title=title, header_style="bold", expand=False, box=None, pad_edge=False)
    for col, width in zip(doc.columns, widths, strict=True):
        table.add_column(col.header, width=width, no_wrap=not col.wrap,
                         overflow="fold" if col.wrap else "ellipsis")
    clipped = False
    for row in rows:
        cells = []
        for col, text, width in zip(doc.columns, row, widths, strict=True):
            clipped |= not col.wrap and len(text) > width
            style = STATUS_STYLE.get(text) if col.key == "status" else (
                SEVERITY_STYLE.get(text) if col.key in ("severity", "max_severity") else None)
            cells.append(f"[{style}]{escape(text)}[/]" if style else escape(text))
        table.add_row(*cells)
    console.print(table)
    return clipped


def escape(text: str) -> str:
    from rich.markup import escape as _escape

    return _escape(text)
