"""Strict JSON for input files (exports, usage evidence, scenarios).

Python's ``json`` accepts more than JSON: ``NaN``, ``Infinity``, numbers that overflow to
``inf`` (``1e400``), lone surrogates (``"\\ud800"``, which cannot be stored as UTF-8), and
any nesting depth or string length. :func:`loads_strict` refuses all of these with a
:class:`JsonProblem` whose message says which, so callers can name the file and line.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Iterable, Iterator
from typing import Any

MAX_JSON_DEPTH = 32  # arrays/objects inside each other; real exports use 3 or 4
MAX_JSON_STRING_CHARS = 64 * 1024  # one string (a key or a value)


class JsonProblem(ValueError):
    """Why a text is not acceptable JSON; ``line`` when the parser knows it."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.line = line


def _constant(name: str) -> Any:
    raise JsonProblem(f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise JsonProblem(f"number {text[:20]} is out of range")
    return value


def loads_strict(text: str, *, check: bool = True) -> Any:
    """Parse ``text`` as JSON, then (with ``check``) its depth, string lengths and Unicode;
    a caller that can name the place better checks parts with :func:`check_value`."""
    try:
        data = json.loads(text, parse_constant=_constant, parse_float=_float)
    except JsonProblem:
        raise
    except json.JSONDecodeError as exc:
        raise JsonProblem(f"invalid JSON: {exc.msg}", exc.lineno) from None
    except RecursionError:
        raise JsonProblem(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)") from None
    except ValueError as exc:  # e.g. an integer with more than 4300 digits
        raise JsonProblem(f"invalid JSON: {str(exc).split(':')[0][:120]}") from None
    if check:
        check_value(data)
    return data


_SPACE = re.compile(r"[ \t\n\r]*")  # JSON's whitespace


def _problem(message: str, text: str, at: int) -> JsonProblem:
    return JsonProblem(f"invalid JSON: {message}", json.JSONDecodeError(message, text, at).lineno)


def iter_array_strict(text: str) -> Iterator[Any]:
    """The elements of ``text``, a JSON array, one at a time: what ``loads_strict(text,
    check=False)`` returns, with the same refusals (the first problem raises when reached),
    without holding every parsed element at once."""
    for value, _ in iter_array_chunks((text,)):
        yield value


# A decode error this close to the end of the text read so far may be the text's end, not
# the JSON's: a literal, number, escape or delimiter cut in two. Read on, then decide.
_CUT_MARGIN = 64


class _ArrayStream:
    """A JSON array read from text chunks: ``buf`` holds the unparsed tail (at most one
    element plus one chunk), ``lines`` counts the newlines already dropped from its front so
    that errors name the line in the whole text."""

    def __init__(self, chunks: Iterable[str]) -> None:
        self.chunks = iter(chunks)
        self.buf = ""
        self.at = 0
        self.lines = 0
        self.eof = False

    def more(self) -> bool:
        """Append the next chunk (dropping what is parsed); False at the end of the text."""
        if self.eof:
            return False
        chunk = next(self.chunks, None)
        if chunk is None:
            self.eof = True
            return False
        if self.at:
            self.lines += self.buf.count("\n", 0, self.at)
            self.buf = self.buf[self.at:]
            self.at = 0
        self.buf += chunk
        return True

    def skip_space(self) -> str:
        """Skip JSON whitespace; the next character ("" at the end of the text)."""
        while True:
            self.at = _SPACE.match(self.buf, self.at).end()  # type: ignore[union-attr]
            if self.at < len(self.buf) or not self.more():
                return self.buf[self.at:self.at + 1]

    def problem(self, message: str) -> JsonProblem:
        line = self.lines + self.buf.count("\n", 0, self.at) + 1
        return JsonProblem(f"invalid JSON: {message}", line)


def iter_array_chunks(chunks: Iterable[str]) -> Iterator[tuple[Any, str]]:
    """The elements of a JSON array whose text arrives in ``chunks``, one at a time, each
    with the exact text it was parsed from: the refusals and line numbers of
    :func:`loads_strict` on the whole text, holding only one element's text at a time.
    The text must start with ``[`` (after whitespace)."""
    decoder = json.JSONDecoder(parse_constant=_constant, parse_float=_float)
    s = _ArrayStream(chunks)
    if s.skip_space() != "[":
        raise s.problem("Expecting '['")
    s.at += 1
    if s.skip_space() == "]":
        s.at += 1
    else:
        while True:
            value, end = _decode_one(decoder, s)
            yield value, s.buf[s.at:end]
            s.at = end
            sep = s.skip_space()
            if sep == "]":
                s.at += 1
                break
            if sep != ",":
                raise s.problem("Expecting ',' delimiter")
            s.at += 1
            s.skip_space()
    if s.skip_space():
        raise s.problem("Extra data")


def _decode_one(decoder: json.JSONDecoder, s: _ArrayStream) -> tuple[Any, int]:
    """The element at ``s.at`` and where it ends, reading more text while it may be cut."""
    while True:
        try:
            value, end = decoder.raw_decode(s.buf, s.at)
        except JsonProblem:
            raise  # NaN, or out of range: so is any longer number this one begins
        except json.JSONDecodeError as exc:
            # "Unterminated string" is reported at the string's start: the text ran out.
            cut = exc.msg.startswith("Unterminated") or exc.pos >= len(s.buf) - _CUT_MARGIN
            if cut and s.more():
                continue
            raise JsonProblem(f"invalid JSON: {exc.msg}", s.lines + exc.lineno) from None
        except RecursionError:
            raise JsonProblem(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)") \
                from None
        except ValueError as exc:  # e.g. an integer with more than 4300 digits
            raise JsonProblem(f"invalid JSON: {str(exc).split(':')[0][:120]}") from None
        if end > len(s.buf) - _CUT_MARGIN and s.more():
            continue  # a number near the text's end ("1.5e-" + "3") may go on
        return value, end


def check_value(data: Any) -> None:
    """Depth, string length and valid Unicode of a parsed value (iterative: no recursion)."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, str):
            _check_string(value)
        elif isinstance(value, dict | list):
            if depth > MAX_JSON_DEPTH:
                raise JsonProblem(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)")
            if isinstance(value, dict):
                for key, item in value.items():
                    _check_string(str(key))
                    stack.append((item, depth + 1))
            else:
                stack.extend((item, depth + 1) for item in value)


def _check_string(text: str) -> None:
    if len(text) > MAX_JSON_STRING_CHARS:
        raise JsonProblem(f"a string is longer than {MAX_JSON_STRING_CHARS} characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise JsonProblem("a \\u escape is not a character (lone surrogate)") from None
