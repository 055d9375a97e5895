"""Rich rendering for terminals (the core never imports rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from nhictl.exporters.base import Document, row_cells
from nhictl.exporters.formats import KEEP_WHOLE
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


def rich_table(doc: Document, *, no_color: bool = False) -> None:
    console = Console(no_color=no_color, highlight=False)
    title = escape(inert(doc.title)) if doc.title else None
    table = Table(title=title, header_style="bold", expand=False, box=None, pad_edge=False)
    # Every cell inert (untrusted.inert) before rich sees it; rich markup escaped too.
    rows = [row_cells(doc.columns, r) for r in doc.rows]
    for i, col in enumerate(doc.columns):
        if col.key in KEEP_WHOLE:  # ids are typed back into commands: never cut
            longest = max([len(col.header), *(len(r[i]) for r in rows)])
            table.add_column(col.header, min_width=longest, no_wrap=True)
        else:
            table.add_column(col.header, overflow="ellipsis", no_wrap=True)
    count = 0
    for row in rows:
        cells = []
        for col, text in zip(doc.columns, row, strict=True):
            style = STATUS_STYLE.get(text) if col.key == "status" else (
                SEVERITY_STYLE.get(text) if col.key in ("severity", "max_severity") else None)
            cells.append(f"[{style}]{escape(text)}[/]" if style else escape(text))
        table.add_row(*cells)
        count += 1
    if count == 0:
        console.print(f"no {doc.kind}")
        return
    console.print(table)


def escape(text: str) -> str:
    from rich.markup import escape as _escape

    return _escape(text)
