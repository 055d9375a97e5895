"""An inventory with three findings (one suppressed) for the SARIF and OCSF tests, and the
real CLI entry point to run `nhictl check` over it."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft4Validator, Draft202012Validator
from ocsf_json_schema import OcsfJsonSchemaEmbedded, get_ocsf_schema

from nhictl.cli.main import run
from nhictl.exporters.ocsf import OCSF_VERSION
from tests.checks.store_helpers import add_binding, make_inventory

DATA = Path(__file__).parent / "data"
OFFBOARDED = "b-00000000a1"  # owner_offboarded: critical
WIDE = "b-00000000a2"  # scope_exceeds_purpose: high (files:read)
ACCEPTED = "b-00000000a3"  # owner_offboarded, suppressed with a ticket


def nhictl(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        run(list(args))
    out, err = capsys.readouterr()
    return int(exc.value.code or 0), out, err


def make_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("NHICTL_DB", str(tmp_path / "inv.db"))
    monkeypatch.setenv("NHICTL_NOW", "2026-06-01T12:00:00Z")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("NHICTL_CONFIG", raising=False)
    inv = make_inventory(tmp_path)
    add_binding(inv, OFFBOARDED, owner_status="deactivated", owner_email="leaver@example.com",
                token_fingerprint="hmac-sha256:" + "ab" * 16)
    add_binding(inv, WIDE, connection_id="c-a2", owner_id="u2", owner_email="bob@example.com",
                slack_user_id="U2", source_slack_user_id="U2", tenant="globex",
                workspace_id="T2", workspace_name="Globex", source_team_id="T2",
                granted_scopes=["chat:write", "files:read"])
    add_binding(inv, ACCEPTED, connection_id="c-a3", owner_id="u3", owner_status="deactivated",
                owner_email="handover@example.com", slack_user_id="U3",
                source_slack_user_id="U3")
    inv.dispose()
    (tmp_path / "accepted.toml").write_text(
        f'[[suppressions]]\nrule = "owner_offboarded"\nbinding = "{ACCEPTED}"\n'
        'reason = "handover until June"\nticket = "SEC-7"\napprover = "ciso"\n'
        "expires = 2026-06-30\n", encoding="utf-8")
    (tmp_path / "nhictl.toml").write_text('[policy]\nsuppressions = "accepted.toml"\n',
                                          encoding="utf-8")
    return tmp_path


def ocsf_lines(out: str) -> list[dict[str, Any]]:
    assert out.endswith("\n") and "\n\n" not in out
    return [json.loads(line) for line in out.splitlines()]


SARIF_SCHEMA = json.loads((DATA / "sarif-schema-2.1.0.json").read_text(encoding="utf-8"))


def sarif_errors(log: Any) -> list[str]:
    """What the official SARIF 2.1.0 schema (JSON Schema draft-04) says is wrong."""
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in Draft4Validator(SARIF_SCHEMA).iter_errors(log)]


@cache
def ocsf_validator(class_uid: int) -> Draft202012Validator:
    """The OCSF class's JSON Schema, built by ocsf-json-schema from the schema.ocsf.io
    export of the OCSF version nhictl targets (no profiles)."""
    ocsf = OcsfJsonSchemaEmbedded(get_ocsf_schema(version=OCSF_VERSION))
    schema = ocsf.get_class_schema(class_name=ocsf.lookup_class_name_from_uid(class_uid),
                                   profiles=[])
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


def ocsf_errors(event: dict[str, Any]) -> list[str]:
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in ocsf_validator(event["class_uid"]).iter_errors(event)]
