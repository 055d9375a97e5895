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
from collections.abc import Iterator
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
    without holding every parsed element at once. ``text`` must start with ``[`` (after
    whitespace)."""
    decoder = json.JSONDecoder(parse_constant=_constant, parse_float=_float)
    at = _SPACE.match(text).end()  # type: ignore[union-attr]
    if text[at:at + 1] != "[":
        raise _problem("Expecting '['", text, at)
    at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
    if text[at:at + 1] == "]":
        at += 1
    else:
        while True:
            try:
                value, at = decoder.raw_decode(text, at)
            except JsonProblem:
                raise
            except json.JSONDecodeError as exc:
                raise JsonProblem(f"invalid JSON: {exc.msg}", exc.lineno) from None
            except RecursionError:
                raise JsonProblem(f"nested too deeply (more than {MAX_JSON_DEPTH} levels)") \
                    from None
            except ValueError as exc:  # e.g. an integer with more than 4300 digits
                raise JsonProblem(f"invalid JSON: {str(exc).split(':')[0][:120]}") from None
            yield value
            at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
            sep = text[at:at + 1]
            if sep == "]":
                at += 1
                break
            if sep != ",":
                raise _problem("Expecting ',' delimiter", text, at)
            at = _SPACE.match(text, at + 1).end()  # type: ignore[union-attr]
    at = _SPACE.match(text, at).end()  # type: ignore[union-attr]
    if at != len(text):
        raise _problem("Extra data", text, at)


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
