"""One sort order on both engines: ``ORDER BY sorted_like_sqlite(col)``.

SQLite sorts text by its bytes and puts NULL first; PostgreSQL sorts by the database's
collation (``en_US.UTF-8`` sorts ``alice`` before ``Bob``, ``C`` after) and puts NULL last.
Listings must come out in the same order whichever engine holds the inventory, so on
PostgreSQL the column is compared with the ``C`` collation (bytes), NULL first everywhere.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement, String, TypeDecorator
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.visitors import InternalTraversal


class _Bytewise(ColumnElement[Any]):
    inherit_cache = True
    _traverse_internals = [("column", InternalTraversal.dp_clauseelement)]  # noqa: RUF012

    def __init__(self, column: ColumnElement[Any]) -> None:
        self.column = column
        self.type = column.type


@compiles(_Bytewise)
def _plain(element: _Bytewise, compiler: Any, **kw: Any) -> str:
    return str(compiler.process(element.column, **kw))


@compiles(_Bytewise, "postgresql")
def _c_collation(element: _Bytewise, compiler: Any, **kw: Any) -> str:
    text = str(compiler.process(element.column, **kw))
    return f'{text} COLLATE "C"' if _is_text(element.column) else text


def _is_text(column: ColumnElement[Any]) -> bool:
    kind = column.type
    if isinstance(kind, TypeDecorator):  # sqlmodel's AutoString wraps a String
        kind = kind.impl_instance
    return isinstance(kind, String)


def sorted_like_sqlite(*columns: ColumnElement[Any]) -> list[Any]:
    """ORDER BY terms: each column bytewise, NULL first (SQLite's order) on every engine."""
    return [_Bytewise(c).nulls_first() for c in columns]
