"""What a new user meets when following the README by hand (QA walkthrough findings)."""

from __future__ import annotations

import os
import re
import secrets
from pathlib import Path

import pytest

from tests.conftest import Cli, write_export
from tests.engines import InventoryDb


def _token() -> str:
    return f"xoxp-fake-{secrets.token_hex(8)}"


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_inventory_show_escapes_look_alike_scopes_like_inventory_list(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    fake = "chat:wr\u0456te"  # Cyrillic i: reads as chat:write
    write_export(tmp_path / "x.json", [{"id": "c1", "owner_email": "a@acme.example",
                                         "scopes": ["chat:write", fake],
                                         "access_token": _token()}])
    assert cli("reconcile", "--no-validate", "--source", f"file:{tmp_path / 'x.json'}").code == 0
    (row,) = cli("inventory", "list", "-o", "json").json()["bindings"]
    shown = cli("inventory", "show", row["id"])
    assert shown.code == 0, shown
    assert "chat:wr\\u0456te" in shown.out and fake not in shown.out


README = Path(__file__).resolve().parents[2] / "README.md"


def _readme_export_section() -> str:
    text = README.read_text()
    start = text.index("An export (`file:` source)")
    return text[start:text.index("Validation settings live", start)]


def test_readme_documents_every_export_field_the_reader_knows() -> None:
    from nhictl.sources.export_file import KNOWN

    section = _readme_export_section()
    documented = {name for row in section.splitlines() if row.startswith("| `")
                  for name in re.findall(r"`([a-z_]+)`", row.split("|")[1])}
    assert documented == KNOWN


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_readme_csv_export_example_reconciles_as_written(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    section = _readme_export_section()
    example = section[section.index("```csv") + len("```csv"):].split("```")[0].strip()
    path = tmp_path / "connections.csv"
    path.write_text(example.replace("xoxp-...", _token()) + "\n")
    path.chmod(0o600)
    result = cli("reconcile", "--no-validate", "--source", f"file:{path}")
    assert result.code == 0, result
    (row,) = cli("inventory", "list", "-o", "json").json()["bindings"]
    assert (row["owner_email"], row["tenant"], row["token_kind"]) == (
        "ada@acme.example", "acme", "user")
    assert row["declared_scopes"] == ["chat:write"] and row["purpose"] == ["notifications"]


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_unknown_source_without_config_reads_as_a_sentence(cli: Cli, initialized: Path) -> None:
    result = cli("reconcile", "--source", "nope")
    assert result.code == 2, result
    assert "unknown source 'nope' (no source is configured)" in result.err
    assert "configured: none configured" not in result.err


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_nango_bot_binding_is_the_bot_user_and_raises_no_false_identity_mismatch(
    tmp_path: Path,
    inventory_db: InventoryDb,
) -> None:
    # Slack's oauth.v2.access (as Nango keeps it in credentials.raw): the bot token acts as
    # bot_user_id, authed_user.id is the installer. Recording the installer as the bot's
    # identity made every bot+user connection a critical identity_mismatch.
    from nhictl.sandbox.brokers import NangoSandbox
    from nhictl.sandbox.slack_server import SlackSandbox
    from tests.cli.e2e import nhictl
    from tests.cli.test_brokers_truth_e2e import _world
    from tests.cli.test_nango_revoke_e2e import nango_cli

    world = _world()
    env = {**inventory_db.env(), "NANGO_KEY": world.nango["secret_key"]}
    with SlackSandbox(world) as slack, NangoSandbox(world) as nango:
        base = nango_cli(tmp_path, slack.url, nango.url)
        assert nhictl("init", env=env).code == 0
        nhictl(*base, "reconcile", env=env)
        # The plan for the user binding names the Nango connection it deletes, not the
        # binding (the plan reads the token from Nango, so the servers are still up).
        user_id = next(b["id"] for b in nhictl("inventory", "list", "-o", "json", env=env)
                       .json()["bindings"] if b["connection_id"] == "c-both#user")
        plan = nhictl(*base, "revoke", user_id, env=env)
    assert plan.code == 0, plan
    assert "Nango removal of connection c-both\n" in plan.out + "\n", plan.out
    shown = nhictl("inventory", "show", "-o", "json",
                   next(b["id"] for b in nhictl("inventory", "list", "-o", "json", env=env)
                        .json()["bindings"] if b["connection_id"] == "c-both"), env=env).json()
    bot = shown["binding"]
    assert (bot["slack_user_id"], bot["source_slack_user_id"]) == ("UB", "UB")
    assert bot["metadata"]["installer_user_id"] == "U1"
    assert not [e for e in shown["events"] if e["type"] == "identity_changed"]
    findings = nhictl(*base[:2], "check", "-o", "json", env=env).json()
    assert "identity_mismatch" not in {f["rule_id"] for f in findings["findings"]}


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_check_table_what_column_never_starts_with_a_stray_colon(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    records = [{"id": f"c{t}", "owner_email": "ada@acme.example", "tenant": t, "team_id": "T1",
                "slack_user_id": "U1", "access_token": _token()} for t in ("org_a", "org_b")]
    write_export(tmp_path / "x.json", records)
    assert cli("reconcile", "--no-validate", "--source", f"file:{tmp_path / 'x.json'}").code == 0
    table = cli("check", "--rule", "cross_tenant_workspace")
    rows = [line for line in table.out.splitlines() if "cross_tenant_workspace" in line]
    assert len(rows) == 2, table
    assert all(" : " not in row and "Slack user U1 in T1" in row for row in rows), rows


def test_forget_accepts_a_spec_naming_a_configured_sources_place(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    # `sources forget --help`: "The source's name ... (or a spec naming the same place)".
    write_export(tmp_path / "old.json", [{"id": "c1", "owner_email": "a@acme.example",
                                          "access_token": _token()}])
    (tmp_path / "nhictl.toml").write_text(
        '[[sources]]\nname = "export"\nkind = "file"\npath = "old.json"\n')
    assert cli("reconcile", "--no-validate").code == 0
    for spec in ("file:old.json", "file:./old.json", f"file:{tmp_path / 'old.json'}"):
        plan = cli("sources", "forget", spec, "--force")
        assert plan.code == 0, plan
        assert "live binding(s) of source 'export' would become removed" in plan.err, plan


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_an_unreadable_source_is_named_once_in_its_warning(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    spec = f"slack-store:sqlite:{tmp_path / 'nope.db'}"
    result = cli("reconcile", "--no-validate", "--source", spec)
    assert result.code == 4, result
    (line,) = [w for w in result.err.splitlines() if "was not read completely" in w]
    assert line.count(spec) == 1, line
    assert "nope.db not found" in line


def test_a_damaged_key_says_how_to_get_out(cli: Cli, initialized: Path) -> None:
    key = Path(str(initialized) + ".key")
    key.write_bytes(b"")  # truncated by a full disk or a bad restore
    refused = cli("init")
    assert refused.code == 3, refused
    assert "not a 32-byte key" in refused.err and "init --new-key" in refused.err
    assert f"mv {key} {key}.damaged" in refused.err
    # Following the hint works: the key is moved aside, then replaced.
    key.rename(str(key) + ".damaged")
    assert cli("init", "--new-key").code == 0
    assert cli("inventory", "list").code == 0


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_hash_refuses_non_utf8_stdin_cleanly(initialized: Path) -> None:
    import os
    import subprocess
    import sys

    repo = Path(__file__).resolve().parents[2]
    env = {**os.environ,  # NHICTL_DB (and a key file) set by the fixture
           "PYTHONPATH": str(repo) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for locale in ("C.UTF-8", "C"):
        done = subprocess.run([sys.executable, "-m", "nhictl", "hash"], input=b"\xff\xfe\n",
                              capture_output=True, env={**env, "LC_ALL": locale}, timeout=60)
        assert done.returncode == 3, done.stderr
        assert b"not valid UTF-8" in done.stderr and b"Traceback" not in done.stderr
    good = subprocess.run([sys.executable, "-m", "nhictl", "hash"], input=_token().encode(),
                          capture_output=True, env=env, timeout=60)
    assert good.returncode == 0 and good.stdout.startswith(b"hmac-sha256:"), good.stderr


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_out_never_replaces_the_inventory_its_key_or_the_config(
    cli: Cli, initialized: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    inventory_db: InventoryDb,
) -> None:
    write_export(tmp_path / "x.json", [{"id": "c1", "owner_email": "a@acme.example",
                                         "access_token": _token()}])
    (tmp_path / "nhictl.toml").write_text("[policy]\nreview_interval_days = 90\n")
    monkeypatch.chdir(tmp_path)
    assert cli("reconcile", "--no-validate", "--source", "file:x.json").code == 0
    db = Path(initialized)
    files = [Path(str(db) + ".key"), tmp_path / "nhictl.toml"]  # the key: on both engines
    targets = [str(db) + ".key", "nhictl.toml", "./nhictl.toml"]
    if inventory_db.is_sqlite:  # the inventory's own file
        os.symlink(db, tmp_path / "alias.db")
        files.append(db)
        targets += [str(db), str(tmp_path / "alias.db")]
    protected = {p: p.read_bytes() for p in files}
    before = cli("events", "-o", "json").out
    for target in targets:
        for argv in (("report", "access-review", "-o", "csv"), ("report", "evidence"),
                     ("check", "-o", "json")):
            result = cli(*argv, "--out", target)
            assert result.code == 2, (argv, target, result)
            assert "it is not overwritten" in result.err, result
    assert {p: p.read_bytes() for p in protected} == protected
    assert cli("events", "-o", "json").out.split('"events"')[1] == before.split('"events"')[1]


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
def test_absurd_ids_and_ages_are_usage_errors_not_internal_errors(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    write_export(tmp_path / "x.json", [{"id": "c1", "access_token": _token()}])
    assert cli("reconcile", "--no-validate", "--source", f"file:{tmp_path / 'x.json'}").code == 0
    huge = "b-" + "a" * 60_000
    for argv in (("inventory", "show", huge), ("events", "--binding", huge),
                 ("revoke", huge)):
        result = cli(*argv)
        assert result.code == 2, (argv, result.code, result.err[:300])
        assert "binding" in result.err and len(result.err) < 1000
    for argv in (("events", "--since", "99999999d"),
                 ("report", "evidence", "--since", "99999999d")):
        result = cli(*argv)
        assert result.code == 2, (argv, result.code, result.err[:300])
        assert "--since" in result.err


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
@pytest.mark.parametrize("days", [100_000_000, 99_999_999_999_999])
def test_an_out_of_range_policy_window_is_a_config_error(
    cli: Cli, initialized: Path, tmp_path: Path, days: int
) -> None:
    write_export(tmp_path / "x.json", [{"id": "c1", "access_token": _token()}])
    assert cli("reconcile", "--no-validate", "--source", f"file:{tmp_path / 'x.json'}").code == 0
    policy = tmp_path / "policy.toml"
    policy.write_text(f"[policy]\nmax_validation_age_days = {days}\n"
                      f"review_interval_days = {days}\n")
    result = cli("check", "--policy", str(policy))
    assert result.code == 3, result
    assert "policy.max_validation_age_days must be a whole number of days" \
        in result.err


@pytest.mark.engine_neutral("messages, arguments and output; not the store")
@pytest.mark.parametrize("suppressions", [None, "[[suppressions]]\nrule = \"nope\"\n"])
def test_fail_on_with_a_bad_suppressions_file_writes_nothing(
    cli: Cli, initialized: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    suppressions: str | None,
) -> None:
    monkeypatch.chdir(tmp_path)
    write_export(tmp_path / "x.json", [{"id": "c1", "access_token": _token()}])
    if suppressions is not None:
        (tmp_path / "sup.toml").write_text(suppressions)
    (tmp_path / "nhictl.toml").write_text('[policy]\nsuppressions = "sup.toml"\n')
    result = cli("reconcile", "--no-validate", "--source", "file:x.json", "--fail-on", "high")
    assert result.code == 3, result
    assert "sup.toml" in result.err and "run r-" not in result.err
    assert cli("inventory", "list", "-o", "json").json()["bindings"] == []
