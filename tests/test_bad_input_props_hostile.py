"""Property: whatever an export carries in fields nhictl does not know, the run either stops
with exit 3 (nothing written) or stores metadata that is strict JSON and holds nothing named
or shaped like a secret (issue 11, class 4).
"""

from __future__ import annotations

import json
import os
import secrets
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from nhictl.jsonin import loads_strict
from nhictl.sources.export_secrets import secret_named, secret_shape
from tests.props_helpers import SETTINGS, Inventory, dump, encode, write_private

FAKE = secrets.token_hex(6)
SECRET_NAMES = ["refresh", "auth", "credentials", "password", "client_secret", "bot_token",
                "Authorization", "session_cookie", "apiKey", "oauth"]
SECRET_VALUES = [f"Bearer fake{FAKE}fake", f"xoxe-1-FAKE-{FAKE}", f"xapp-1-A-{FAKE}",
                 f"https://hooks.slack.com/services/T0/B0/{FAKE}", f"sk_live_fake{FAKE}",
                 "-----BEGIN PRIVATE KEY-----", f"eyJfake{FAKE}.eyJfake{FAKE}.sig",
                 f"basic {FAKE}{FAKE}"]
names = st.one_of(st.sampled_from(SECRET_NAMES), st.sampled_from(["plan", "note", "meta"]),
                  st.text(max_size=8))
leaves = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**64), 2**64),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(SECRET_VALUES), st.sampled_from(["\ud800", "x" * 70_000, "fine"]),
)
values = st.recursive(leaves, lambda inner: st.one_of(
    st.lists(inner, max_size=3), st.dictionaries(names, inner, max_size=3)), max_leaves=10)
records = st.builds(lambda extra, i: {"id": f"c{i}", **extra},
                    st.dictionaries(names.filter(lambda n: n != "id"), values, max_size=4),
                    st.integers(0, 3))


@pytest.fixture(scope="module")
def inventory() -> Iterator[Inventory]:
    with tempfile.TemporaryDirectory(prefix="nhictl-props-hostile-") as tmp:
        os.chmod(tmp, 0o700)
        yield Inventory(Path(tmp))


def walk(value: Any) -> Iterator[tuple[str | None, Any]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)
    else:
        yield None, value


@SETTINGS
@given(docs=st.lists(records, min_size=1, max_size=3, unique_by=lambda r: r["id"]))
def test_unknown_fields_never_store_a_secret(inventory: Inventory,
                                             docs: list[dict[str, Any]]) -> None:
    path = inventory.path(".json")
    write_private(path, encode(dump(docs)))
    code = inventory.check("reconcile", "-s", f"file:{path}", "--no-validate", name=path.name)
    if code != 0:
        return
    for (text,) in inventory.query("SELECT metadata_json FROM bindings"):
        metadata = loads_strict(text or "{}")  # strict: no NaN, Infinity or lone surrogate
        for key, leaf in walk(metadata):
            assert key is None or not secret_named(key), key
            for item in (key, leaf):
                assert not (isinstance(item, str) and secret_shape(item)), item
        assert FAKE not in json.dumps(metadata)
