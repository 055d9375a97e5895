"""Text read in chunks parses, splits and fails exactly as the whole text does, wherever the
chunks are cut."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhictl.errors import InputFileError
from nhictl.jsonin import JsonProblem, iter_array_chunks, loads_strict
from nhictl.sources.export_stream import csv_lines, decoded_chunks, split_lines

ARRAYS = [
    '[{"id": "a", "n": 1234567, "f": 1.25e3, "s": "caf\\u00e9 \\ud83d\\ude00"}, 7, "x"]',
    ' \n[ 1 ,\n 22 , 333 , true, false, null, [], {}, -0.5e-3 ]\n ',
    "[]", "[1]", "[123456789012345678901234567890]",
    '[{"a": [1, 2]},\n{"b": "\\"quoted\\""}\n,\n3]',
    '[1, 1e400]', '[NaN]', '[1, -Infinity]', '[{"id": "a"},]', '[1 2]', '[1] x', '[1',
    '[{"id": "a"}', '["abc', '["a\nb"]', '[tru]', '[1.]', '[' + '[' * 40 + ']' * 40 + ']',
    '[1' + '0' * 5000 + ']', '[1,\n\n\n  ]',
]


def _cuts(text: str, cuts: list[int]) -> list[str]:
    points = sorted({c % (len(text) + 1) for c in cuts})
    return [text[a:b] for a, b in zip([0, *points], [*points, len(text)], strict=True)]


def _whole(text: str) -> tuple[str, Any]:
    try:
        return "ok", loads_strict(text, check=False)
    except JsonProblem as exc:
        return "error", (exc.message, exc.line)


def _chunked(chunks: list[str]) -> tuple[str, Any]:
    values: list[Any] = []
    try:
        for value, raw in iter_array_chunks(chunks):
            assert _whole(raw) == ("ok", value)  # each element's exact text
            values.append(value)
    except JsonProblem as exc:
        return "error", (exc.message, exc.line)
    return "ok", values


@pytest.mark.parametrize("text", ARRAYS)
def test_every_single_cut_parses_like_the_whole_text(text: str) -> None:
    whole = _whole(text)
    for cut in range(len(text) + 1):
        assert _chunked([text[:cut], text[cut:]]) == whole, cut


@pytest.mark.parametrize("text", ['{"id": 1}', "  x", "\n\n 1"])
def test_anything_but_an_array_is_refused_at_its_first_character(text: str) -> None:
    line = text.count("\n") + 1
    for cut in range(len(text) + 1):
        assert _chunked([text[:cut], text[cut:]]) == ("error", ("invalid JSON: Expecting '['",
                                                                line))


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(ARRAYS), st.lists(st.integers(0, 10**6), max_size=12))
def test_any_chunking_parses_like_the_whole_text(text: str, cuts: list[int]) -> None:
    assert _chunked(_cuts(text, cuts)) == _chunked([text])


LINES = st.lists(st.sampled_from(["a", "bc", "\n", "\r", "\r\n", "\u2028", "\x0b", "\x85",
                                  '"', ",", " ", "é"]), max_size=30).map("".join)


@settings(max_examples=300, deadline=None)
@given(LINES, st.lists(st.integers(0, 10**6), max_size=8))
def test_lines_split_like_the_whole_text(text: str, cuts: list[int]) -> None:
    chunks = _cuts(text, cuts)
    assert list(split_lines(chunks)) == text.splitlines()
    assert list(csv_lines(chunks)) == io.StringIO(text, newline="").readlines()


@pytest.mark.parametrize("chunk", [1, 2, 3, 5, 4096, 1 << 20])
@pytest.mark.parametrize(("data", "line"), [
    (b"ok\nok\n\xff\n", 3), ("é\n".encode() * 3 + b"\xc3", 4), (b"\n\n\xe2\x82\n", 3),
    (b"\xef\xbb\xbf[\n1]", None), ("a\nb€\n".encode(), None), (b"\xef\xbb", 1),
])
def test_utf8_errors_name_the_line_wherever_the_chunks_are_cut(
        tmp_path: Path, chunk: int, data: bytes, line: int | None) -> None:
    path = tmp_path / "f"
    path.write_bytes(data)

    def error(where: str | None, message: str) -> InputFileError:
        return InputFileError(str(path), where, message)

    if line is None:
        text = "".join(decoded_chunks(path, "f", 1 << 20, error, chunk_bytes=chunk))
        assert text == data.decode("utf-8-sig")
        return
    with pytest.raises(InputFileError) as err:
        "".join(decoded_chunks(path, "f", 1 << 20, error, chunk_bytes=chunk))
    assert err.value.where == f"line {line}" and "not valid UTF-8" in str(err.value)


def test_a_nul_among_the_first_bytes_is_binary_however_small_the_chunks(
        tmp_path: Path) -> None:
    path = tmp_path / "f"
    path.write_bytes(b"[" + b" " * 3000 + b"\x00]")

    def error(where: str | None, message: str) -> InputFileError:
        return InputFileError(str(path), where, message)

    with pytest.raises(InputFileError, match="binary data"):
        list(decoded_chunks(path, "f", 1 << 20, error, chunk_bytes=7))
