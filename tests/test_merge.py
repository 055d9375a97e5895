"""The pure merge of a source record (and a validation) into a bindings row, with events."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from nhictl.merge import dumps_sorted, encode_list, merge
from nhictl.models import SourceRecord, ValidationResult, binding_id

T1, T2, T3 = "2026-11-01T00:00:00Z", "2026-11-02T00:00:00Z", "2026-11-03T00:00:00Z"


def record(**changes: Any) -> SourceRecord:
    base = SourceRecord(
        connection_id="c-1", tenant="acme", owner_id="u1", owner_email="a@acme.example",
        owner_status="active", purpose=["notifications"], declared_scopes=["chat:write"],
        source_team_id="T1", source_slack_user_id="U1", channel_id="C1",
        token_expires_at="2026-12-01T00:00:00Z", metadata={"plan": "pro"},
    )
    return replace(base, **changes)


def first(rec: SourceRecord | None = None, **kw: Any) -> dict[str, Any]:
    m = merge(None, rec or record(), source="src", source_spec=None,
              fingerprint=kw.get("fingerprint"), validation=kw.get("validation"), now=T1,
              run_id="r1")
    return m.row


def again(previous: dict[str, Any], rec: SourceRecord, *, now: str = T2,
          fingerprint: str | None = None, validation: ValidationResult | None = None) -> Any:
    return merge(dict(previous), rec, source="src", source_spec=None, fingerprint=fingerprint,
                 validation=validation, now=now, run_id="r2")


def types(m: Any) -> list[str]:
    return [t for t, _ in m.events]


def test_new_record_is_discovered_unvalidated() -> None:
    m = merge(None, record(), source="src", source_spec="file:/x", fingerprint=None,
              validation=None, now=T1, run_id="r1")
    assert m.is_new and types(m) == ["discovered"]
    assert m.events[0][1] == {"connection_id": "c-1", "source": "src"}
    row = m.row
    assert row["id"] == binding_id("src", "c-1")
    assert row["status"] == "unvalidated"
    assert row["first_seen_at"] == row["last_seen_at"] == T1
    assert row["workspace_id"] == "T1" and row["slack_user_id"] == "U1"
    assert json.loads(row["declared_scopes"]) == ["chat:write"]
    assert json.loads(row["metadata_json"]) == {"plan": "pro"}


def test_unchanged_record_has_no_events_and_only_moves_last_seen() -> None:
    row = first()
    m = again(row, record())
    assert m.events == [] and not m.changed and not m.is_new
    assert m.row["first_seen_at"] == T1 and m.row["last_seen_at"] == T2
    assert {k: v for k, v in m.row.items() if k not in ("last_seen_at", "run_id")} == \
        {k: v for k, v in row.items() if k not in ("last_seen_at", "run_id")}


def test_changes_give_one_event_with_a_field_level_diff() -> None:
    row = first()
    m = again(row, record(owner_email="b@acme.example", declared_scopes=["chat:write", "x"],
                          metadata={"plan": "free"}, purpose=["notifications", "other"]))
    assert types(m) == ["changed"] and m.changed
    assert m.events[0][1] == {"fields": {
        "owner_email": ["a@acme.example", "b@acme.example"],
        "declared_scopes": [["chat:write"], ["chat:write", "x"]],
        "metadata": [{"plan": "pro"}, {"plan": "free"}],
        "purpose": [["notifications"], ["notifications", "other"]],
    }}


def test_scope_order_is_not_a_change() -> None:
    row = first(record(declared_scopes=["b", "a"]))
    assert again(row, record(declared_scopes=["a", "b"])).events == []


def test_fingerprint_change_is_in_the_diff_and_absence_keeps_it() -> None:
    row = first(fingerprint="hmac-sha256:aaaaaaaaaaaaaaaa")
    m = again(row, record(), fingerprint="hmac-sha256:bbbbbbbbbbbbbbbb")
    assert m.events[0][1]["fields"]["token_fingerprint"] == [
        "hmac-sha256:aaaaaaaaaaaaaaaa", "hmac-sha256:bbbbbbbbbbbbbbbb"]
    m2 = again(m.row, record(), fingerprint=None)
    assert m2.events == [] and m2.row["token_fingerprint"] == "hmac-sha256:bbbbbbbbbbbbbbbb"


def test_removed_binding_that_reappears_is_revived() -> None:
    row = {**first(), "status": "removed", "status_reason": "no longer present in its source"}
    m = again(row, record(), now=T3)
    assert types(m) == ["reappeared", "status_changed"]
    assert m.events[1][1] == {"from": "removed", "to": "unvalidated",
                              "reason": "reappeared in its source"}
    assert m.row["status"] == "unvalidated" and m.row["status_changed_at"] == T3
    assert m.row["first_seen_at"] == T1


def test_revoked_is_terminal() -> None:
    row = {**first(), "status": "revoked", "status_reason": "revoked by nhictl"}
    m = again(row, record(), validation=ValidationResult(outcome="ok",
                                                          granted_scopes=["chat:write"]))
    assert m.row["status"] == "revoked" and "status_changed" not in types(m)


def test_validation_ok_activates_and_records_identity() -> None:
    row = first()
    v = ValidationResult(outcome="ok", workspace_id="T1", workspace_name="Acme",
                         slack_user_id="U1", token_kind="user", granted_scopes=["chat:write"])
    m = again(row, record(), validation=v)
    assert types(m) == ["status_changed"]
    assert m.row["status"] == "active" and m.row["last_validated_at"] == T2
    assert m.row["workspace_name"] == "Acme" and json.loads(m.row["granted_scopes"]) == [
        "chat:write"]


def test_dead_tokens_map_to_their_status() -> None:
    row = first()
    expired = again(row, record(), validation=ValidationResult(outcome="dead",
                                                               error="token_expired"))
    revoked = again(row, record(), validation=ValidationResult(outcome="dead",
                                                               error="token_revoked"))
    assert expired.row["status"] == "expired"
    assert revoked.row["status"] == "needs_reconnect"
    assert revoked.row["status_reason"] == "slack: token_revoked"


def test_inconclusive_validation_never_changes_status() -> None:
    row = {**first(), "status": "active"}
    m = again(row, record(), validation=ValidationResult(outcome="inconclusive",
                                                          detail="HTTP 503"))
    assert m.row["status"] == "active" and m.events == []


def test_scope_and_identity_changes_between_validations() -> None:
    ok = ValidationResult(outcome="ok", workspace_id="T1", slack_user_id="U1",
                          granted_scopes=["chat:write"])
    row = again(first(), record(), validation=ok).row
    wider = replace(ok, granted_scopes=["chat:write", "channels:history"], slack_user_id="U9")
    m = again(row, record(), now=T3, validation=wider)
    scope = dict(m.events)["scope_changed"]
    assert scope["added"] == ["channels:history"] and scope["removed"] == []
    assert scope["basis"] == "previous_validation"
    assert dict(m.events)["identity_changed"]["fields"] == {"slack_user_id": ["U1", "U9"]}


def test_dead_connection_keeps_what_was_known() -> None:
    row = first()
    dead = record(dead_reason="invalid_credentials", declared_scopes=[], source_team_id=None,
                  source_slack_user_id=None)
    m = again(row, dead)
    assert json.loads(m.row["declared_scopes"]) == ["chat:write"]
    assert m.row["source_team_id"] == "T1" and m.row["source_slack_user_id"] == "U1"
    assert m.row["status"] == "needs_reconnect"
    assert "changed" not in types(m)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(max_size=8), st.integers(), st.booleans(), st.none()),
                max_size=6), st.booleans())
def test_encoding_a_list_says_what_json_dumps_says(value: list[Any], keep_order: bool) -> None:
    if not keep_order and not all(type(v) is str for v in value):
        value = [v for v in value if type(v) is str]  # only strings are ever sorted
    want = json.dumps(value if keep_order else sorted(value), sort_keys=True)
    assert encode_list(value, keep_order) == want
    assert encode_list(list(value), keep_order) == want  # again: from the cache for strings
    assert dumps_sorted({"b": value, "a": 1}) == json.dumps({"b": value, "a": 1},
                                                            sort_keys=True)


def test_repeated_lists_are_encoded_once() -> None:
    scopes = ["users:read", "chat:write", "zz-unique-for-this-test"]
    first = encode_list(scopes, False)
    assert encode_list(list(scopes), False) is first  # the same text object: not re-encoded
