"""The export file's incremental read: unchanged records skip validation, everything else is
exactly what ``read_all`` gives, and every whole-file refusal still holds."""

from __future__ import annotations

import json
import secrets
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from nhictl.errors import InputFileError, InsecureFileError
from nhictl.models import SourceRecord
from nhictl.sources.base import IncrementalSource, UnchangedRecord
from nhictl.sources.export_file import ExportFileSource
from tests.conftest import BROKEN, sample_records, write_export
from tests.sources.test_export_file import BROKEN_CASES

SALT = b"reconcile-salt-for-tests-0123456789"
FORMATS = [("json", ".json"), ("connections", ".json"), ("jsonl", ".jsonl"), ("csv", ".csv")]


def digests(source: ExportFileSource, salt: bytes = SALT) -> dict[str, str]:
    out: dict[str, str] = {}
    for r in source.collect_incremental({}, salt):
        assert isinstance(r, SourceRecord) and r.content_digest is not None
        out[r.connection_id] = r.content_digest
    return out


class CountingSource(ExportFileSource):
    """Counts the records it validates (the fast path and the general one alike)."""

    validated = 0

    def _validated(self, n: int, raw: Any) -> SourceRecord | None:
        self.validated += 1
        return super()._validated(n, raw)


def _rows() -> list[dict[str, Any]]:
    rows = sample_records()[:10]
    rows[1]["access_token"] = "xoxp-fake-" + secrets.token_hex(6)
    rows[2]["plan"] = "pro"  # metadata
    rows[3]["provider"] = "github"  # another provider: skipped, counted
    return rows


def test_the_export_source_is_incremental(tmp_path: Path) -> None:
    assert isinstance(ExportFileSource("f", tmp_path / "e.json"), IncrementalSource)


@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_first_pass_gives_read_all_records_with_digests(tmp_path: Path, fmt: str,
                                                        suffix: str) -> None:
    path = write_export(tmp_path / f"e{suffix}", _rows(), fmt=fmt)
    plain = ExportFileSource("f", path).read_all()
    source = ExportFileSource("f", path)
    got = [r for r in source.collect_incremental({}, SALT) if isinstance(r, SourceRecord)]
    assert len(got) == len(plain) and all(r.content_digest for r in got)
    assert [replace(r, content_digest=None) for r in got] == plain
    assert [r.token.reveal() if r.token else None for r in got] == \
        [r.token.reveal() if r.token else None for r in plain]
    assert source.skipped_other_providers == 1
    assert all(r.content_digest is None for r in plain)  # no salt, no digest
    assert len({r.content_digest for r in got}) == len(got)


@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_unchanged_records_are_not_validated_again(tmp_path: Path, fmt: str,
                                                   suffix: str) -> None:
    path = write_export(tmp_path / f"e{suffix}", _rows(), fmt=fmt)
    known = digests(ExportFileSource("f", path))
    source = CountingSource("f", path)
    got = list(source.collect_incremental(known, SALT))
    assert all(isinstance(r, UnchangedRecord) for r in got)
    assert [r.connection_id for r in got] == list(known)
    first = ExportFileSource("f", path).read_all()
    assert [r.source_team_id for r in got] == [r.source_team_id for r in first]
    assert source.validated == 1  # only the other provider's record, never stored
    assert source.skipped_other_providers == 1


@pytest.mark.parametrize(("fmt", "suffix"), FORMATS)
def test_a_changed_record_is_validated_and_the_rest_are_not(tmp_path: Path, fmt: str,
                                                            suffix: str) -> None:
    rows = _rows()
    path = write_export(tmp_path / f"e{suffix}", rows, fmt=fmt)
    known = digests(ExportFileSource("f", path))
    rows[4]["owner_name"] = rows[4]["owner_name"] + "x"
    write_export(path, rows, fmt=fmt)
    source = CountingSource("f", path)
    got = list(source.collect_incremental(known, SALT))
    changed = [r for r in got if isinstance(r, SourceRecord)]
    assert [r.connection_id for r in changed] == [rows[4]["id"]]
    assert changed[0].owner_name == rows[4]["owner_name"]
    assert changed[0].content_digest != known[rows[4]["id"]]
    assert source.validated == 2  # that record and the other provider's


@pytest.mark.parametrize(("before", "after"), [
    ('"owner_name": "Ada"', '"owner_name":  "Ada"'),  # whitespace inside the record
    ('"owner_name": "Ada"', '"owner_name": "Ad\\u0061"'),  # the same value, escaped
    ('"team_id": "T1"', '"team_id": "T2"'),
])
@pytest.mark.parametrize("fmt", ["json", "jsonl"])
def test_any_byte_of_a_record_counts(tmp_path: Path, before: str, after: str,
                                     fmt: str) -> None:
    recs = ['{"id": "a", "owner_name": "Ada", "team_id": "T1"}', '{"id": "b"}']
    text = ("[" + ", ".join(recs) + "]") if fmt == "json" else "\n".join(recs)
    path = tmp_path / f"e.{fmt}"
    path.write_text(text, encoding="utf-8")
    known = digests(ExportFileSource("f", path))
    path.write_text(text.replace(before, after), encoding="utf-8")
    got = list(ExportFileSource("f", path).collect_incremental(known, SALT))
    assert [type(r).__name__ for r in got] == ["SourceRecord", "UnchangedRecord"]


def test_a_csv_header_change_revalidates_every_row(tmp_path: Path) -> None:
    path = tmp_path / "e.csv"
    path.write_text("id,owner_name\na,Ada\nb,Bob\n", encoding="utf-8")
    known = digests(ExportFileSource("f", path))
    path.write_text("id,owner_email\na,Ada\nb,Bob\n", encoding="utf-8")  # same row bytes
    got = list(ExportFileSource("f", path).collect_incremental(known, SALT))
    assert all(isinstance(r, SourceRecord) for r in got)
    assert got[0].owner_email == "Ada"  # type: ignore[union-attr]


@pytest.mark.parametrize("change", ["tenant", "default_purpose", "strict", "salt", "shape"])
def test_a_settings_change_revalidates_every_record(tmp_path: Path, change: str) -> None:
    rows = [{"id": "a", "owner_name": "Ada"}, {"id": "b"}]
    path = write_export(tmp_path / "e.json", rows)
    known = digests(ExportFileSource("f", path))
    source = ExportFileSource("f", path)
    salt = SALT
    if change == "tenant":
        source = ExportFileSource("f", path, tenant="acme")
    elif change == "default_purpose":
        source = ExportFileSource("f", path, default_purpose=["x"])
    elif change == "strict":
        source.strict = True
    elif change == "salt":
        salt = SALT + b"2"
    else:  # the same records, wrapped: what the bytes mean may differ, so it is read anew
        write_export(path, rows, fmt="connections")
    got = list(source.collect_incremental(known, salt))
    assert len(got) == 2 and all(isinstance(r, SourceRecord) for r in got)
    assert [r.content_digest for r in got] != list(known.values())  # type: ignore[union-attr]


def test_a_long_salt_is_used_whole(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.json", [{"id": "a"}])
    long_a, long_b = b"s" * 64 + b"a", b"s" * 64 + b"b"
    assert digests(ExportFileSource("f", path), long_a) != \
        digests(ExportFileSource("f", path), long_b)


# -- whole-file guarantees hold when every record is unchanged ------------------------------


@pytest.mark.parametrize("name", sorted(BROKEN_CASES))
def test_broken_files_are_refused_alike_on_both_paths(name: str) -> None:
    path = BROKEN / name
    with pytest.raises(InputFileError) as plain:
        ExportFileSource("f", path).read_all()
    with pytest.raises(InputFileError) as incremental:
        list(ExportFileSource("f", path).collect_incremental({}, SALT))
    assert str(incremental.value) == str(plain.value)
    assert type(incremental.value) is type(plain.value)


def test_a_duplicate_of_an_unchanged_record_is_refused(tmp_path: Path) -> None:
    rows = [{"id": "a"}, {"id": "b"}]
    path = write_export(tmp_path / "e.json", rows)
    known = digests(ExportFileSource("f", path))
    write_export(path, [*rows, {"id": "a"}])
    with pytest.raises(InputFileError) as err:
        list(ExportFileSource("f", path).collect_incremental(known, SALT))
    assert err.value.where == "record 2" and "(first at record 0)" in str(err.value)


def test_a_token_file_made_readable_is_refused_though_unchanged(tmp_path: Path) -> None:
    token = "xoxp-fake-" + secrets.token_hex(8)
    path = write_export(tmp_path / "e.json", [{"id": "a"}, {"id": "b", "refresh_token": token}])
    known = digests(ExportFileSource("f", path))
    path.chmod(0o644)
    with pytest.raises(InsecureFileError):
        list(ExportFileSource("f", path).collect_incremental(known, SALT))


def test_secret_named_fields_and_near_misses_are_found_though_unchanged(
        tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.json", [
        {"id": "a", "ownerEmail": "a@example.com"}, {"id": "b", "client_secret": "s3"}])
    known = digests(ExportFileSource("f", path))
    source = ExportFileSource("f", path)
    got = list(source.collect_incremental(known, SALT))
    assert all(isinstance(r, UnchangedRecord) for r in got)
    assert source.dropped_secret_fields == {"client_secret"}
    assert any("ownerEmail" in w for w in source.field_warnings)
    path.chmod(0o644)  # secret metadata: the file must be private
    with pytest.raises(InsecureFileError):
        list(ExportFileSource("f", path).collect_incremental(known, SALT))
    path.chmod(0o600)
    strict = ExportFileSource("f", path)
    strict.strict = True
    strict_known = {r.connection_id: r.content_digest or "" for r in
                    _without_strict_check(strict)}
    with pytest.raises(InputFileError, match="ownerEmail"):
        list(strict.collect_incremental(strict_known, SALT))


def _without_strict_check(source: ExportFileSource) -> list[SourceRecord]:
    """The first pass's records under --strict, read before the near-miss check raises."""
    out: list[SourceRecord] = []
    try:
        for r in source.collect_incremental({}, SALT):
            assert isinstance(r, SourceRecord)
            out.append(r)
    except InputFileError:
        pass
    assert len(out) == 2
    return out


def test_collect_gives_no_digest(tmp_path: Path) -> None:
    path = write_export(tmp_path / "e.json", [{"id": "a"}])
    assert [r.content_digest for r in ExportFileSource("f", path).collect()] == [None]


def test_unchanged_record_team_id_is_stripped(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text(json.dumps([{"id": 7, "team_id": " T1 "}]), encoding="utf-8")
    known = digests(ExportFileSource("f", path))
    (got,) = ExportFileSource("f", path).collect_incremental(known, SALT)
    assert got == UnchangedRecord("7", "T1")
