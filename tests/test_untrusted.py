"""The untrusted-text seam (nhictl.untrusted): masking, code filtering, inert rendering."""

from __future__ import annotations

import json
import secrets
import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhictl import untrusted
from tests.props_helpers import SETTINGS


def fake_token(prefix: str = "xoxp") -> str:
    return f"{prefix}-FAKE-" + secrets.token_hex(12)


@pytest.fixture(autouse=True)
def _no_registered_secrets() -> None:
    untrusted.forget_secrets()


@pytest.mark.parametrize("template", [
    "{t}", "Bearer {t}", "authorization: Bearer {t}", "invalid_auth ({t})", "token={t}",
    '{{"access_token": "{t}"}}', "https://x:{t}@evil.example/", "bearer%20{t}",
])
@pytest.mark.parametrize("prefix", ["xoxp", "xoxb", "xoxe.xoxp", "xoxe", "xapp"])
def test_mask_removes_every_token_shape(template: str, prefix: str) -> None:
    token = fake_token(prefix)
    masked = untrusted.mask(template.format(t=token))
    assert token[5:][-12:] not in masked and token not in masked, masked


def test_mask_removes_registered_keys_and_random_secrets_but_keeps_words() -> None:
    key = "nango-" + secrets.token_hex(16)
    untrusted.register_secret(key)
    assert key not in untrusted.mask(f"error {key}!")
    random_key = "sk_live_" + "aB3dE5fG7hJ9kL1mN3pQ5rS7tU9vW1xY3"
    assert "aB3dE5fG7hJ9kL1m" not in untrusted.mask(f"key {random_key} leaked")
    for plain in ("token_expired", "slack: invalid_auth", "AcmeCorpProductionWorkspace2024",
                  "hmac-sha256:0123456789abcdef", "b-0123456789", "a basic check",
                  "set api_key_env = \"PIPES_KEY\"", "api_key: literal secrets are not allowed",
                  "3f2a9c1e-7b4d-4e8a-9c2f-1a2b3c4d5e6f"):
        assert untrusted.mask(plain) == plain


def test_code_accepts_only_code_shaped_strings() -> None:
    for good in ("invalid_auth", "token_revoked", "not_installed", "needs_reauthorization",
                 "unknown_connection", "ekm_access_denied", "missing_scope"):
        assert untrusted.code(good) == good
    token, key = fake_token(), "sk_test_" + secrets.token_hex(10)
    for bad in (token, key, f"Bearer {token}", "Invalid Auth", "x" * 65, "a\x1b[2J",
                "invalid_auth\u202e", "", None, 42, ["invalid_auth"], "sk_test_abc",
                "deadbeef" + secrets.token_hex(8)):
        assert untrusted.code(bad, "unrecognised_error") == "unrecognised_error", bad


ACTIVE = ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


def assert_inert(text: str, allowed: str = "") -> None:
    for ch in text:
        assert ch in allowed or unicodedata.category(ch) not in ACTIVE, (
            f"active character U+{ord(ch):04X} in {text!r}")


@SETTINGS
@given(st.text())
def test_inert_never_lets_an_active_character_through(text: str) -> None:
    shown = untrusted.inert(text)
    assert_inert(shown)
    assert_inert(untrusted.inert(text, "space"))
    assert_inert(untrusted.inert(text, "keep"), allowed="\n\t")
    assert "\x1b" not in untrusted.md(text) and "\x9b" not in untrusted.md(text)


def test_inert_shows_escapes_instead_of_acting() -> None:
    osc8 = "\x1b]8;;https://evil.example\x1b\\click\x1b]8;;\x1b\\"
    assert untrusted.inert(osc8) == (
        "\\x1b]8;;https://evil.example\\x1b\\click\\x1b]8;;\\x1b\\")
    assert untrusted.inert("admin\u202egnp.exe") == "admin\\u202egnp.exe"
    assert untrusted.inert("a\u200bb\u2066c\ufeff") == "a\\u200bb\\u2066c\\ufeff"
    assert untrusted.inert("\x9b2J") == "\\x9b2J"
    assert untrusted.inert("Zoë Łukasz 山田") == "Zoë Łukasz 山田"  # names stay names


def test_markdown_escaping_neutralises_html_links_and_entities() -> None:
    shown = untrusted.md('<img src=x onerror=alert(1)> [click](https://evil) &#x202e; *b*')
    assert "<" not in shown.replace("\\<", "") and "[" not in shown.replace("\\[", "")
    assert "&" not in shown.replace("\\&", "") and "](" not in shown


SECRETISH_KEYS = st.sampled_from(["access_token", "refresh_token", "api_key", "password",
                                  "client_secret", "has_refresh_token", "credentials",
                                  "authorization", "owner_name", "url", "x"])
JSON_VALUES = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=20)
    | st.sampled_from([fake_token(), "Bearer " + fake_token(), "https://u:p@h.example/x",
                       'a"b\\c', "\\", '\\"']),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(SECRETISH_KEYS, inner,
                                                                 max_size=3),
    max_leaves=10)


@SETTINGS
@given(st.dictionaries(SECRETISH_KEYS, JSON_VALUES, max_size=5), st.booleans())
def test_masking_json_text_keeps_it_json(value: dict[str, object], ascii_only: bool) -> None:
    """The inventory stores JSON text (events, metadata); the write seam masks that text."""
    text = json.dumps(value, ensure_ascii=ascii_only)
    masked = untrusted.mask(text)
    assert isinstance(json.loads(masked), dict), masked
    assert "FAKE-" not in masked


def test_json_flags_and_lists_under_secret_names_are_kept() -> None:
    text = json.dumps({"fields": {"has_refresh_token": [False, True]},
                       "refresh_token": True, "expires_in": 3600})
    assert untrusted.mask(text) == text
