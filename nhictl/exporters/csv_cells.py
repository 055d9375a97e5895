"""CSV cells of plain key columns, a batch of rows at a time (100,000s of rows).

The same cells as ``Column.text`` + ``untrusted.inert(cell, "keep")`` + ``neutralise`` per
cell, with Python-level work per cell only where it changes something: values are read
with one ``itemgetter`` per row, a column is converted (``cell_text``) only when a value in
it is neither a string nor None (None stays None: the csv module writes it as an empty
cell, as ``cell_text`` does), and masking, escaping and formula neutralising look at a
whole batch with C-level scans, then at the few rows they flag.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from operator import itemgetter
from typing import Any

from nhictl.exporters.base import cell_text
from nhictl.untrusted import flagged, inert

FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r", "\n")  # one character each
_STARTERS = frozenset(FORMULA_PREFIXES)
_PLAIN_TYPES = frozenset({str, type(None)})
BATCH = 500

Cells = Sequence[str | None]


def cell_batches(keys: list[str], rows: Iterable[dict[str, Any]]) -> Iterator[list[Cells]]:
    """The CSV cells of ``rows`` under ``keys``, a batch at a time."""
    getter = itemgetter(*keys)
    single = len(keys) == 1
    batch: list[dict[str, Any]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield _cells(keys, getter, single, batch)
            batch = []
    if batch:
        yield _cells(keys, getter, single, batch)


def _cells(keys: list[str], getter: Any, single: bool,
           rows: list[dict[str, Any]]) -> list[Cells]:
    values: list[tuple[Any, ...]]
    try:
        values = [(getter(r),) for r in rows] if single else list(map(getter, rows))
    except KeyError:  # a row without some key: its cell is empty, as with row.get
        values = [tuple(map(r.get, keys)) for r in rows]
    # Column by column: a batch's column is mostly one type, and each look is one C call.
    columns: list[Sequence[Any]] = list(zip(*values, strict=True))
    for j, column in enumerate(columns):
        if not _PLAIN_TYPES.issuperset(map(type, column)):
            column = columns[j] = [
                v if type(v) is str or v is None
                else " ".join(map(str, v)) if type(v) is list else cell_text(v)
                for v in column]
    # Every cell of a column joined by spaces (a hit across two cells can only flag too
    # much): one scan of the batch tells which columns may need a cell masked or escaped.
    texts = [" ".join(filter(None, column)) for column in columns]
    hot = set(flagged(texts))
    hot.update(j for j, text in enumerate(texts) if not text.isprintable())
    for j in hot:
        columns[j] = _inert_column(columns[j])
    return list(zip(*map(_spreadsheet_safe, columns), strict=True))


def _inert_column(column: Sequence[str | None]) -> Sequence[str | None]:
    """``untrusted.inert(cell, "keep")`` over a column's cells (None: empty), for the cells
    that one scan of them flags (non-printable, or maybe a secret)."""
    cells = [c or "" for c in column]
    hot = set(flagged(cells))
    hot.update(i for i, c in enumerate(cells) if not c.isprintable())
    return [inert(c, "keep") if i in hot else c for i, c in enumerate(column)]


def _spreadsheet_safe(column: Sequence[str | None]) -> Sequence[str | None]:
    """Cells that start like a formula get a ``'`` prefix (CSV injection)."""
    if _STARTERS.isdisjoint(map(_first, filter(None, column))):
        return column
    return [_neutralised(c) for c in column]


_first = itemgetter(0)


def _neutralised(cell: str | None) -> str | None:
    return "'" + cell if cell and cell[0] in _STARTERS else cell
