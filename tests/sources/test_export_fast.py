"""The plain-record fast path builds exactly what the general path builds, refuses nothing
itself, and is the path a plain export takes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nhictl.errors import InputFileError
from nhictl.models import SourceRecord
from nhictl.sources.export_fast import KNOWN_FIELDS, PlainRecords
from nhictl.sources.export_file import (
    KNOWN,
    LIST_FIELDS,
    SECRET_FIELDS,
    STRING_FIELDS,
    TIME_FIELDS,
    ExportFileSource,
)

TEXTS = ["", " ", "a", " T1 ", "acme", "Slack", "github", "active", " Deactivated ", "gone",
         "user", "BOT", "x" * 600, "é", "\ud800", "chat:write, users:read", "a,,b  a",
         "xoxb-1-2", "Bearer abcdefghijklmnop", "basic", "ghp_abcdefghijklmnopqrstu",
         "2026-01-02T03:04:05Z", "2026-02-30T00:00:00Z", "2026-01-02", "1767225600",
         "2026-01-02T03:04:05+01:00", "9999-12-31T23:59:59Z", "a\x00b", "n" * 70_000]
TOKENS = ["", "  ", "xoxp-1-fake", "xoxe.xoxb-1-fake", "opaque", "é", None, 5]
VALUES = st.one_of(*[st.sampled_from(TEXTS)] * 6, st.none(), st.integers(-2, 10**12), st.booleans(),
                   st.lists(st.sampled_from(TEXTS[:12]), max_size=3), st.just(1.5),
                   st.just({"x": 1}))
FIELDS = st.sampled_from([*sorted(KNOWN_FIELDS - set(SECRET_FIELDS)), "plan", "ownerEmail"])


@st.composite
def records(draw: Any) -> dict[str, Any]:
    raw: dict[str, Any] = {"id": draw(st.sampled_from(["c1", " c2 ", "", 7, "x" * 513]))}
    raw.update(draw(st.dictionaries(FIELDS, VALUES, max_size=8)))
    for key in SECRET_FIELDS:
        if draw(st.booleans()):
            raw[key] = draw(st.sampled_from(TOKENS))
    return raw


def _general(raw: Any, tenant: str | None, purpose: list[str]) -> SourceRecord | None:
    source = ExportFileSource("f", Path("e.json"), tenant=tenant, default_purpose=purpose)
    return source._record("record 0", raw)


def _same(a: SourceRecord, b: SourceRecord) -> bool:
    reveal = (a.token.reveal() if a.token else None) == (b.token.reveal() if b.token else None)
    return a == b and reveal


@settings(max_examples=400, deadline=None)
@given(records(), st.sampled_from([None, "dflt"]), st.sampled_from([[], ["p"]]))
def test_the_fast_path_builds_what_the_general_path_builds(
        raw: dict[str, Any], tenant: str | None, purpose: list[str]) -> None:
    fast = PlainRecords(tenant, purpose).build(raw)
    if fast is None:
        return  # not plain: the general path decides (and names any problem)
    try:
        general = _general(raw, tenant, purpose)
    except InputFileError as exc:  # pragma: no cover - the failure this test exists for
        raise AssertionError(f"fast path accepted what the general path refuses: {exc}") \
            from None
    assert general is not None and _same(fast, general)


def test_every_field_with_every_value_alone_agrees() -> None:
    for key in sorted(KNOWN_FIELDS - {"id"}):
        for value in [*TEXTS, *TOKENS]:
            raw = {"id": "c1", key: value}
            fast = PlainRecords("dflt", ["p"]).build(raw)
            if fast is not None:
                general = _general(raw, "dflt", ["p"])
                assert general is not None and _same(fast, general), raw


def test_the_varied_records_do_reach_the_fast_path() -> None:
    plain = {"id": " c1 ", "provider": "Slack", "tenant": " acme ", "owner_status": "Active",
             "purpose": "a, b", "scopes": "z y,y", "team_id": "T1", "token_kind": "",
             "created_at": "2026-01-02T03:04:05Z", "expires_at": "",
             "access_token": " xoxe.xoxp-1-fake ", "refresh_token": "r"}
    fast = PlainRecords(None, []).build(plain)
    assert fast is not None and _same(fast, _general(plain, None, []))  # type: ignore[arg-type]
    assert fast.declared_scopes == ["y", "z"] and fast.token_kind == "user"


def test_the_known_field_set_is_the_export_schema() -> None:
    assert {"id", *STRING_FIELDS, *LIST_FIELDS, *TIME_FIELDS, *SECRET_FIELDS} == KNOWN


class CountingSource(ExportFileSource):
    general = 0

    def _record(self, where: str, raw: Any) -> SourceRecord | None:
        self.general += 1
        return super()._record(where, raw)


def test_a_plain_export_never_takes_the_general_path(tmp_path: Path) -> None:
    rows = [{"id": f"conn-{i}", "provider": "slack", "tenant": "acme", "owner_email":
             f"u{i}@acme.example", "owner_status": "active", "purpose": "notifications",
             "team_id": "T0ACME", "scopes": "chat:write", "created_at": "2026-02-02T09:00:00Z",
             "access_token": f"xoxe.xoxp-1-FAKE{i:04d}", "refresh_token": f"xoxe-1-FAKE{i}"}
            for i in range(50)]
    rows.append({"id": "odd", "owner_name": "Zoë"})  # non-ASCII: the general path
    path = tmp_path / "e.json"
    path.write_text(json.dumps(rows), encoding="utf-8")
    path.chmod(0o600)
    source = CountingSource("f", path)
    got = source.read_all()
    assert len(got) == 51 and source.general == 1
    assert got[0].tenant is got[49].tenant  # one string object for a repeated value
