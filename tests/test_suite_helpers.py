"""The suite's own helpers (tests/conftest.py) give the answers their plain versions give."""

from __future__ import annotations

import secrets

from hypothesis import given, settings
from hypothesis import strategies as st

from tests.conftest import find_secrets, secret_needles


def _plain(haystack: bytes, tokens: list[str]) -> list[bytes]:
    return sorted(n for n in secret_needles(tokens) if n in haystack)


TOKENS = [f"xoxp-1-FAKE{secrets.token_hex(12)}", f"xoxe.xoxb-FAKE{secrets.token_hex(20)}",
          "short-tok", "0123456789a"]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.binary(max_size=40), st.sampled_from(TOKENS).flatmap(
    lambda t: st.tuples(st.integers(0, len(t)), st.integers(0, len(t))).map(
        lambda ab: t.encode()[min(ab):max(ab)]))), max_size=8).map(b"".join))
def test_find_secrets_equals_the_search_for_every_needle(haystack: bytes) -> None:
    assert find_secrets(haystack, TOKENS) == _plain(haystack, TOKENS)


def test_find_secrets_finds_a_window_at_every_offset() -> None:
    token = TOKENS[0]
    for offset in range(13):
        for start in range(len(token) - 12):
            haystack = b"~" * offset + token.encode()[start:start + 12] + b"~" * 7
            assert find_secrets(haystack, [token]) == _plain(haystack, [token]) != []


class _CountingBytes(bytes):
    searches = 0

    def __contains__(self, needle: object) -> bool:
        type(self).searches += 1
        return super().__contains__(needle)  # type: ignore[operator]


def test_find_secrets_searches_only_short_needles_when_no_block_matches() -> None:
    haystack = _CountingBytes(b"nothing secret here, " * 5000)
    assert find_secrets(haystack, TOKENS) == []
    short = [n for n in secret_needles(TOKENS) if len(n) < 11]
    assert _CountingBytes.searches == len(short) < len(secret_needles(TOKENS)) // 10
