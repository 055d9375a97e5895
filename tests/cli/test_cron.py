"""Cron-grade behaviour of the CLI: one writer at a time, quiet success, JSON logs."""

from __future__ import annotations

import json
import os
import sqlite3
from pathlib import Path

import pytest

from nhictl.cli.main import run
from nhictl.sandbox.dataset import generate
from nhictl.store.lock import lock_path_for, read_holder, write_lock


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    capsys.readouterr()
    with pytest.raises(SystemExit) as exc:
        run(list(argv))
    out, err = capsys.readouterr()
    code = exc.value.code
    return (code if isinstance(code, int) else 0), out, err


@pytest.fixture
def world(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> tuple[Path, Path, list[str]]:
    db = tmp_path / "data" / "inv.db"
    export = tmp_path / "export.json"
    data = generate(12).export()
    fd = os.open(export, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        json.dump(data, fh)
    tokens = [c[k] for c in data for k in ("access_token", "refresh_token") if k in c]
    code, _, err = cli(capsys, "--db", str(db), "init")
    assert code == 0, err
    return db, export, tokens


def test_second_writer_exits_4_naming_the_holder(
    world: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, export, _ = world
    with write_lock(db, 0.0, "nhictl revoke --yes b-1234"):
        code, out, err = cli(capsys, "--db", str(db), "reconcile", "-s", f"file:{export}",
                             "--no-validate")
        assert code == 4
        assert out == ""
        assert "locked by another nhictl" in err
        assert f"pid {os.getpid()}" in err and "nhictl revoke --yes b-1234" in err
        assert "--lock-timeout" in err
        assert len(err.strip().splitlines()) <= 2  # one error line and a hint
        # init is a writer too
        code, _, err = cli(capsys, "--db", str(db), "init")
        assert code == 4 and "locked" in err
        # readers never take the lock
        code, out, err = cli(capsys, "--db", str(db), "inventory", "list", "-o", "json")
        assert code == 0, err
        assert json.loads(out)["bindings"] == []
        code, _, err = cli(capsys, "--db", str(db), "events", "-o", "csv")
        assert code == 0, err
    # nothing was written by the refused run: not even a run row
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM runs").fetchone() == (0,)
    code, out, err = cli(capsys, "--db", str(db), "reconcile", "-s", f"file:{export}",
                         "--no-validate")
    assert code == 0, err


def test_lock_timeout_from_the_environment_waits_then_fails(
    world: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    db, export, _ = world
    monkeypatch.setenv("NHICTL_LOCK_TIMEOUT", "0.2")
    with write_lock(db, 0.0, "holder"):
        code, _, err = cli(capsys, "--db", str(db), "reconcile", "-s", f"file:{export}",
                           "--no-validate")
    assert code == 4
    assert "waited 0.2 s" in err


def test_stale_lock_is_taken_over(
    world: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, export, _ = world
    stale = {"pid": 2**22 + 12345, "command": "nhictl reconcile",  # above any pid_max
             "started_at": "2026-01-01T00:00:00Z"}
    lock_path_for(db).write_text(json.dumps(stale))
    code, _, err = cli(capsys, "--db", str(db), "reconcile", "-s", f"file:{export}",
                       "--no-validate")
    assert code == 0, err
    assert "took over a stale lock" in err and "2026-01-01T00:00:00Z" in err
    assert read_holder(db) is None  # released at the end


def test_quiet_success_prints_nothing(
    world: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, export, _ = world
    code, out, err = cli(capsys, "-q", "--db", str(db), "reconcile", "-s", f"file:{export}",
                         "--no-validate")
    assert code == 0
    assert (out, err) == ("", "")


def test_json_logs_are_one_object_per_line_without_tokens(
    world: tuple[Path, Path, list[str]], capsys: pytest.CaptureFixture[str]
) -> None:
    db, export, tokens = world
    code, out, err = cli(capsys, "--log-format", "json", "--db", str(db), "reconcile",
                         "-s", f"file:{export}", "--no-validate")
    assert code == 0, err
    lines = err.strip().splitlines()
    assert lines
    objects = [json.loads(line) for line in lines]
    for obj in objects:
        assert isinstance(obj, dict)
        assert {"time", "level", "event"} <= obj.keys()
    final = objects[-1]
    assert final["event"] == "reconcile finished"
    assert final["run_id"].startswith("r-")
    assert final["counts"]["seen"] == 12
    assert final["statuses"] == {"unvalidated": 12}
    for token in tokens:
        assert token not in err and token not in out
