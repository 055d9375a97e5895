"""The raw records of an export file, whatever its shape: a JSON array, an object
``{"connections": [...]}``, JSON Lines, or CSV. Each comes with its place (record index or
line number) and its exact text in the file (what the incremental digest covers), read as a
stream: only the wrapped-object shape is parsed whole (JSON cannot be split before its
``connections`` key is found)."""

from __future__ import annotations

import csv
import itertools
import json
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

from nhictl.fsutil import MAX_EXPORT_BYTES
from nhictl.jsonin import JsonProblem, iter_array_chunks, loads_strict
from nhictl.sources.export_stream import ErrorFn, csv_lines, decoded_chunks, split_lines

RawRecord = tuple[int, Any, str | None]  # (index or line, parsed record, exact text)


class ShapeReader:
    """Reads one export file. After the first record, ``shape`` is ``array``,
    ``connections``, ``jsonl`` or ``csv``, ``label`` names places (``record``/``line``) and
    ``csv_header`` holds the CSV header line (part of every row's meaning)."""

    def __init__(self, path: Path, error: ErrorFn) -> None:
        self.path = path
        self.error = error
        self.shape = ""
        self.label = "record"
        self.csv_header = ""

    def where(self, n: int) -> str:
        return f"{self.label} {n}"

    def records(self) -> Iterator[RawRecord]:
        """Every raw record in file order; a problem raises when it is reached."""
        chunks = decoded_chunks(self.path, "export file", MAX_EXPORT_BYTES, self.error)
        head: list[str] = []
        stripped = ""
        for chunk in chunks:
            head.append(chunk)
            stripped = chunk.lstrip()
            if stripped:
                break
        if not stripped:
            raise self.error(None, "empty file: no connections")
        text = itertools.chain(head, chunks)
        suffix = self.path.suffix.lower()
        if suffix == ".csv" or (suffix not in (".json", ".jsonl", ".ndjson") and
                                stripped[0] not in "[{"):
            return self._csv_records(text)
        if suffix in (".jsonl", ".ndjson"):
            return self._jsonl_records(split_lines(text))
        if stripped[0] == "[":
            return self._array_records(text)
        whole = "".join(text)
        return self._whole_records(whole, whole.lstrip())

    def _array_records(self, text: Iterable[str]) -> Iterator[RawRecord]:
        self.shape, self.label = "array", "record"
        try:
            for i, (rec, raw) in enumerate(iter_array_chunks(text)):
                yield i, rec, raw
        except JsonProblem as exc:
            raise self.error(f"line {exc.line}" if exc.line else None, exc.message) from None

    def _whole_records(self, text: str, stripped: str) -> Iterator[RawRecord]:
        try:
            data = loads_strict(text, check=False)  # checked per record, naming it
        except JsonProblem as exc:
            if stripped[0] == "{" and (exc.line or 0) > 1:
                return self._jsonl_records(text.splitlines())  # one object per line
            raise self.error(f"line {exc.line}" if exc.line else None, exc.message) from None
        if isinstance(data, dict):
            if "connections" not in data:
                if "id" not in data:
                    lists = [k for k, v in data.items() if isinstance(v, list)][:3]
                    found = f" (found {', '.join(map(repr, lists))})" if lists else ""
                    raise self.error(None, "expected a JSON array of connections, an object "
                                     f'with a "connections" array{found}, or JSON Lines')
                return self._jsonl_records(text.splitlines())  # JSON Lines, one record
            data = data["connections"]
        if not isinstance(data, list):
            raise self.error(None, "expected a JSON array of connections")
        self.shape, self.label = "connections", "record"
        return _drained(data)

    def _jsonl_records(self, lines: Iterable[str]) -> Iterator[RawRecord]:
        self.shape, self.label = "jsonl", "line"
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                yield n, loads_strict(line, check=False), line
            except JsonProblem as exc:
                raise self.error(f"line {n}", exc.message) from None

    def _csv_records(self, text: Iterable[str]) -> Iterator[RawRecord]:
        self.shape, self.label = "csv", "line"
        taken: list[str] = []  # the lines of the row being read: its exact text

        def lines() -> Iterator[str]:
            for line in csv_lines(text):
                taken.append(line)
                yield line

        # strict: an unterminated quote is an error, not the rest of the file in one cell.
        reader = csv.reader(lines(), strict=True)
        header: list[str] | None = None
        start = 1
        try:
            while True:
                start = reader.line_num + 1  # the line this row starts on
                taken.clear()
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                if header is None:
                    header = self._csv_header(cells, start)
                    self.csv_header = "".join(taken)
                    continue
                if len(cells) > len(header):
                    raise self.error(f"line {start}", "more cells than header columns")
                if len(cells) < len(header):
                    if not any(c.strip() for c in cells):
                        continue  # an empty line
                    raise self.error(f"line {start}", "fewer cells than header columns")
                if not any(c.strip() for c in cells):
                    continue
                yield start, {k: v for k, v in zip(header, cells, strict=True) if v}, \
                    "".join(taken)
        except csv.Error as exc:
            problem = ("a quoted cell is never closed (unterminated quote)"
                       if "unexpected end of data" in str(exc) else f"invalid CSV: {exc}")
            raise self.error(f"line {start}", problem) from None
        if header is None:
            raise self.error("line 1", 'CSV header has no "id" column')

    def _csv_header(self, cells: list[str], line: int) -> list[str]:
        header = [c.strip() for c in cells]
        if "id" not in header:
            raise self.error(f"line {line}", 'CSV header has no "id" column')
        dupes = sorted({h for h in header if h and header.count(h) > 1})
        if dupes:  # csv.DictReader would keep only the last of them: data silently lost
            raise self.error(f"line {line}", f"duplicate CSV column(s): {', '.join(dupes)}")
        return header


def _drained(items: list[Any]) -> Iterator[RawRecord]:
    """The records in order, each freed from the list once handed out; no exact text (the
    digest covers the record's canonical JSON instead)."""
    for i in range(len(items)):
        item = items[i]
        items[i] = None
        yield i, item, None


def canonical_text(raw: Any) -> str:
    """The text a record without exact text is digested as (its parsed value)."""
    return json.dumps(raw)
