"""The batch fast paths of masking (one C-level scan of a whole batch, then only the values
it flags) mask exactly what the general path masks value by value, and are taken."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhictl import untrusted
from nhictl.exporters.base import Column, cell_text
from nhictl.exporters.csv_cells import cell_batches
from nhictl.exporters.formats import neutralise
from nhictl.untrusted import (
    flagged,
    inert,
    inert_rows,
    mask,
    mask_any,
    mask_records,
    mask_rows,
    register_secret,
)

# Pieces of secret shapes, look-alikes and characters whose lower case differs in length or
# lands in ASCII (Kelvin sign, dotted I, long s, final sigma), separators and escapes.
_PIECES = [*"xoapbeyrtkisc_-.:/=\"' 0123456789AZQ\x1f\x00\n\t\\é", "\u212a", "\u0130",
           "\u017f", "\u03a3", "xox", "xoxb-", "xapp-", "Bearer ", "Basic ", "basic ",
           "token=", "Token: ", "api_key=", 'secret": "', "password=", "://user:pw@",
           "sk_live_", "KEY", "AB12cd34EF56gh78IJ90kl12MN34op56", "Qw3rTy7uI9oP1aS5dF8gH2jK4lZ6x",
           "/tmp/some-long-lowercase-path/export.json", "hmac-sha256:0bbad89f715ba54d",
           "NANGO_SECRET_KEY", "registered-secret-value"]
TEXT = st.lists(st.sampled_from(_PIECES), max_size=14).map("".join)
SCALAR = st.one_of(TEXT, st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False))
JSONISH = st.recursive(SCALAR, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)), max_leaves=8)


@pytest.fixture(autouse=True)
def _registered() -> Iterator[None]:
    register_secret("registered-secret-value")
    yield
    untrusted.forget_secrets()


def _general_suspect(text: str) -> bool:
    known = any(k in text for k in untrusted._KNOWN)
    return untrusted._suspect(text) or known


@settings(max_examples=400, deadline=None)
@given(st.lists(TEXT, max_size=12))
def test_flagged_is_exactly_the_per_text_gate(texts: list[str]) -> None:
    assert flagged(texts) == [i for i, t in enumerate(texts) if _general_suspect(t)]
    # and every text mask changes is among them
    assert {i for i, t in enumerate(texts) if mask(t) != t} <= set(flagged(texts))


ROW = st.lists(st.one_of(TEXT, st.none(), st.integers(), st.booleans()), min_size=1,
               max_size=6)


@settings(max_examples=300, deadline=None)
@given(st.lists(ROW, max_size=30), st.sampled_from(["tuple", "list", "dict"]))
def test_mask_rows_equals_masking_every_string(rows: list[list[Any]], shape: str) -> None:
    def as_shape(values: list[Any]) -> Any:
        if shape == "tuple":
            return tuple(values)
        if shape == "list":
            return list(values)
        return {f"c{i}": v for i, v in enumerate(values)}

    params = [as_shape(r) for r in rows]
    general = [as_shape([mask(v) if type(v) is str else v for v in r]) for r in rows]
    assert mask_rows(params) == general


@settings(max_examples=300, deadline=None)
@given(st.lists(st.dictionaries(st.sampled_from(["a", "b", "c", "d"]), JSONISH, max_size=4),
                max_size=20))
def test_mask_records_equals_mask_any_on_every_value(rows: list[dict[str, Any]]) -> None:
    assert mask_records(rows) == [{k: mask_any(v) for k, v in r.items()} for r in rows]


def test_a_json_escaped_quote_does_not_hide_a_key_value_secret() -> None:
    # Encoded as JSON the value reads api_key\"=..., which the old look at the text missed.
    row = {"note": 'api_key"=hunter2hunter2'}
    assert mask_records([row]) == [{"note": mask_any(row["note"])}] != [row]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.lists(TEXT, min_size=3, max_size=3), max_size=20),
       st.sampled_from(["space", "keep", "escape"]))
def test_inert_rows_equals_inert_on_every_cell(rows: list[list[str]], lines: str) -> None:
    assert inert_rows(rows, lines) == [[inert(c, lines) for c in r] for r in rows]


CELL = st.one_of(TEXT, st.none(), st.booleans(), st.integers(), st.lists(TEXT, max_size=3),
                 st.dictionaries(TEXT, TEXT, max_size=2),
                 st.sampled_from(["=1+2", "-3", "@SUM(A1)", "+x", "\t=1", "\n=1", "\r=1"]))


def _csv(rows: list[Any]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerows(rows)
    return out.getvalue()


@settings(max_examples=150, deadline=None)
@given(st.lists(st.fixed_dictionaries({"a": CELL, "b": CELL, "c": CELL}), max_size=30),
       st.sampled_from([1, 40]))
def test_csv_cell_batches_equal_the_per_cell_path(rows: list[dict[str, Any]],
                                                  times: int) -> None:
    rows = rows * times  # 40: batches of 500 and a remainder
    keys = ["a", "b", "c"]
    general = [[neutralise(inert(Column(k, k).text(r), "keep")) for k in keys] for r in rows]
    fast = [cells for batch in cell_batches(keys, rows) for cells in batch]
    assert _csv(fast) == _csv(general)


def test_csv_cell_batches_of_rows_missing_keys_and_a_single_column() -> None:
    rows: list[dict[str, Any]] = [{"a": "x"}, {"b": ["s", 1]}, {"a": None, "b": True}]
    assert [list(c) for b in cell_batches(["a", "b"], rows) for c in b] == \
        [["x", None], [None, "s 1"], [None, "yes"]]
    assert [list(c) for b in cell_batches(["b"], rows) for c in b] == \
        [[None], [cell_text(["s", 1])], ["yes"]]


def _plain_rows(n: int) -> list[dict[str, Any]]:
    return [{"id": f"b-{i:06x}", "email": f"user{i}@example.com", "scopes": ["chat:write"],
             "at": "2026-01-01T00:00:00Z", "none": None} for i in range(n)]


def test_the_batch_paths_look_at_no_value_one_by_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """Plain batches (and plain rows next to one suspect row) never take the per-value
    gate: the old per-row fallbacks called it once per row."""
    calls: list[str] = []
    real = untrusted._suspect

    def counting(text: str) -> bool:
        calls.append(text)
        return real(text)

    monkeypatch.setattr(untrusted, "_suspect", counting)
    rows = _plain_rows(2000)
    rows[1234]["email"] = "see xoxb-1-2-3"
    cells = [c for batch in cell_batches(["id", "email", "scopes", "at", "none"], rows)
             for c in batch]
    assert cells[1234][1] == "see xox…" and cells[1233][1] == "user1233@example.com"
    assert len(calls) <= 1  # the one suspect cell, in mask()
    calls.clear()
    tuples = [tuple(r.values())[:2] for r in rows]
    masked = mask_rows(tuples)
    assert masked[1234] == ("b-0004d2", "see xox…") and masked[0] is tuples[0]
    assert len(calls) <= 3  # the suspect row only: in mask_row, then mask() per string
    calls.clear()
    assert inert_rows([["a", "b"]] * 2000, "keep") == [["a", "b"]] * 2000
    assert mask_records([{"a": "b"}] * 2000) == [{"a": "b"}] * 2000
    assert calls == []


def test_one_scan_finds_a_secret_after_many_plain_texts() -> None:
    texts = [f"plain text {i}" for i in range(5000)] + ["xoxp-1-2"] + ["also plain"] * 10
    assert flagged(texts) == [5000]
    assert flagged(["x" * 40, "Qw3rTy7uI9oP1aS5dF8gH2jK4lZ6xC0vB"]) == [1]
    assert flagged(["İ" * 3 + "Key=1", "ok", "\u212aey=1"]) == [0, 2]
