"""Rich rendering for terminals (the core never imports rich)."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from nhictl.exporters.base import Document

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
    table = Table(title=doc.title, header_style="bold", expand=False, box=None, pad_edge=False)
    for col in doc.columns:
        table.add_column(col.header, max_width=col.max_width, overflow="ellipsis", no_wrap=True)
    count = 0
    for row in doc.rows:
        cells = []
        for col in doc.columns:
            text = col.text(row)
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
