"""The ``file:`` source: shapes, awkward encodings, and every malformed input refused."""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import pytest

from nhictl.errors import InputFileError, InsecureFileError, InvalidInputError
from nhictl.secret import Secret
from nhictl.sources.export_file import MAX_FIELD_CHARS, ExportFileSource
from tests.conftest import BROKEN, SAMPLE_CSV, SAMPLE_JSON, sample_records, write_export

# file -> (location in the message, what the message must also name). Location "" means the
# problem is the whole file (no record to point at).
BROKEN_CASES: dict[str, tuple[str, str]] = {
    "bad-json-truncated.json": ("line ", "invalid JSON"),
    "bad-json-trailing-comma.json": ("line 4", "invalid JSON"),
    "bad-jsonl-line3.jsonl": ("line 3", "invalid JSON"),
    "wrong-type-scopes.json": ("record 1", 'field "scopes"'),
    "wrong-type-owner-email.jsonl": ("line 3", 'field "owner_email"'),
    "wrong-type-id.json": ("record 1", 'field "id"'),
    "wrong-type-record.json": ("record 1", "expected an object"),
    "wrong-type-connections.json": ("", "expected a JSON array"),
    "wrong-type-created-at.json": ("record 0", 'field "created_at"'),
    "duplicate-ids.json": ("record 2", "duplicate id 'conn-0001' (first at record 0)"),
    "duplicate-ids.csv": ("line 4", "duplicate id 'conn-0002' (first at line 3)"),
    "missing-id.json": ("record 1", 'missing required field "id"'),
    "missing-id.jsonl": ("line 2", 'missing required field "id"'),
    "missing-id.csv": ("line 3", 'missing required field "id"'),
    "no-id-column.csv": ("line 1", '"id" column'),
    "empty.json": ("", "empty file"),
    "whitespace-only.jsonl": ("", "empty file"),
    "binary-garbage.json": ("", "binary data"),
    "binary-garbage-no-nul.jsonl": ("line 1", "not valid UTF-8"),
    "huge-field.json": ("record 1", 'field "owner_name": longer than'),
    "huge-field.csv": ("line 3", 'field "owner_email": longer than'),
    "huge-integer.json": ("", "invalid JSON"),
    "deep-nesting.json": ("", "nested too deeply"),
    "non-utf8.json": ("line 15", "not valid UTF-8"),
    "non-utf8.csv": ("line 3", "not valid UTF-8"),
    "ragged-long.csv": ("line 3", "more cells than header"),
    "ragged-short.csv": ("line 4", "fewer cells than header"),
    "bad-owner-status.json": ("record 1", 'field "owner_status": \'on-leave\''),
    "bad-owner-status.csv": ("line 2", 'field "owner_status": \'gone\''),
    "bad-date.json": ("record 0", 'field "created_at": \'yesterday\' is not ISO 8601'),
    "bad-date.csv": ("line 3", 'field "created_at"'),
    "bad-token-kind.json": ("record 0", 'field "token_kind"'),
    "lone-surrogate.json": ("record 0", 'field "owner_name": invalid Unicode'),
}
ACCEPTED = sorted(p.name for p in BROKEN.glob("accept-*"))


def read(path: Path, **kwargs: Any) -> list[Any]:
    return ExportFileSource("file:test", path, **kwargs).read_all()


def test_every_broken_fixture_is_listed() -> None:
    on_disk = {p.name for p in BROKEN.iterdir() if p.suffix != ".py"} - set(ACCEPTED)
    assert on_disk == set(BROKEN_CASES)


@pytest.mark.parametrize("name", sorted(BROKEN_CASES))
def test_broken_files_name_file_place_and_field(name: str) -> None:
    where, what = BROKEN_CASES[name]
    path = BROKEN / name
    with pytest.raises(InputFileError) as err:
        read(path)
    exc = err.value
    assert exc.exit_code == 3
    assert exc.path == str(path)
    message = str(exc)
    assert message.startswith(f"{path}:" if where else str(path))
    if where:
        assert exc.where is not None and exc.where.startswith(where), message
    else:
        assert exc.where is None, message
    assert what in message
    assert "\n" not in message and len(message) < 400 + len(str(path))


@pytest.mark.parametrize("name", ACCEPTED)
def test_bom_crlf_and_other_providers_are_accepted(name: str) -> None:
    source = ExportFileSource("file:test", BROKEN / name)
    records = source.read_all()
    if "only-other" in name:
        assert records == [] and source.skipped_other_providers == 2
    elif "other-providers" in name:
        assert [r.connection_id for r in records] == ["conn-0001", "conn-0003"]
        assert source.skipped_other_providers == 2
    else:
        assert [r.connection_id for r in records] == ["conn-0001", "conn-0002", "conn-0003"]
        assert records[1].owner_email == "user2@acme.example"  # no stray \r or BOM
        assert records[0].declared_scopes == ["chat:write"]
        assert all(r.tenant == "acme" for r in records)
        assert source.skipped_other_providers == 0


# -- shapes --------------------------------------------------------------------------------


def _key(r: Any) -> tuple[Any, ...]:
    return (r.connection_id, r.provider, r.tenant, r.owner_id, r.owner_email, r.owner_name,
            r.owner_status, tuple(r.purpose), tuple(r.declared_scopes), r.source_team_id,
            r.source_slack_user_id, r.channel_id, r.created_at, r.token_expires_at,
            r.has_refresh_token)


def test_sample_csv_twin_gives_the_same_records_as_the_json() -> None:
    from_json = read(SAMPLE_JSON)
    from_csv = read(SAMPLE_CSV)
    assert len(from_json) >= 40
    assert [_key(r) for r in from_csv] == [_key(r) for r in from_json]
    tenants = {r.tenant for r in from_json}
    workspaces = {r.source_team_id for r in from_json}
    assert len(tenants) >= 3 and len(workspaces) >= 5


@pytest.mark.parametrize("fmt,suffix", [("json", ".json"), ("connections", ".json"),
                                        ("jsonl", ".jsonl"), ("jsonl", ".ndjson"),
                                        ("csv", ".csv"), ("jsonl", ".txt"), ("csv", ".txt"),
                                        ("json", ""), ("connections", "")])
def test_all_shapes_give_the_same_records(tmp_path: Path, fmt: str, suffix: str) -> None:
    rows = sample_records()[:12]
    path = write_export(tmp_path / f"export{suffix}", rows, fmt=fmt)
    assert [_key(r) for r in read(path)] == [_key(r) for r in read(SAMPLE_JSON)[:12]]


def test_jsonl_in_a_json_named_file(tmp_path: Path) -> None:
    path = write_export(tmp_path / "lines.json", [{"id": "a"}, {"id": "b"}], fmt="jsonl")
    assert [r.connection_id for r in read(path)] == ["a", "b"]


def test_field_normalisation(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.json", [
        {"id": " 42 ", "provider": "Slack", "owner_status": "Deactivated",
         "purpose": "notifications, channel-selection", "scopes": "chat:write,channels:read  x",
         "created_at": "2026-01-02T03:04:05+02:00", "expires_at": "2026-02-01",
         "tenant": "  ", "extra": {"plan": "pro"}, "seats": 3},
        {"id": 7, "scopes": ["b", "a", "a"], "purpose": ["p1"]},
        {"id": "8"},
    ])
    first, second, third = read(path, tenant="default-tenant", default_purpose=["dflt"])
    assert first.connection_id == "42" and first.provider == "slack"
    assert first.owner_status == "deactivated"
    assert first.purpose == ["notifications", "channel-selection"]
    assert first.declared_scopes == ["channels:read", "chat:write", "x"]
    assert first.created_at == "2026-01-02T01:04:05Z"
    assert first.token_expires_at == "2026-02-01T00:00:00Z"
    assert first.tenant == "default-tenant"  # blank in the file: the source default
    assert first.metadata == {"extra": {"plan": "pro"}, "seats": 3}
    assert second.connection_id == "7" and second.declared_scopes == ["a", "b"]
    assert second.purpose == ["p1"]
    assert third.purpose == ["dflt"] and read(path)[2].purpose == []


def test_a_file_without_tokens_may_be_world_readable(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.json", sample_records()[:3], mode=0o644)
    assert len(read(path)) == 3


@pytest.mark.parametrize("field", ["access_token", "refresh_token"])
@pytest.mark.parametrize("loose", [0o644, 0o640, 0o604, 0o620])
def test_token_bearing_file_readable_by_others_is_refused(tmp_path: Path, field: str,
                                                          loose: int) -> None:
    token = "xoxp-fake-" + secrets.token_hex(8)
    path = write_export(tmp_path / "e.json", [{"id": "a", field: token}], mode=loose)
    with pytest.raises(InsecureFileError) as err:
        read(path)
    assert err.value.exit_code == 3
    assert err.value.hint == f"chmod 600 {path}"
    assert token not in str(err.value) and token[:12] not in str(err.value)
    path.chmod(0o600)
    (record,) = read(path)
    assert (record.token is not None) == (field == "access_token")
    assert record.has_refresh_token == (field == "refresh_token")


def test_tokens_stay_wrapped(tmp_path: Path) -> None:
    token = "xoxp-fake-" + secrets.token_hex(8)
    path = write_export(tmp_path / "e.json", [{"id": "a", "access_token": token}])
    (record,) = read(path)
    assert isinstance(record.token, Secret) and record.token.reveal() == token
    assert record.token_kind == "user"
    assert token not in repr(record) and token not in str(record.metadata)


def test_secret_named_unknown_fields_are_dropped(tmp_path: Path) -> None:
    token = "xoxb-fake-" + secrets.token_hex(8)
    path = write_export(tmp_path / "e.json", [
        {"id": "a", "bot_token": "opaque", "client_secret": "s3", "refresh": token,
         "credentials": {"key": "k"}, "integration": {"auth": {"v": 1}}, "plan": "pro"}],
        mode=0o600)
    (record,) = read(path)
    assert record.metadata == {"plan": "pro"}
    assert token not in json.dumps(record.metadata)
    path.chmod(0o644)  # such a file holds secrets: same permission rule as tokens
    with pytest.raises(InsecureFileError):
        read(path)


@pytest.mark.parametrize("notes", [
    "uses xoxb-fake-{hex}", {"deep": ["xoxp-fake-{hex}"]}, "Bearer fake{hex}",
    "https://hooks.slack.com/services/TFAKE/BFAKE/{hex}", "xapp-1-FAKE-{hex}",
    "eyJfake{hex}.eyJfake{hex}.sig", "-----BEGIN RSA PRIVATE KEY-----", "sk_live_fake{hex}",
])
def test_secret_shaped_unknown_values_refuse_the_file(tmp_path: Path, notes: Any) -> None:
    fake = secrets.token_hex(8)
    value = json.loads(json.dumps(notes).replace("{hex}", fake))
    path = write_export(tmp_path / "e.json", [{"id": "a", "notes": value}], mode=0o600)
    with pytest.raises(InputFileError) as err:
        read(path)
    assert err.value.where == "record 0" and 'field "notes' in str(err.value)
    assert fake not in str(err.value)


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(InputFileError, match="no such file"):
        read(tmp_path / "nope.json")
    with pytest.raises(InputFileError, match="directory"):
        read(tmp_path)


@pytest.mark.parametrize("text,where,what", [
    ('[{"id": "a", "scopes": [1, 2]}]', "record 0", 'field "scopes"'),
    ('[{"id": "a", "purpose": {"x": 1}}]', "record 0", 'field "purpose"'),
    ('[{"id": "a", "tenant": 5}]', "record 0", 'field "tenant"'),
    ('[{"id": "a", "access_token": 5}]', "record 0", 'field "access_token"'),
    ('[{"id": true}]', "record 0", 'field "id"'),
    ('[{"id": 1.5}]', "record 0", 'field "id"'),
    ('[{"id": null}]', "record 0", 'missing required field "id"'),
    ('[{"id": "a", "expires_at": "9999-12-31T23:59:59-01:00"}]', "record 0",
     'field "expires_at"'),
    ('[{"id": "a", "scopes": ["\\udc00"]}]', "record 0", 'field "scopes": invalid Unicode'),
    ('{"id": "a"}\n[1]\n', "line 2", "expected an object"),
    ('[{"id": "a"}, {"id": " a "}]', "record 1", "duplicate id"),
    ('[{"id": "1"}, {"id": 1}]', "record 1", "duplicate id"),
])
def test_more_malformed_records(tmp_path: Path, text: str, where: str, what: str) -> None:
    path = tmp_path / "e.json"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(InputFileError) as err:
        read(path)
    assert err.value.where == where and what in str(err.value)


def test_a_field_just_under_the_limit_is_fine(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.json", [{"id": "a", "owner_name": "n" * MAX_FIELD_CHARS}])
    assert read(path)[0].owner_name == "n" * MAX_FIELD_CHARS


def test_csv_field_over_the_csv_module_limit(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("id,owner_name\na," + "z" * 200_000 + "\n", encoding="utf-8")
    with pytest.raises(InvalidInputError) as err:
        read(path)
    assert err.value.exit_code == 3 and "line" in str(err.value)


def test_check_reports_the_count(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.json", sample_records()[:5])
    assert "5" in ExportFileSource("x", path).check()
