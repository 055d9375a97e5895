"""The Document every exporter renders, the Format enum and the format -> class map."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, Protocol, TextIO

from nhictl.untrusted import inert_row


class Format(StrEnum):
    TABLE = "table"
    JSON = "json"
    CSV = "csv"
    MARKDOWN = "markdown"
    HTML = "html"
    SARIF = "sarif"
    OCSF = "ocsf"


@dataclass(frozen=True)
class Column:
    key: str
    header: str
    # Narrow columns are kept whole in a terminal table; wide ones are truncated first.
    max_width: int | None = None
    render: Callable[[Any], str] | None = None
    # In a terminal table: wrap onto more lines instead of being cut.
    wrap: bool = False

    def text(self, row: dict[str, Any]) -> str:
        value = row.get(self.key)
        if self.render is not None:
            return self.render(value)
        return cell_text(value)


def cell_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list | tuple | set):
        return " ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{k}={cell_text(v)}" for k, v in value.items())
    return str(value)


def row_cells(columns: list[Column], row: dict[str, Any], lines: str = "space") -> list[str]:
    """The cells of one row as shown: every exporter's text passes ``untrusted.inert``
    (no secret, control character, escape sequence or bidi override reaches a reader);
    ``lines="keep"`` keeps line breaks (quoted CSV cells)."""
    return inert_row([c.text(row) for c in columns], lines)


@dataclass
class Document:
    """Rows of one kind (``bindings``, ``findings``, ``events``...) plus context.

    ``columns`` drive table, CSV and Markdown; JSON carries whole rows under ``kind`` with
    ``schema_version`` and ``generated_at``, plus ``extra`` top-level keys.
    """

    kind: str
    columns: list[Column]
    rows: Iterable[dict[str, Any]]
    generated_at: str
    title: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    json_row: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    # What a format needs beyond the rows (SARIF/OCSF: the rule catalog and the bindings
    # the findings name, see exporters/finding_context.py); the other formats ignore it.
    context: Any = None


class Exporter(Protocol):
    def write(self, doc: Document, out: TextIO) -> None: ...


def exporter_for(fmt: Format) -> Exporter:
    from nhictl.exporters import formats, html, ocsf, sarif

    mapping: dict[Format, type[Exporter]] = {
        Format.TABLE: formats.PlainTableExporter,
        Format.JSON: formats.JsonExporter,
        Format.CSV: formats.CsvExporter,
        Format.MARKDOWN: formats.MarkdownExporter,
        Format.HTML: html.HtmlExporter,
        Format.SARIF: sarif.SarifExporter,
        Format.OCSF: ocsf.OcsfExporter,
    }
    if fmt not in mapping:
        from nhictl.errors import UsageError

        raise UsageError(f"format {fmt.value!r} is not available for this output")
    return mapping[fmt]()
