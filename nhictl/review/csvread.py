"""Reading a review CSV back after any spreadsheet round trip.

Tolerated: a UTF-8 BOM, CRLF or LF line ends, ``;`` as the delimiter (spreadsheets in
comma-decimal locales), reordered or extra columns, headers in any case or with spaces,
short rows, empty rows anywhere (trailing ones included), and cells our exporter neutralised
with a leading ``'`` (stripped back). Each row keeps the line number it starts on.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass
from pathlib import Path

from nhictl.errors import InputFileError
from nhictl.exporters.formats import FORMULA_PREFIXES
from nhictl.fsutil import MAX_REVIEW_CSV_BYTES, read_input_bytes

REQUIRED = ("binding_id", "decision", "reviewer")
MAX_BYTES = MAX_REVIEW_CSV_BYTES


@dataclass(frozen=True)
class CsvRow:
    line: int
    cells: dict[str, str]

    def get(self, key: str) -> str:
        return self.cells.get(key, "")


def unneutralise(cell: str) -> str:
    """Undo the exporter's CSV-injection guard: ``'=x`` -> ``=x`` (only before a trigger)."""
    if cell.startswith("'") and cell[1:2] != "" and cell[1:].startswith(FORMULA_PREFIXES):
        return cell[1:]
    return cell


def _header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.replace("\ufeff", "").strip().lower())


def split_scopes(cell: str) -> list[str]:
    return [s for s in re.split(r"[\s,;]+", cell.strip()) if s]


def read_rows(path: Path, required: tuple[str, ...] = REQUIRED) -> list[CsvRow]:
    """Every non-empty data row of a review CSV; InputFileError (exit 3) if unreadable."""
    name = str(path)
    raw = read_input_bytes(path, "review CSV", MAX_BYTES)
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(name, f"line {line}", "not UTF-8 text",
                             hint="save the spreadsheet as 'CSV UTF-8'") from None
    if "\x00" in text:
        raise InputFileError(name, None, "not a text CSV (NUL byte)")
    first = text.lstrip("\r\n").split("\n", 1)[0]
    delimiter = ";" if first.count(";") > first.count(",") else ","
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
    start = 1
    try:
        header: list[str] | None = None
        rows: list[CsvRow] = []
        while True:
            start = reader.line_num + 1
            try:
                cells = next(reader)
            except StopIteration:
                break
            if not any(c.strip() for c in cells):
                continue
            if header is None:
                header = [_header(c) for c in cells]
                missing = [c for c in required if c not in header]
                if missing:
                    raise InputFileError(
                        name, f"line {start}", f"missing column(s): {', '.join(missing)}",
                        hint="the first row must be the packet's header row",
                    )
                dupes = sorted({h for h in header if h and header.count(h) > 1})
                if dupes:
                    raise InputFileError(name, f"line {start}",
                                         f"duplicate column(s): {', '.join(dupes)}")
                continue
            extra = cells[len(header):]
            if any(c.strip() for c in extra):
                raise InputFileError(name, f"line {start}",
                                     f"{len(cells)} cells but the header has {len(header)}")
            values = {h: unneutralise(c).strip() for h, c in zip(header, cells, strict=False)
                      if h}
            rows.append(CsvRow(start, values))
    except csv.Error as exc:
        problem = ("a quoted cell is never closed (unterminated quote)"
                   if "unexpected end of data" in str(exc) else f"malformed CSV: {exc}")
        raise InputFileError(name, f"line {start}", problem) from None
    if header is None:
        raise InputFileError(name, None, "empty file: no header row")
    return rows


def has_decisions(path: Path) -> bool:
    """Whether ``path`` is a review CSV in which some row already carries a decision."""
    try:
        rows = read_rows(path)
    except InputFileError:
        return False  # not a review packet (or not readable as one)
    return any(row.get("decision") for row in rows)
