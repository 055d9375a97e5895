"""An export file as a stream of text: read and decoded chunk by chunk, so a 500 MB export is
never held whole. The checks of a whole-file read still apply, as the bytes go by: the size
cap, binary data (a NUL in the first 4 KiB), strict UTF-8 (the error names the line of the
first bad byte). A problem late in the file raises late: callers validate every record
before anything is written, so a bad file still writes nothing."""

from __future__ import annotations

import codecs
import io
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from nhictl.errors import InputFileError
from nhictl.fsutil import iter_input_chunks

CHUNK_BYTES = 1024 * 1024
BINARY_PROBE = 4096  # a NUL among the first bytes: binary data, not an export
_BOM = codecs.BOM_UTF8

ErrorFn = Callable[[str | None, str], InputFileError]


def decoded_chunks(path: Path, what: str, limit: int, error: ErrorFn,
                   chunk_bytes: int = CHUNK_BYTES) -> Iterator[str]:
    """The file's text in chunks (a leading BOM dropped), decoded as strict UTF-8."""
    decoder = codecs.getincrementaldecoder("utf-8")("strict")
    newlines = 0  # in the bytes already decoded: the line of a bad byte is counted from here
    head = b""  # the first bytes, for the binary check, until there are enough
    started = False
    for raw in iter_input_chunks(path, what, limit, chunk_bytes):
        if not started:
            head += raw
            if len(head) < BINARY_PROBE + len(_BOM):
                continue
            raw, started = _start(head, error), True
        yield _decode(decoder, raw, newlines, error)
        newlines += raw.count(b"\n")
    if not started:
        raw = _start(head, error)
        yield _decode(decoder, raw, newlines, error)
        newlines += raw.count(b"\n")
    yield _decode(decoder, b"", newlines, error, final=True)


def _start(head: bytes, error: ErrorFn) -> bytes:
    if b"\x00" in head[:BINARY_PROBE]:
        raise error(None, "binary data, not a JSON, JSON Lines or CSV export")
    return head[len(_BOM):] if head.startswith(_BOM) else head


def _decode(decoder: codecs.IncrementalDecoder, raw: bytes, newlines: int, error: ErrorFn,
            final: bool = False) -> str:
    pending = decoder.getstate()[0]  # an unfinished character from the chunk before: no \n
    try:
        return decoder.decode(raw, final)
    except UnicodeDecodeError as exc:
        line = newlines + (pending + raw)[: exc.start].count(b"\n") + 1
        raise error(f"line {line}", "not valid UTF-8") from None


def split_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of the text, as ``str.splitlines()`` gives them for the whole text (any
    line boundary, endings dropped)."""
    carry = ""
    for chunk in chunks:
        text = carry + chunk
        tail = text.splitlines(True)
        # The last line may go on in the next chunk (or end in a "\r" whose "\n" follows).
        carry = tail[-1] if tail else ""
        yield from text[: len(text) - len(carry)].splitlines()
    if carry:
        yield from carry.splitlines()


def csv_lines(chunks: Iterable[str]) -> Iterator[str]:
    """The lines of the text, endings kept, as a file opened with ``newline=""`` gives them
    (what the csv module expects: it handles line breaks inside quoted cells itself)."""
    carry = ""
    for chunk in chunks:
        lines = io.StringIO(carry + chunk, newline="").readlines()
        carry = lines.pop() if lines else ""
        yield from lines
    if carry:
        yield from io.StringIO(carry, newline="").readlines()
