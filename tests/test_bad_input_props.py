"""Bad-input proof: any export file or config either works or fails with exit 3 and one clear
error line, never a traceback (exit 70) and never a partial write.

The CLI runs in-process (``nhictl.cli.main.run``) for speed; each test keeps one inventory
and checks that a failed run left its bindings, events and runs exactly as they were.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.props_helpers import SETTINGS, Inventory, dump, encode, write_private

FIELDS = ("id", "provider", "owner_id", "owner_email", "owner_name", "owner_status", "tenant",
          "purpose", "scopes", "team_id", "slack_user_id", "channel_id", "created_at",
          "expires_at", "access_token", "refresh_token", "token_kind", "extra", "notes")


@pytest.fixture(scope="module")
def inventory() -> Iterator[Inventory]:
    with tempfile.TemporaryDirectory(prefix="nhictl-props-") as tmp:
        os.chmod(tmp, 0o700)
        yield Inventory(Path(tmp))


# -- strategies ------------------------------------------------------------------------------

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=30),
    st.sampled_from(["", "slack", "github", "active", "deactivated", "2026-01-01T00:00:00Z",
                     "2026-13-45", "not a date", "chat:write channels:read", "user", "bot",
                     "xoxp-FAKE-notreal", "\x00", "\ud800", "=cmd|' /C calc'!A0"]),
)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)
plausible = st.one_of(
    st.sampled_from(["slack", "active", "deactivated", "acme", "T0ACME001", "U0001",
                     "C0001", "chat:write", "chat:write,channels:read", "notifications",
                     "2026-01-01T00:00:00Z", "2026-11-30", "user", "bot", "xoxp-FAKE-x1",
                     "xoxe-1-FAKE"]),
    st.text(alphabet="abcdefgh:,-_ @.", max_size=20),
)
_word = st.text(alphabet="abcdefgh0123456789_.@-", min_size=1, max_size=12)
_time = st.datetimes(timezones=st.just(__import__("datetime").UTC)).map(
    lambda d: d.isoformat().replace("+00:00", "Z"))
GOOD_FIELDS: dict[str, st.SearchStrategy[Any]] = {
    "provider": st.sampled_from(["slack", "github"]),
    "owner_id": _word, "owner_email": _word, "owner_name": st.text(max_size=20),
    "owner_status": st.sampled_from(["active", "deactivated"]),
    "tenant": _word, "team_id": _word, "slack_user_id": _word, "channel_id": _word,
    "purpose": st.sampled_from(["notifications", "notifications,channel-selection", ""]),
    "scopes": st.one_of(st.lists(st.sampled_from(["chat:write", "channels:read"])),
                        st.just("chat:write channels:read")),
    "created_at": _time, "expires_at": _time,
    "access_token": st.just("xoxp-FAKE-").map(lambda p: p + __import__("secrets").token_hex(6)),
    "token_kind": st.sampled_from(["user", "bot"]),
    "notes": plausible,
}
good_records = st.fixed_dictionaries(
    {"id": st.text(alphabet="abcdef0123456789-", min_size=1, max_size=10)},
    optional=GOOD_FIELDS,
)
records = st.one_of(
    good_records,
    good_records,
    st.dictionaries(st.sampled_from(FIELDS), json_values, max_size=8),
    st.fixed_dictionaries({"id": st.text(min_size=1, max_size=12)},
                          optional={k: json_values for k in FIELDS[1:]}),
    json_values,
)
documents = st.one_of(
    st.lists(good_records, max_size=6),
    st.lists(records, max_size=6),
    st.fixed_dictionaries({"connections": st.one_of(st.lists(records, max_size=6),
                                                    json_values)}),
    json_values,
)


_dump = dump
_encode = encode


@st.composite
def json_files(draw: st.DrawFn) -> bytes:
    choice = draw(st.integers(-2, 3))
    if choice <= 0:
        return _encode(_dump(draw(documents)))
    if choice == 1:  # a valid document, then damaged
        text = _dump(draw(documents))
        cut = draw(st.integers(0, len(text)))
        return _encode(text[:cut] + draw(st.text(max_size=5)) + text[cut + 1:])
    if choice == 2:
        return draw(st.binary(max_size=200))
    return _encode("[" * draw(st.integers(1, 5000)))


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        lines = draw(st.lists(good_records.map(_dump), max_size=6))
    else:
        lines = draw(st.lists(st.one_of(records.map(_dump), st.text(max_size=20),
                                        st.just(""), st.just("   ")), max_size=6))
    sep = draw(st.sampled_from(["\n", "\r\n", "\r"]))
    return _encode(sep.join(lines))


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    if draw(st.booleans()):
        return _encode(draw(st.text(max_size=200)))
    header = draw(st.lists(st.sampled_from(FIELDS), min_size=0, max_size=8))
    if draw(st.booleans()):
        header = ["id", *header]
    rows = draw(st.lists(st.lists(st.text(max_size=15), max_size=len(header) + 2),
                         max_size=6))
    buf = io.StringIO()
    writer = csv.writer(buf)
    writer.writerow(header)
    writer.writerows(rows)
    return _encode(buf.getvalue())


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(k)} = {_toml_value(v)}"
                                for k, v in value.items()) + " }"
    if value is None:
        return '""'
    return json.dumps(str(value))


toml_scalars = st.one_of(
    st.booleans(), st.integers(-5, 2**40), st.floats(allow_nan=False), st.text(max_size=20),
    st.sampled_from(["file", "workos", "nango", "slack-store", "http://127.0.0.1:9/",
                     "https://slack.com/api/", "sqlite:/nonexistent/x.db", "dir:/nonexistent",
                     "WORKOS_API_KEY", "chat:write", "notifications"]),
)
toml_values = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3),
                        st.dictionaries(st.text(min_size=1, max_size=10), toml_scalars,
                                        max_size=3))
SECTION_KEYS = {
    "slack": ["api_url", "concurrency", "rate_limits", "bogus"],
    "policy": ["max_validation_age_days", "review_interval_days", "dead_credential_grace_days",
               "dormant_after_days", "bogus"],
    "purposes.notifications": ["scopes", "transient", "bogus"],
    "purposes.channel-selection": ["scopes", "transient"],
    "sources": ["name", "kind", "path", "store", "api_key_env", "secret_key_env", "base_url",
                "provider_config_key", "default_purpose", "tenant", "bogus"],
    "bogus": ["x"],
}


@st.composite
def config_files(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        return _encode(draw(st.text(max_size=200)))
    parts: list[str] = []
    for section in draw(st.lists(st.sampled_from(sorted(SECTION_KEYS)), max_size=4)):
        header = f"[[{section}]]" if section == "sources" else f"[{section}]"
        parts.append(header)
        keys = draw(st.lists(st.sampled_from(SECTION_KEYS[section]), max_size=5, unique=True))
        for key in keys:
            parts.append(f"{json.dumps(key)} = {_toml_value(draw(toml_values))}")
    text = "\n".join(parts) + "\n"
    if draw(st.integers(0, 5)) == 0:
        cut = draw(st.integers(0, len(text)))
        text = text[:cut] + draw(st.text(max_size=4)) + text[cut:]
    return _encode(text)


# -- properties ------------------------------------------------------------------------------

@SETTINGS
@given(data=json_files())
def test_json_export(inventory: Inventory, data: bytes) -> None:
    path = inventory.path(".json")
    write_private(path, data)
    inventory.check("reconcile", "-s", f"file:{path}", "--no-validate", name=path.name)


@SETTINGS
@given(data=jsonl_files())
def test_jsonl_export(inventory: Inventory, data: bytes) -> None:
    path = inventory.path(".jsonl")
    write_private(path, data)
    inventory.check("reconcile", "-s", f"file:{path}", "--no-validate", name=path.name)


@SETTINGS
@given(data=csv_files())
def test_csv_export(inventory: Inventory, data: bytes) -> None:
    path = inventory.path(".csv")
    write_private(path, data)
    inventory.check("reconcile", "-s", f"file:{path}", "--no-validate", name=path.name)


@pytest.fixture(scope="module")
def valid_export(inventory: Inventory) -> Path:
    path = inventory.root / "valid.json"
    write_private(path, json.dumps([{"id": "c1", "scopes": "chat:write", "tenant": "t"}]).encode())
    return path


@SETTINGS
@given(data=config_files())
def test_config(inventory: Inventory, valid_export: Path, data: bytes) -> None:
    path = inventory.path(".toml")
    write_private(path, data)
    inventory.check("--config", str(path), "reconcile", "-s", f"file:{valid_export}",
                    "--no-validate", name=path.name)


def test_the_properties_can_fail(inventory: Inventory) -> None:
    """Sanity: a known-bad file is refused with exit 3, a known-good one works."""
    bad = inventory.path(".json")
    write_private(bad, b'[{"scopes": "chat:write"}]')
    assert inventory.check("reconcile", "-s", f"file:{bad}", "--no-validate",
                           name=bad.name) == 3
    good = inventory.path(".jsonl")
    write_private(good, b'{"id": "a"}\n{"id": "b", "scopes": ["chat:write"]}\n')
    assert inventory.check("reconcile", "-s", f"file:{good}", "--no-validate",
                           name=good.name) == 0
