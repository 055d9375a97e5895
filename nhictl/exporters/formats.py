"""Plain table, JSON, CSV and Markdown exporters."""

from __future__ import annotations

import csv
import json
import shutil
from typing import Any, TextIO

from tabulate import tabulate

from nhictl.exporters.base import Document

SCHEMA_VERSION = 1
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


def neutralise(cell: str) -> str:
    """Make a cell inert in spreadsheets (CSV injection): prefix formula starters with '."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


class JsonExporter:
    def write(self, doc: Document, out: TextIO) -> None:
        rows = [doc.json_row(r) if doc.json_row else r for r in doc.rows]
        payload: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "generated_at": doc.generated_at,
            doc.kind: rows,
        }
        payload.update(doc.extra)
        json.dump(payload, out, indent=2, sort_keys=False, default=str)
        out.write("\n")


class CsvExporter:
    """RFC 4180 (CRLF line ends, quoted where needed), UTF-8, spreadsheet-safe cells."""

    def write(self, doc: Document, out: TextIO) -> None:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([c.key for c in doc.columns])
        for row in doc.rows:
            writer.writerow([neutralise(c.text(row)) for c in doc.columns])


class MarkdownExporter:
    def write(self, doc: Document, out: TextIO) -> None:
        if doc.title:
            out.write(f"# {doc.title}\n\n")
        rows = [[_md(c.text(r)) for c in doc.columns] for r in doc.rows]
        if not rows:
            out.write("_No rows._\n")
            return
        out.write(tabulate(rows, headers=[c.header for c in doc.columns], tablefmt="github",
                           disable_numparse=True))
        out.write("\n")


def _md(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


class PlainTableExporter:
    """A plain-text table that fits the terminal width (100 columns when not a TTY)."""

    def __init__(self, width: int | None = None) -> None:
        self.width = width or shutil.get_terminal_size((100, 24)).columns

    def write(self, doc: Document, out: TextIO) -> None:
        rows = [[c.text(r) for c in doc.columns] for r in doc.rows]
        if not rows:
            out.write(f"no {doc.kind}\n")
            return
        headers = [c.header for c in doc.columns]
        widths = fit_widths(headers, rows, [c.max_width for c in doc.columns], self.width)
        # Laid out here rather than by tabulate, which pads headers by 2 more characters and
        # so overflows the width computed above.
        out.write(_line(headers, widths) + "\n")
        out.write("  ".join("-" * w for w in widths) + "\n")
        for row in rows:
            out.write(_line(row, widths) + "\n")


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def clip(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def fit_widths(
    headers: list[str], rows: list[list[str]], caps: list[int | None], total: int
) -> list[int]:
    """Column widths that fit ``total`` characters (2 spaces between columns)."""
    widths = [len(h) for h in headers]
    for row in rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    widths = [min(w, cap) if cap else w for w, cap in zip(widths, caps, strict=True)]
    budget = total - 2 * (len(widths) - 1)
    while sum(widths) > budget:
        i = max(range(len(widths)), key=lambda k: widths[k])
        if widths[i] <= 6:
            break
        widths[i] -= 1
    return widths
