"""Issue 11, class 9: operator mistakes get clean exits.

A read-only inventory, a full disk, a 60,000-character id, out-of-range numbers in the policy,
config or command line, ``--out`` aimed at the inventory or its key, and a ``--fail-on``
policy problem: each is one error line and exit 2, 3 or 4 (never 70, never a traceback),
and nothing is half-written. The full disk is real: the CLI runs in a child process whose
file size limit (RLIMIT_FSIZE) is just above the inventory's size, so SQLite's own write fails.
"""

from __future__ import annotations

import json
import os
import resource
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import REPO, Cli, CliResult
from tests.engines import InventoryDb

pytestmark = pytest.mark.engine_neutral("arguments and config refused before the store")

EXPORT: list[dict[str, Any]] = [
    {"id": f"c{i}", "owner_id": f"U{i}", "tenant": "acme", "owner_name": "n" * 200,
     "scopes": ["chat:write"]} for i in range(3)]


def export(tmp_path: Path, records: list[dict[str, Any]] = EXPORT) -> Path:
    path = tmp_path / "export.json"
    path.write_text(json.dumps(records), encoding="utf-8")
    path.chmod(0o600)
    return path


def snapshot(inventory: InventoryDb) -> tuple[int, ...]:
    return tuple(inventory.scalar(f"SELECT count(*) FROM {t}")
                 for t in ("bindings", "events", "runs", "findings"))


def assert_clean_exit(result: CliResult, codes: tuple[int, ...], *needles: str) -> None:
    assert result.code in codes, result
    assert "Traceback" not in result.err and "internal error" not in result.err, result.err
    for needle in needles:
        assert needle in result.err, (needle, result.err)


# -- a read-only inventory -------------------------------------------------------------------

@pytest.mark.sqlite_only("a read-only SQLite file; a read-only PostgreSQL server is "
                         "tests/store/test_engine_pg.py's")
def test_a_read_only_inventory_is_exit_3_not_a_crash(cli: Cli, initialized: Path,
                                                     tmp_path: Path,
                                                     monkeypatch: pytest.MonkeyPatch,
                                                     inventory_db: InventoryDb) -> None:
    # SQLite's read-only open (a root-proof stand-in for a read-only file or mount).
    monkeypatch.setenv("NHICTL_KEY_FILE", f"{initialized}.key")
    url = f"sqlite:///file:{initialized}?mode=ro&uri=true"
    before = snapshot(inventory_db)
    result = cli("--db", url, "reconcile", "-s", f"file:{export(tmp_path)}", "--no-validate")
    assert_clean_exit(result, (3,), "is read-only")
    assert result.err.count("nhictl: error:") == 1
    assert snapshot(inventory_db) == before
    assert cli("--db", url, "inventory", "list").code == 0  # reading still works


# -- a full disk (a real write failure in a child process) -----------------------------------

def run_with_file_size_limit(limit: int, *argv: str, cwd: Path) -> CliResult:
    def limit_writes() -> None:  # runs in the child before exec; SIGXFSZ is ignored by Python
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    env = dict(os.environ, PYTHONPATH=str(REPO))
    proc = subprocess.run([sys.executable, "-m", "nhictl", *argv], capture_output=True,
                          text=True, env=env, cwd=cwd, timeout=120, check=False,
                          preexec_fn=limit_writes)
    return CliResult(proc.returncode, proc.stdout, proc.stderr)


@pytest.mark.sqlite_only("the file size limit makes the SQLite file's own write fail")
def test_a_full_disk_during_reconcile_is_exit_4_and_rolls_back(cli: Cli, initialized: Path,
                                                                tmp_path: Path,
                                                                inventory_db: InventoryDb) -> None:
    many = [{**EXPORT[0], "id": f"c{i}", "owner_id": f"U{i}"} for i in range(3000)]
    path = export(tmp_path, many)
    before = snapshot(inventory_db)
    limit = initialized.stat().st_size + 64 * 1024
    result = run_with_file_size_limit(limit, "reconcile", "-s", f"file:{path}",
                                      "--no-validate", cwd=tmp_path)
    assert_clean_exit(result, (4,), "disk full or I/O error", str(initialized))
    assert result.err.count("nhictl: error:") == 1
    after = snapshot(inventory_db)
    assert after[:2] == before[:2] and after[3] == before[3]  # bindings, events, findings
    # at most the run's opening row, left open
    unfinished = inventory_db.scalar("SELECT count(*) FROM runs WHERE ended_at IS NULL")
    assert after[2] - before[2] == unfinished <= 1
    assert cli("inventory", "list").code == 0  # the inventory is intact


@pytest.mark.sqlite_only("sizes the limit from the SQLite inventory's files")
def test_a_full_disk_writing_out_is_exit_4_and_leaves_no_partial_file(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    many = [{**EXPORT[0], "id": f"c{i}", "owner_id": f"U{i}"} for i in range(1000)]
    assert cli("reconcile", "-s", f"file:{export(tmp_path, many)}", "--no-validate").code == 0
    probe = tmp_path / "probe.json"
    assert cli("report", "access-review", "-o", "json", "--out", str(probe)).code == 0
    out = tmp_path / "report.json"
    with sqlite3.connect(initialized) as conn:  # the write-ahead log folded in: sizes settle
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    # Room for the inventory's own files, not for the report.
    limit = max(p.stat().st_size for p in initialized.parent.iterdir()) + 4096
    assert limit < probe.stat().st_size
    result = run_with_file_size_limit(limit, "report", "access-review", "-o", "json",
                                      "--out", str(out), cwd=tmp_path)
    assert_clean_exit(result, (4,), f"cannot write {out}")
    assert not out.exists() and not list(tmp_path.glob(".report.json.*"))


# -- absurd ids and names on the command line ------------------------------------------------

LONG = "b-" + "7" * 60_000


@pytest.mark.parametrize("argv", [
    ("inventory", "show", LONG), ("revoke", LONG), ("events", "--binding", LONG),
    ("inventory", "list", "--scope", "s" * 60_000), ("inventory", "list", "--owner", LONG),
    ("--db", "d" * 60_000, "inventory", "list"), ("--config", "c" * 60_000, "inventory", "list"),
    ("--actor", "a" * 60_000, "init"),
])
def test_a_60000_character_argument_is_a_clean_error(cli: Cli, initialized: Path,
                                                     tmp_path: Path,
                                                     argv: tuple[str, ...]) -> None:
    # With rows to match, SQLite refuses a LIKE pattern over 50,000 bytes (was exit 70).
    assert cli("reconcile", "-s", f"file:{export(tmp_path)}", "--no-validate").code == 0
    result = cli(*argv)
    assert_clean_exit(result, (2, 3), "rror: ")  # "nhictl: error:" or click's "Error:"
    assert len(result.err) < 2000


def test_a_60000_character_export_id_is_refused(cli: Cli, initialized: Path,
                                                tmp_path: Path, inventory_db: InventoryDb) -> None:
    before = snapshot(inventory_db)
    result = cli("reconcile", "-s", f"file:{export(tmp_path, [{'id': 'i' * 60_000}])}",
                 "--no-validate")
    assert_clean_exit(result, (3,), 'field "id": longer than 512')
    assert snapshot(inventory_db) == before


# -- out-of-range numbers --------------------------------------------------------------------

@pytest.mark.parametrize("argv", [
    ("reconcile", "--concurrency", "0"), ("reconcile", "--concurrency", str(10**9)),
    ("reconcile", "--deadline", "-1"), ("reconcile", "--deadline", "nan"),
    ("reconcile", "--deadline", "inf"), ("reconcile", "--deadline", "1e12"),
    ("--lock-timeout", "-1", "init"), ("--lock-timeout", "nan", "init"),
    ("--lock-timeout", "1e300", "init"), ("events", "--since", "99999999999999d"),
    ("events", "--since", f"{10**30}d"),
    ("sandbox", "slack", "--scenario", "scenario.json", "--port", "70000"),
    ("sandbox", "slack", "--scenario", "scenario.json", "--port", "-1"),
])
def test_out_of_range_numbers_on_the_command_line_are_usage_errors(
    cli: Cli, initialized: Path, tmp_path: Path, argv: tuple[str, ...], inventory_db: InventoryDb
) -> None:
    before = snapshot(inventory_db)
    (tmp_path / "scenario.json").write_text("{}", encoding="utf-8")
    extra = ("-s", f"file:{export(tmp_path)}", "--no-validate") if argv[0] == "reconcile" \
        else ()
    assert_clean_exit(cli(*argv, *extra), (2,))
    assert snapshot(inventory_db) == before


@pytest.mark.parametrize(("table", "line"), [
    ("policy", "max_validation_age_days = -3"),
    ("policy", f"max_validation_age_days = {10**12}"),
    ("policy", f"dormant_after_days = {10**12}"),
    ("policy", "review_interval_days = 99999999999999999999"),
    ("slack", f"concurrency = {10**9}"),
    ("slack", "concurrency = 0"),
])
def test_out_of_range_numbers_in_config_or_policy_are_exit_3_before_writing(
    cli: Cli, initialized: Path, tmp_path: Path, table: str, line: str, inventory_db: InventoryDb
) -> None:
    config = tmp_path / "nhictl.toml"
    config.write_text(f"[{table}]\n{line}\n", encoding="utf-8")
    before = snapshot(inventory_db)
    result = cli("--config", str(config), "reconcile", "-s", f"file:{export(tmp_path)}",
                 "--no-validate", "--fail-on", "high")
    assert_clean_exit(result, (3,), str(config))
    assert snapshot(inventory_db) == before
    if table == "policy":
        policy = tmp_path / "policy.toml"
        policy.write_text(f"[policy]\n{line}\n", encoding="utf-8")
        assert_clean_exit(cli("check", "--policy", str(policy)), (3,), "from 0 to 36500")
        assert snapshot(inventory_db) == before


# -- --out aimed at what nhictl depends on ---------------------------------------------------

@pytest.mark.parametrize("target", ["{db}", "{db}.key", "{db}-wal", "{db}.lock", "nhictl.toml",
                                    "link-to-db"])
def test_out_never_overwrites_the_inventory_its_key_or_the_config(
    cli: Cli, initialized: Path, tmp_path: Path, target: str, inventory_db: InventoryDb
) -> None:
    if not inventory_db.is_sqlite and target not in ("{db}.key", "nhictl.toml"):
        pytest.skip("an SQLite inventory's file: there is none on PostgreSQL")
    assert cli("reconcile", "-s", f"file:{export(tmp_path)}", "--no-validate").code == 0
    (tmp_path / "nhictl.toml").write_text("[slack]\n", encoding="utf-8")
    (tmp_path / "link-to-db").symlink_to(initialized)
    path = Path(target.format(db=initialized))  # the key sits there on both engines
    if not path.is_absolute():
        path = tmp_path / path
    before = {p: p.read_bytes() for p in initialized.parent.iterdir() if p.is_file()}
    before_config = (tmp_path / "nhictl.toml").read_bytes()
    for argv in (("report", "access-review"), ("check",)):
        result = cli(*argv, "--out", str(path))
        assert_clean_exit(result, (2,), "is not overwritten")
    assert (tmp_path / "nhictl.toml").read_bytes() == before_config
    assert cli("inventory", "list").code == 0
    assert Path(f"{initialized}.key").read_bytes() == before[Path(f"{initialized}.key")]


# -- --fail-on: the whole policy is read before anything is written --------------------------

@pytest.mark.parametrize("suppressions", [None, "[[suppress]]\nrule = 'x'\n",
                                          "[[suppressions]]\nrule = 'no_such_rule'\n"])
def test_fail_on_policy_problems_are_found_before_reconcile_writes(
    cli: Cli, initialized: Path, tmp_path: Path, suppressions: str | None, inventory_db: InventoryDb
) -> None:
    sup = tmp_path / "suppressions.toml"
    if suppressions is not None:
        sup.write_text(suppressions, encoding="utf-8")
    config = tmp_path / "nhictl.toml"
    config.write_text(f'[policy]\nsuppressions = "{sup.name}"\n', encoding="utf-8")
    before = snapshot(inventory_db)
    result = cli("--config", str(config), "reconcile", "-s", f"file:{export(tmp_path)}",
                 "--no-validate", "--fail-on", "high")
    assert_clean_exit(result, (3,), str(sup.name))
    assert snapshot(inventory_db) == before


def test_out_never_replaces_a_device_or_named_pipe(cli: Cli, initialized: Path,
                                                    tmp_path: Path) -> None:
    # The atomic write renames a new file over --out: `--out /dev/null` run as root used to
    # replace the system's /dev/null with a regular file (a FIFO stands in for it here).
    pipe = tmp_path / "pipe"
    os.mkfifo(pipe, 0o600)
    (tmp_path / "link-to-pipe").symlink_to(pipe)
    for target in (pipe, tmp_path / "link-to-pipe"):
        for argv in (("report", "access-review", "-o", "csv"), ("report", "evidence"),
                     ("check",)):
            result = cli(*argv, "--out", str(target))
            assert_clean_exit(result, (2,), "named pipe (FIFO)")
            assert "it is not replaced" in result.err
    import stat

    assert stat.S_ISFIFO(os.lstat(pipe).st_mode)
