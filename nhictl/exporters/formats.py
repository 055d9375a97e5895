"""Plain table, JSON, CSV and Markdown exporters."""

from __future__ import annotations

import csv
import json
import shutil
from collections.abc import Iterable, Iterator
from typing import Any, TextIO

from tabulate import tabulate

from nhictl.exporters.base import Column, Document, row_cells
from nhictl.exporters.csv_cells import FORMULA_PREFIXES as FORMULA_PREFIXES
from nhictl.exporters.csv_cells import cell_batches
from nhictl.untrusted import mask_record, mask_records, md

SCHEMA_VERSION = 1


def neutralise(cell: str) -> str:
    """Make a cell inert in spreadsheets (CSV injection): prefix formula starters with '."""
    return "'" + cell if cell.startswith(FORMULA_PREFIXES) else cell


class JsonExporter:
    """The document as indented JSON, with each row on one line, streamed row by row.

    The stdlib's indenting encoder is pure Python; with 100,000 rows that dominates. Each
    row is encoded by the C encoder (``json.dumps`` without indent: ASCII, controls escaped,
    ``default=str``) and written at once, so rows can also come from a generator and are
    never all held.
    """

    def write(self, doc: Document, out: TextIO) -> None:
        rows: Any = _ROWS
        payload: dict[str, Any] = {
            "schema_version": SCHEMA_VERSION,
            "generated_at": doc.generated_at,
            doc.kind: rows,
        }
        payload.update(doc.extra)
        if payload[doc.kind] is not _ROWS:  # an extra key replaced the rows: plain dump
            json.dump(mask_record(payload), out, indent=2, sort_keys=False, default=str)
            out.write("\n")
            return
        out.write("{")
        first_key = True
        for key, value in payload.items():
            out.write(("\n  " if first_key else ",\n  ") + _key(key) + ": ")
            first_key = False
            if value is not _ROWS:
                out.write(_pretty(mask_record({"": value})[""], 1))
                continue
            first_row = True
            # JSON escapes every control character (ASCII output); secrets are masked, a
            # batch of rows at a time (one look at the batch when nothing in it is suspect).
            for batch in _batches(doc.json_row(r) if doc.json_row else r for r in doc.rows):
                for row in mask_records(batch):
                    out.write(("[\n    " if first_row else ",\n    ") + _encode_row(row))
                    first_row = False
            out.write("[]" if first_row else "\n  ]")
        out.write("\n}" if not first_key else "}")
        out.write("\n")


_ROWS = object()
# ``json.dumps(row, default=str)`` without building a new encoder for every row.
_encode_row = json.JSONEncoder(default=str).encode
_BATCH = 500  # rows looked at (masking) and written together


def _batches(rows: Iterable[Any]) -> Iterator[list[Any]]:
    batch: list[Any] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch
_INDENT = "  "
_encode_str = json.encoder.encode_basestring_ascii  # type: ignore[attr-defined]


def _float(value: float) -> str:
    if value != value:
        return "NaN"
    if value == float("inf"):
        return "Infinity"
    if value == -float("inf"):
        return "-Infinity"
    return float.__repr__(value)


def _key(key: Any) -> str:
    if isinstance(key, str):
        return str(_encode_str(key))
    if isinstance(key, float):
        return str(_encode_str(_float(key)))
    if key is True:
        return '"true"'
    if key is False:
        return '"false"'
    if key is None:
        return '"null"'
    if isinstance(key, int):
        return str(_encode_str(int.__repr__(key)))
    raise TypeError(f"keys must be str, int, float, bool or None, not {type(key).__name__}")


def _pretty(value: Any, level: int) -> str:
    """``value`` as ``json.dumps(indent=2, default=str)`` writes it ``level`` deep."""
    if isinstance(value, str):
        return str(_encode_str(value))
    if value is None:
        return "null"
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int):
        return int.__repr__(value)
    if isinstance(value, float):
        return _float(value)
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        inner = "\n" + _INDENT * (level + 1)
        return ("[" + inner + ("," + inner).join(_pretty(v, level + 1) for v in value)
                + "\n" + _INDENT * level + "]")
    if isinstance(value, dict):
        if not value:
            return "{}"
        inner = "\n" + _INDENT * (level + 1)
        return ("{" + inner + ("," + inner).join(
            _key(k) + ": " + _pretty(v, level + 1) for k, v in value.items())
            + "\n" + _INDENT * level + "}")
    return _pretty(str(value), level)  # default=str


class CsvExporter:
    """RFC 4180 (CRLF line ends, quoted where needed), UTF-8, spreadsheet-safe cells."""

    def write(self, doc: Document, out: TextIO) -> None:
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow([c.key for c in doc.columns])
        plain = [c.key if type(c) is Column and c.render is None else None
                 for c in doc.columns]
        if None in plain:
            for row in doc.rows:
                writer.writerow([neutralise(c) for c in row_cells(doc.columns, row, "keep")])
            return
        # Every column is a plain key lookup: the same cells as Column.text + neutralise,
        # without two calls per cell (100,000 rows x 42 columns): see csv_cells.
        for batch in cell_batches([str(k) for k in plain], doc.rows):
            writer.writerows(batch)


class MarkdownExporter:
    def write(self, doc: Document, out: TextIO) -> None:
        if doc.title:
            out.write(f"# {md(doc.title)}\n\n")
        rows = [[md(c) for c in row_cells(doc.columns, r)] for r in doc.rows]
        if not rows:
            out.write("_No rows._\n")
            return
        out.write(tabulate(rows, headers=[md(c.header) for c in doc.columns], tablefmt="github",
                           disable_numparse=True))
        out.write("\n")


# Columns a reader must see whole (ids are typed back into commands); the rest shrink.
KEEP_WHOLE = frozenset({"id", "binding_id", "rule_id", "severity", "max_severity", "status",
                        "state", "outcome", "token_kind", "seq", "name", "kind", "secret",
                        "scope"})


class PlainTableExporter:
    """A plain-text table that fits the terminal width (100 columns when not a TTY, or
    ``COLUMNS``). Ids, rule ids, severities and statuses are never cut; other columns shrink,
    widest first, only as far as needed; ``wrap`` columns go onto more lines instead of
    being cut. ``wide``: every cell whole, however wide the table. ``clipped`` tells the
    caller whether a cell was cut (so it can say so: never silently)."""

    def __init__(self, width: int | None = None, wide: bool = False) -> None:
        self.width = width or shutil.get_terminal_size((100, 24)).columns
        self.wide = wide
        self.clipped = False

    def write(self, doc: Document, out: TextIO) -> None:
        rows = [row_cells(doc.columns, r) for r in doc.rows]
        if not rows:
            out.write(f"no {doc.kind}\n")
            return
        headers = [c.header for c in doc.columns]
        keep = [c.key in KEEP_WHOLE for c in doc.columns]
        widths = fit_widths(headers, rows, [c.max_width for c in doc.columns],
                            10**9 if self.wide else self.width, keep)
        wraps = [c.wrap for c in doc.columns]
        # Laid out here rather than by tabulate, which pads headers by 2 more characters and
        # so overflows the width computed above.
        out.write(_line(headers, widths) + "\n")
        out.write("  ".join("-" * w for w in widths) + "\n")
        for row in rows:
            self.clipped |= any(len(c) > w for c, w, wrap in zip(row, widths, wraps, strict=True)
                                if not wrap)
            for line in _wrapped(row, widths, wraps):
                out.write(_line(line, widths) + "\n")


def _wrapped(row: list[str], widths: list[int], wraps: list[bool]) -> list[list[str]]:
    """One row as one or more lines: wrap columns split at spaces (long words at width)."""
    import textwrap

    if not any(wraps):
        return [row]
    parts = [textwrap.wrap(c, w, break_on_hyphens=False) or [""] if wrap else [c]
             for c, w, wrap in zip(row, widths, wraps, strict=True)]
    depth = max(len(p) for p in parts)
    return [[p[i] if i < len(p) else "" for p in parts] for i in range(depth)]


def _line(cells: list[str], widths: list[int]) -> str:
    return "  ".join(clip(c, w).ljust(w) for c, w in zip(cells, widths, strict=True)).rstrip()


def clip(text: str, width: int) -> str:
    text = text.replace("\n", " ")
    return text if len(text) <= width else text[: max(1, width - 1)] + "…"


def fit_widths(
    headers: list[str],
    rows: list[list[str]],
    caps: list[int | None],
    total: int,
    keep: list[bool] | None = None,
) -> list[int]:
    """Column widths that fit ``total`` characters (2 spaces between columns).

    Natural widths when they fit; otherwise shrinkable columns go down to their cap, then
    the widest shrinkable one loses a character at a time (never below 6). ``keep`` columns
    are never cut, even if the line then overflows.
    """
    keep = keep or [False] * len(headers)
    widths = [len(h) for h in headers]
    for row in rows:
        for i, value in enumerate(row):
            widths[i] = max(widths[i], len(value))
    budget = total - 2 * (len(widths) - 1)
    if sum(widths) <= budget:
        return widths
    widths = [w if k or not cap else min(w, cap)
              for w, cap, k in zip(widths, caps, keep, strict=True)]
    while sum(widths) > budget:
        shrinkable = [i for i in range(len(widths)) if not keep[i] and widths[i] > 6]
        if not shrinkable:
            break
        i = max(shrinkable, key=lambda k: widths[k])
        widths[i] -= 1
    return widths
