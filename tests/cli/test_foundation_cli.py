"""The foundation commands end to end: init, reconcile --no-validate, inventory, events, hash.

Most tests run the real entry point in-process (``cli``); a few run ``python -m nhictl`` in a
child process (``cli_subprocess``) where a real pipe matters (table width, file state).
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from pathlib import Path
from typing import Any

import pytest

from nhictl.cli.columns import BINDING_CSV
from nhictl.models import binding_id
from tests.conftest import (
    BROKEN,
    NOW,
    SAMPLE_CSV,
    SAMPLE_JSON,
    Cli,
    CliResult,
    NewInventoryDb,
    TokenExport,
    find_secrets,
    sample_records,
    stored_bytes,
    write_export,
)
from tests.engines import InventoryDb
from tests.sources.test_export_file import BROKEN_CASES

DESIGN_BINDING_FIELDS = {
    "id", "source", "connection_id", "provider", "tenant", "owner_id", "owner_email",
    "owner_status", "workspace_id", "workspace_name", "enterprise_id", "slack_user_id",
    "token_kind", "purpose", "channel_id", "declared_scopes", "granted_scopes", "status",
    "status_reason", "token_fingerprint", "token_expires_at", "first_seen_at", "last_seen_at",
    "last_validated_at", "last_used_at", "revoked_at",
}
FP = re.compile(r"hmac-sha256:[0-9a-f]{16}")


def reconcile(cli: Cli, path: Path | str, *extra: str) -> CliResult:
    result = cli("reconcile", "--no-validate", "--source", f"file:{path}", *extra)
    return result


@pytest.fixture
def sample(cli: Cli, initialized: Path, tmp_path: Path) -> Path:
    """The committed sample export, reconciled once (source ``file:<real path>``)."""
    path = tmp_path / "sample.json"
    path.write_bytes(SAMPLE_JSON.read_bytes())
    result = reconcile(cli, "sample.json")
    assert result.code == 0, result
    return path


def listing(cli: Cli, *args: str) -> list[dict[str, Any]]:
    result = cli("inventory", "list", "-o", "json", *args)
    assert result.code == 0, result
    rows: list[dict[str, Any]] = result.json()["bindings"]
    return rows


def conn_ids(rows: list[dict[str, Any]]) -> set[str]:
    return {r["connection_id"] for r in rows}


def one_line_error(result: CliResult) -> str:
    lines: list[str] = [ln for ln in result.err.splitlines() if ln.strip()]
    errors = [ln for ln in lines if ln.startswith("nhictl: error:")]
    assert len(errors) == 1, result
    assert "Traceback" not in result.err
    assert all(ln.startswith(("nhictl: error:", "hint:", "reconcile:", "collect "))
               for ln in lines), result
    return errors[0]


# -- reconcile and reading ----------------------------------------------------------------------


@pytest.mark.engine_neutral("output formats of loaded data")
def test_reconcile_summary_goes_to_stderr(cli: Cli, initialized: Path, tmp_path: Path) -> None:
    write_export(tmp_path / "s.json", sample_records())
    result = reconcile(cli, "s.json")
    assert result.code == 0, result
    assert result.out == ""
    n = len(sample_records())
    assert f"{n} seen, {n} new, 0 changed, 0 removed" in result.err
    quiet = cli("-q", "reconcile", "--no-validate", "--source", "file:s.json")
    assert quiet.code == 0 and quiet.err == "" and quiet.out == ""
    report = reconcile(cli, "s.json", "-o", "json")
    assert report.code == 0
    payload = report.json()
    assert payload["counts"]["seen"] == n and payload["run_id"].startswith("r-")


@pytest.mark.engine_neutral("output formats of loaded data")
def test_inventory_list_json_shape(cli: Cli, sample: Path) -> None:
    result = cli("inventory", "list", "-o", "json")
    assert result.code == 0, result
    doc = result.json()
    assert doc["schema_version"] == 1
    assert doc["generated_at"] == NOW
    rows = doc["bindings"]
    assert len(rows) == len(sample_records())
    for row in rows:
        assert set(row) >= DESIGN_BINDING_FIELDS, DESIGN_BINDING_FIELDS - set(row)
        assert re.fullmatch(r"b-[0-9a-f]{10}", row["id"])
        # An ad-hoc source is named by the real path it reads, however it was spelled.
        assert row["source"] == "file:" + os.path.realpath(sample)
        assert row["id"] == binding_id(row["source"], row["connection_id"])
        assert row["status"] == "unvalidated" and row["provider"] == "slack"
        assert isinstance(row["declared_scopes"], list) and isinstance(row["purpose"], list)
        assert row["first_seen_at"] == row["last_seen_at"] == NOW
    by_conn = {r["connection_id"]: r for r in rows}
    src = {r["id"]: r for r in sample_records()}
    assert by_conn["conn-0001"]["owner_email"] == src["conn-0001"]["owner_email"]
    assert by_conn["conn-0001"]["workspace_id"] == src["conn-0001"]["team_id"]


@pytest.mark.parametrize("args,predicate", [
    (["--tenant", "acme"], lambda r: r.get("tenant") == "acme"),
    (["--workspace", "T0ACME001"], lambda r: r.get("team_id") == "T0ACME001"),
    (["--owner", "ALAN.RITCHIE@globex.example"],
     lambda r: r.get("owner_email") == "alan.ritchie@globex.example"),
    (["--owner", "usr_acme_0003"], lambda r: r.get("owner_id") == "usr_acme_0003"),
    (["--scope", "channels:read"], lambda r: "channels:read" in r.get("scopes", "").split()),
    (["--scope", "admin"], lambda r: "admin" in r.get("scopes", "").split()),
    (["--status", "unvalidated"], lambda r: True),
    (["--status", "active", "--status", "removed"], lambda r: False),
    (["--tenant", "acme", "--scope", "channels:read"],
     lambda r: r.get("tenant") == "acme" and "channels:read" in r.get("scopes", "").split()),
])
def test_inventory_list_filters(cli: Cli, sample: Path, args: list[str], predicate: Any) -> None:
    expected = {r["id"] for r in sample_records() if predicate(r)}
    assert conn_ids(listing(cli, *args)) == expected


def test_status_filter_after_removal(cli: Cli, sample: Path) -> None:
    rows = [r for r in sample_records() if r["id"] != "conn-0005"]
    write_export(sample, rows)
    assert reconcile(cli, "sample.json").code == 0
    assert conn_ids(listing(cli, "--status", "removed")) == {"conn-0005"}
    assert len(listing(cli, "--status", "unvalidated")) == len(rows)
    bad = cli("inventory", "list", "--status", "bogus")
    assert bad.code == 2


@pytest.mark.engine_neutral("output formats of loaded data")
def test_inventory_list_csv_and_markdown(cli: Cli, sample: Path) -> None:
    result = cli("inventory", "list", "-o", "csv", "--tenant", "globex")
    assert result.code == 0, result
    assert result.out.endswith("\r\n")
    rows = list(csv.DictReader(io.StringIO(result.out, newline="")))
    assert list(rows[0].keys()) == [c.key for c in BINDING_CSV]
    expected = {r["id"] for r in sample_records() if r["tenant"] == "globex"}
    assert {r["connection_id"] for r in rows} == expected
    assert all(r["tenant"] == "globex" for r in rows)
    md = cli("inventory", "list", "-o", "markdown", "--tenant", "globex")
    assert md.code == 0
    lines = md.out.strip().splitlines()
    assert lines[0].startswith("|") and re.fullmatch(r"\|[-:| ]+\|", lines[1])
    assert len(lines) == 2 + len(expected)
    empty = cli("inventory", "list", "-o", "markdown", "--tenant", "nobody")
    assert empty.code == 0 and "No rows" in empty.out


@pytest.mark.engine_neutral("output formats of loaded data")
def test_inventory_list_table_when_not_a_tty(cli: Cli, sample: Path) -> None:
    result = cli("inventory", "list")
    assert result.code == 0
    assert "\x1b[" not in result.out  # plain text, no colour codes
    lines = result.out.splitlines()
    assert len(lines) == 2 + len(sample_records())
    assert lines[0].split()[:2] == ["ID", "TENANT"]


def test_inventory_show_by_prefix_and_its_errors(cli: Cli, sample: Path) -> None:
    ids = sorted(r["id"] for r in listing(cli))
    target = ids[0]
    prefix = next(target[:n] for n in range(3, 13)
                  if sum(1 for i in ids if i.startswith(target[:n])) == 1)
    shown = cli("inventory", "show", prefix, "-o", "json")
    assert shown.code == 0, shown
    doc = shown.json()
    assert doc["schema_version"] == 1 and doc["binding"]["id"] == target
    assert [e["type"] for e in doc["events"]] == ["discovered"]
    assert doc["findings"] == []
    assert cli("inventory", "show", target[2:]).code == 0  # without the b-
    table = cli("inventory", "show", target)
    assert table.code == 0 and target in table.out and "discovered" in table.out

    ambiguous = cli("inventory", "show", "b-")
    assert ambiguous.code == 2
    line = one_line_error(ambiguous)
    assert "ambiguous" in line and sum(1 for i in ids if i in line) >= 2
    unknown = cli("inventory", "show", "b-zzzzzz")
    assert unknown.code == 2 and "no binding matches" in one_line_error(unknown)


def test_events_filters_and_formats(cli: Cli, sample: Path, monkeypatch: pytest.MonkeyPatch
                                    ) -> None:
    all_events = cli("events", "-o", "json")
    assert all_events.code == 0
    doc = all_events.json()
    assert doc["schema_version"] == 1
    assert [e["type"] for e in doc["events"]] == ["discovered"] * len(sample_records())
    first = doc["events"][0]
    assert {"seq", "at", "run_id", "binding_id", "type", "actor", "details"} <= set(first)
    assert first["actor"] == "tester"

    # a change one day later
    monkeypatch.setenv("NHICTL_NOW", "2026-11-30T12:00:00Z")
    rows = sample_records()
    rows[3]["owner_email"] = "changed@acme.example"
    write_export(sample, rows)
    assert reconcile(cli, "sample.json").code == 0
    changed_id = binding_id("file:" + os.path.realpath(sample), rows[3]["id"])

    since = cli("events", "--since", "2026-11-30", "-o", "json").json()["events"]
    assert [(e["type"], e["binding_id"]) for e in since] == [("changed", changed_id)]
    assert since[0]["details"]["fields"]["owner_email"][1] == "changed@acme.example"
    recent = cli("events", "--since", "12h", "-o", "json").json()["events"]
    assert [e["type"] for e in recent] == ["changed"]
    per = cli("events", "--binding", changed_id[:9], "-o", "json").json()["events"]
    assert [e["type"] for e in per] == ["discovered", "changed"]
    as_csv = cli("events", "--binding", changed_id, "-o", "csv")
    parsed = list(csv.DictReader(io.StringIO(as_csv.out, newline="")))
    assert [r["type"] for r in parsed] == ["discovered", "changed"]
    assert json.loads(parsed[1]["details"])["fields"]["owner_email"][1] == "changed@acme.example"
    assert cli("events", "--since", "last tuesday").code == 2
    assert cli("events", "--binding", "b-zzzz").code == 2


def test_unchanged_rerun_adds_no_events_and_one_run(cli: Cli, sample: Path,
                                                    inventory_db: InventoryDb) -> None:
    before = cli("events", "-o", "json").json()["events"]
    assert reconcile(cli, "sample.json").code == 0
    assert cli("events", "-o", "json").json()["events"] == before
    runs = inventory_db.rows("select outcome, counts from runs")  # same clock: no order
    assert [r[0] for r in runs] == ["ok", "ok"]
    unchanged = sorted(json.loads(r[1]).get("unchanged", 0) for r in runs)
    assert unchanged[-1] == len(sample_records())


def test_csv_twin_reconciles_to_the_same_bindings(cli: Cli, initialized: Path,
                                                  tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    (tmp_path / "a" / "export").write_bytes(SAMPLE_JSON.read_bytes())
    (tmp_path / "b" / "export").write_bytes(SAMPLE_CSV.read_bytes())
    assert reconcile(cli, "a/export").code == 0
    assert reconcile(cli, "b/export").code == 0
    rows = listing(cli)
    a = {r["connection_id"]: r for r in rows if r["source"].endswith("/a/export")}
    b = {r["connection_id"]: r for r in rows if r["source"].endswith("/b/export")}
    assert len(a) == len(sample_records()) and a.keys() == b.keys()
    skip = {"id", "source", "status_changed_at"}
    for key in a:
        assert {k: v for k, v in a[key].items() if k not in skip} == \
            {k: v for k, v in b[key].items() if k not in skip}


# -- hash and secrets ---------------------------------------------------------------------------


def test_hash_is_a_stable_fingerprint_per_inventory(
    cli: Cli, initialized: Path, tmp_path: Path, new_inventory_db: NewInventoryDb,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token = "xoxp-fake-0123456789abcdef"
    first = cli("hash", stdin=token + "\n")
    assert first.code == 0, first
    assert FP.fullmatch(first.out.strip())
    assert cli("hash", stdin=token).out == first.out
    assert cli("hash", stdin="xoxp-fake-other").out != first.out
    other = new_inventory_db("other")
    if not other.is_sqlite:  # another inventory, another key file
        monkeypatch.setenv("NHICTL_KEY_FILE", str(tmp_path / "other.key"))
    assert cli("--db", other.url, "init").code == 0
    assert cli("--db", other.url, "hash", stdin=token).out != first.out
    assert token not in first.output
    assert cli("hash", stdin="  \n").code == 3
    assert cli("hash", stdin="a\nb\n").code == 3


def test_no_token_byte_reaches_the_database_or_any_output(
    cli: Cli, initialized: Path, token_export: TokenExport, inventory_db: InventoryDb
) -> None:
    tokens = token_export.tokens
    assert find_secrets(token_export.path.read_bytes(), tokens)  # the scanner does find them
    outputs = []
    for argv in (
        ["-v", "reconcile", "--no-validate", "--source", f"file:{token_export.path}"],
        ["reconcile", "--no-validate", "--source", f"file:{token_export.path}", "-o", "json"],
        ["--log-format", "json", "reconcile", "--no-validate", "--source",
         f"file:{token_export.path}"],
        ["inventory", "list"], ["inventory", "list", "-o", "json"],
        ["inventory", "list", "-o", "csv"], ["inventory", "list", "-o", "markdown"],
        ["events"], ["events", "-o", "json"], ["events", "-o", "csv"],
    ):
        result = cli(*argv)
        assert result.code == 0, (argv, result)
        outputs.append(result.output)
        # the database (and its -wal) while the command's connections may still be open
        for name, data in stored_bytes(inventory_db).items():
            assert find_secrets(data, tokens) == [], (argv, name)
    rows = cli("inventory", "list", "-o", "json").json()["bindings"]
    for row in rows[:10]:
        outputs.append(cli("inventory", "show", row["id"], "-o", "json").output)
        outputs.append(cli("inventory", "show", row["id"]).output)
    for c in token_export.connections[:5]:
        outputs.append(cli("hash", stdin=c["access_token"]).output)
    joined = "\n".join(outputs)
    assert find_secrets(joined, tokens) == []
    for name, data in stored_bytes(inventory_db).items():
        assert find_secrets(data, tokens) == [], name
    # fingerprints are stored instead, and `hash` reproduces them
    by_conn = {r["connection_id"]: r for r in rows}
    for c in token_export.connections[:5]:
        fp = cli("hash", stdin=c["access_token"]).out.strip()
        assert by_conn[c["id"]]["token_fingerprint"] == fp
    assert by_conn["conn-0001"]["token_kind"] == "user"


@pytest.mark.engine_neutral("input refused before the inventory is written")
def test_token_file_readable_by_others_is_refused(cli: Cli, initialized: Path,
                                                  token_export: TokenExport,
                                                  inventory_db: InventoryDb) -> None:
    before = inventory_db.dump()
    token_export.path.chmod(0o644)
    result = reconcile(cli, token_export.path)
    assert result.code == 3, result
    line = one_line_error(result)
    assert str(token_export.path) in line and "readable by group or others" in line
    assert f"hint: chmod 600 {token_export.path}" in result.err
    assert find_secrets(result.output, token_export.tokens) == []
    assert inventory_db.dump() == before


# -- bad input ----------------------------------------------------------------------------------


@pytest.mark.engine_neutral("input refused before the inventory is written")
@pytest.mark.parametrize("name", sorted(BROKEN_CASES))
def test_broken_exports_exit_3_and_write_nothing(cli: Cli, initialized: Path, tmp_path: Path,
                                                 name: str, inventory_db: InventoryDb) -> None:
    suffix = Path(name).suffix
    export = tmp_path / f"export{suffix}"
    write_export(export, sample_records()[:10], fmt=suffix.lstrip("."))
    assert reconcile(cli, export.name).code == 0
    export.write_bytes((BROKEN / name).read_bytes())  # same source: a write would sweep
    before = inventory_db.dump()
    result = reconcile(cli, export.name)
    assert result.code == 3, result
    line = one_line_error(result)
    where, what = BROKEN_CASES[name]
    assert line.startswith(f"nhictl: error: {export.name}{':' + where if where else ''}"), line
    assert what in line
    assert inventory_db.dump() == before
    assert len(inventory_db.rows("select * from runs")) == 1


@pytest.mark.engine_neutral("input refused before the inventory is written")
@pytest.mark.parametrize("name", sorted(p.name for p in BROKEN.glob("accept-*")))
def test_awkward_but_valid_exports_are_accepted(cli: Cli, initialized: Path, name: str) -> None:
    result = reconcile(cli, BROKEN / name)
    assert result.code == 0, result
    expected = 0 if "only-other" in name else (2 if "other" in name else 3)
    assert len(listing(cli)) == expected


@pytest.mark.engine_neutral("input refused before the inventory is written")
def test_missing_export_and_bad_specs(cli: Cli, initialized: Path) -> None:
    missing = reconcile(cli, "nope.json")
    assert missing.code == 3 and "nope.json: no such file" in one_line_error(missing)
    assert cli("reconcile", "--no-validate", "--source", "ftp:x").code == 2
    assert cli("reconcile", "--no-validate", "--source", "unknown-name").code == 2
    assert cli("reconcile", "--no-validate").code == 2  # no sources at all
    assert cli("inventory", "list", "--bogus").code == 2


@pytest.mark.engine_neutral("input refused before the inventory is written")
def test_bad_config_exits_3(cli: Cli, initialized: Path, tmp_path: Path) -> None:
    (tmp_path / "nhictl.toml").write_text('[[sources]]\nname = "x"\nkind = "file"\n'
                                          'path = "a.json"\ntoken = "xoxp-literal"\n')
    result = cli("reconcile", "--no-validate", "--source", "file:a.json")
    assert result.code == 3, result
    line = one_line_error(result)
    assert "nhictl.toml" in line and "token" in line and "xoxp-literal" not in result.output


# -- the error handler --------------------------------------------------------------------------


@pytest.mark.engine_neutral("input refused before the inventory is written")
def test_internal_errors_exit_70_with_one_line(cli: Cli, sample: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from nhictl.store import repo

    def broken(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("boom with xoxp-1111-2222-abcdefSECRET inside\nsecond line")

    monkeypatch.setattr(repo, "iter_bindings", broken)
    result = cli("inventory", "list")
    assert result.code == 70, result
    lines = result.err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("nhictl: internal error: RuntimeError: boom")
    assert "Traceback" not in result.err and "-v" in lines[0]
    assert "abcdefSECRET" not in result.err and "second line" not in result.err
    verbose = cli("-v", "inventory", "list")
    assert verbose.code == 70
    assert "Traceback (most recent call last)" in verbose.err
    assert verbose.err.strip().splitlines()[-1].startswith("nhictl: internal error:")


# -- true end to end ----------------------------------------------------------------------------


def test_end_to_end_in_a_child_process(cli_subprocess: Cli, nhictl_env: Path,
                                       tmp_path: Path, inventory_db: InventoryDb) -> None:
    assert cli_subprocess("init").code == 0
    if inventory_db.path is not None:
        assert (inventory_db.path.stat().st_mode & 0o777) == 0o600
    export = tmp_path / "s.json"
    export.write_bytes(SAMPLE_JSON.read_bytes())
    ok = cli_subprocess("reconcile", "--no-validate", "--source", "file:s.json")
    assert ok.code == 0, ok
    table = cli_subprocess("inventory", "list")
    assert table.code == 0
    lines = table.out.splitlines()
    assert len(lines) == 2 + len(sample_records())
    assert max(len(ln) for ln in lines) <= 100
    assert "\x1b[" not in table.out
    events = cli_subprocess("events")
    assert events.code == 0 and max(len(ln) for ln in events.out.splitlines()) <= 100

    # a broken export leaves every byte (on PostgreSQL every row) of the inventory as it was
    def state() -> object:
        if inventory_db.path is None:
            return inventory_db.dump()
        return stored_bytes(inventory_db), inventory_db.path.stat().st_mtime_ns

    before = state()
    export.write_bytes((BROKEN / "duplicate-ids.json").read_bytes())
    bad = cli_subprocess("reconcile", "--no-validate", "--source", "file:s.json")
    assert bad.code == 3, bad
    assert "Traceback" not in bad.err
    assert state() == before

    before_init = cli_subprocess("--db", str(tmp_path / "none.db"), "events")
    assert before_init.code == 3 and "nhictl init" in before_init.err
