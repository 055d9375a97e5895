"""The export format is documented and checked: `nhictl schema export|review-csv`, the
fixtures and the documented examples validate, near-miss field names are warned about
(and refused with `reconcile --strict`)."""

from __future__ import annotations

import csv
import io
import json
import re
import secrets
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from nhictl import schemas
from nhictl.review.report import REVIEW_COLUMNS
from nhictl.sources.export_file import MEANINGFUL, ExportFileSource
from tests.checks.store_helpers import add_binding, make_inventory
from tests.cli.e2e import nhictl, write_private
from tests.conftest import BROKEN, REPO, SAMPLE_CSV, SAMPLE_JSON
from tests.engines import InventoryDb

pytestmark = pytest.mark.engine_neutral("export field names and the packet's columns")

DOC = REPO / "docs" / "export-format.md"


def _validator(name: str) -> Draft202012Validator:
    schema = schemas.load(name)
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema)


def _records(path: Path) -> list[Any]:
    """The file as the schema sees it: the whole JSON document, else one item per line/row
    (CSV rows as text, empty cells absent)."""
    text = path.read_bytes().decode("utf-8-sig")
    if path.suffix == ".csv":
        rows = csv.DictReader(io.StringIO(text, newline=""))
        return [{k: v for k, v in row.items() if v} for row in rows]
    if path.suffix in (".jsonl", ".ndjson"):
        return [json.loads(line) for line in text.splitlines() if line.strip()]
    return [json.loads(text)]


def _errors(path: Path) -> list[str]:
    validator = _validator("export")
    return [e.message for item in _records(path) for e in validator.iter_errors(item)]


ACCEPTED = sorted([SAMPLE_JSON, SAMPLE_CSV, *BROKEN.glob("accept-*")])
# Broken fixtures whose fault is a field's value or a record's shape: the schema says so too
# (the others are faults of the bytes: encoding, JSON syntax, ragged CSV, duplicates).
REFUSED_BY_SCHEMA = [
    "bad-owner-status.json", "bad-owner-status.csv", "bad-date.json", "bad-date.csv",
    "bad-token-kind.json", "wrong-type-scopes.json", "wrong-type-owner-email.jsonl",
    "wrong-type-id.json", "wrong-type-record.json", "wrong-type-connections.json",
    "wrong-type-created-at.json", "missing-id.json", "missing-id.jsonl", "missing-id.csv",
    "huge-field.json", "huge-field.csv",
]


@pytest.mark.parametrize("path", ACCEPTED, ids=lambda p: p.name)
def test_fixtures_nhictl_reads_validate_against_the_export_schema(path: Path) -> None:
    ExportFileSource("file:test", path).read_all()  # nhictl reads it...
    assert _errors(path) == []  # ...and the published schema agrees


@pytest.mark.parametrize("name", REFUSED_BY_SCHEMA)
def test_fixtures_nhictl_refuses_for_a_field_fail_the_export_schema(name: str) -> None:
    assert _errors(BROKEN / name)


def _doc_blocks(lang: str) -> list[str]:
    return re.findall(rf"```{lang}\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.mark.parametrize("shape", ["json", "jsonl", "csv"])
def test_documented_examples_read_and_validate(shape: str, tmp_path: Path) -> None:
    (block,) = _doc_blocks(shape)
    path = tmp_path / f"connections.{shape}"
    path.write_text(block)
    records = ExportFileSource("file:doc", path).read_all()
    assert [r.connection_id for r in records] == ["conn-0001", "conn-0002"]
    assert records[1].declared_scopes == ["channels:read", "chat:write"]
    assert records[1].purpose == ["channel-selection", "notifications"]
    assert records[0].metadata == {"plan": "enterprise"}
    assert _errors(path) == []


def test_every_export_field_is_documented_in_schema_and_page() -> None:
    connection = schemas.load("export")["$defs"]["connection"]["properties"]
    assert set(connection) == set(MEANINGFUL)
    page = DOC.read_text()
    for field in connection:
        assert f"| `{field}` |" in page, field
    assert "docs/export-format.md" in (REPO / "README.md").read_text()


def test_schema_command_lists_and_prints() -> None:
    listed = nhictl("schema")
    assert listed.code == 0, listed.err
    names = [line.split()[0] for line in listed.out.splitlines()]
    assert names == schemas.names() and {"export", "review-csv"} <= set(names)
    printed = nhictl("schema", "export")
    assert printed.code == 0 and json.loads(printed.out) == schemas.load("export")
    unknown = nhictl("schema", "exprt")
    assert unknown.code == 2 and "export, " in unknown.err


def test_review_csv_schema_matches_the_packet(tmp_path: Path, inventory_db: InventoryDb) -> None:
    schema = schemas.load("review-csv")
    assert schema["x-column-order"] == list(REVIEW_COLUMNS)
    inv = make_inventory(inventory_db)
    add_binding(inv, "b-00000000a1", owner_status="deactivated")
    add_binding(inv, "b-00000000a2", connection_id="c-a2", granted_scopes=["=cmd", "admin"])
    inv.dispose()
    env = {**inventory_db.env()}
    packet = nhictl("report", "access-review", "-o", "csv", env=env)
    assert packet.code == 0, packet.err
    rows = list(csv.DictReader(io.StringIO(packet.out, newline="")))
    assert len(rows) == 2
    validator = _validator("review-csv")
    for row in rows:
        assert list(row) == list(REVIEW_COLUMNS)
        assert list(validator.iter_errors(row)) == []
    filled = {**rows[0], "decision": "Keep", "reviewer": "ciso@example.com",
              "decided_at": "2026-05-30"}
    assert list(validator.iter_errors(filled)) == []
    assert list(validator.iter_errors({**filled, "decision": "maybe"}))
    assert list(validator.iter_errors({**filled, "reviewer": ""}))


# -- near-miss field names -----------------------------------------------------------------


@pytest.fixture
def near_miss_export(tmp_path: Path, inventory_db: InventoryDb) -> tuple[dict[str, str], Path]:
    env = {**inventory_db.env()}
    assert nhictl("init", env=env).code == 0
    path = write_private(tmp_path / "export.json", [
        {"id": "c1", "ownerEmail": "grace@acme.example", "scope": "chat:write", "plan": "x"},
        {"id": "c2", "owner-email": "alan@acme.example", "installer_user_id": "U1"},
        {"id": "c3", "accessToken": "xoxp-FAKE-" + secrets.token_hex(8)},
    ])
    return env, path


def test_near_miss_field_names_are_warned_about(
    near_miss_export: tuple[dict[str, str], Path]
) -> None:
    env, path = near_miss_export
    result = nhictl("reconcile", "--no-validate", "-s", f"file:{path}", env=env)
    assert result.code == 0, result.err
    warnings = [line for line in result.err.splitlines() if "did you mean" in line]
    assert len(warnings) == 4, result.err
    assert any("'ownerEmail'" in w and "'owner_email'" in w for w in warnings)
    assert any("'owner-email'" in w and "'owner_email'" in w for w in warnings)
    assert any("'scope'" in w and "'scopes'" in w for w in warnings)
    assert not any("'plan'" in w or "installer_user_id" in w for w in warnings)
    # a misspelt token field is dropped (it looks like a secret): the token is never seen
    assert any("'accessToken'" in w and "dropped" in w and "'access_token'" in w
               for w in warnings)
    assert "xoxp-FAKE" not in result.err


def test_strict_makes_near_misses_exit_3_with_nothing_written(
    near_miss_export: tuple[dict[str, str], Path], inventory_db: InventoryDb
) -> None:
    env, path = near_miss_export
    result = nhictl("reconcile", "--no-validate", "--strict", "-s", f"file:{path}", env=env)
    assert result.code == 3, result.err
    assert "'ownerEmail' (did you mean 'owner_email'?)" in result.err
    assert "Traceback" not in result.err
    assert inventory_db.scalar("SELECT count(*) FROM runs") == 0
    assert inventory_db.scalar("SELECT count(*) FROM bindings") == 0
