"""A JSON object without "connections" gets a message about the shape, not a field."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from nhictl.errors import InputFileError
from nhictl.sources.export_file import ExportFileSource


def test_object_without_connections_names_the_expected_shape(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"items": [{"id": "a"}]}))
    with pytest.raises(InputFileError, match=r'"connections" array \(found \'items\'\)'):
        ExportFileSource("file:export.json", path).read_all()


def test_single_record_object_is_still_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps({"id": "a", "tenant": "acme"}))
    (record,) = ExportFileSource("file:export.json", path).read_all()
    assert record.connection_id == "a" and record.tenant == "acme"


def test_epoch_seconds_are_accepted_for_times(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": "a", "expires_at": 1764000000},
                                {"id": "b", "expires_at": "1764000000"}]))
    a, b = ExportFileSource("file:export.json", path).read_all()
    assert a.token_expires_at == b.token_expires_at == "2025-11-24T16:00:00Z"


def test_epoch_out_of_range_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "export.json"
    path.write_text(json.dumps([{"id": "a", "expires_at": -5}]))
    with pytest.raises(InputFileError, match="out of range"):
        ExportFileSource("file:export.json", path).read_all()


def test_token_in_a_non_token_field_is_refused_without_echoing_it(tmp_path: Path) -> None:
    token = "xoxp-FAKE-" + "ab12" * 6
    path = tmp_path / "export.csv"
    path.write_text(f"id,owner_id,team_id,access_token\nx9,{token},T1,{token}\n")
    path.chmod(0o600)
    with pytest.raises(InputFileError) as caught:
        ExportFileSource("file:export.csv", path).read_all()
    assert 'field "owner_id" holds what looks like a Slack token' in str(caught.value)
    assert token not in str(caught.value)
