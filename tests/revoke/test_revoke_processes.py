"""Real processes: two `nhictl revoke --yes` at once call Slack once and write one record;
a revoke killed with SIGKILL after Slack revoked is visible and finished by the next one.

The test holds the inventory's write lock while both processes start, and lets go only once
both have opened the lock file (so each has done whatever it does before locking: the old
code planned there, from a state the other process was about to change)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.store import open_inventory, repo
from nhictl.store.lock import lock_path_for, write_lock
from tests.cli.e2e import nhictl
from tests.revoke.test_revoke_e2e import _events, _ids

pytestmark = pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="needs /proc")


def _holds_open(pid: int, path: Path) -> bool:
    try:
        return any(os.readlink(f"/proc/{pid}/fd/{fd}") == str(path)
                   for fd in os.listdir(f"/proc/{pid}/fd"))
    except OSError:  # the process exited, or a descriptor closed while we looked
        return False


def _until_both_wait(procs: list[subprocess.Popen[str]], lock: Path) -> None:
    """Waits for a condition, not for a time: both processes have opened the lock file."""
    deadline = time.monotonic() + 60
    while not all(_holds_open(p.pid, lock) for p in procs):
        assert all(p.poll() is None for p in procs), "a revoke ended before the lock"
        assert time.monotonic() < deadline, "the revokes never reached the lock"
        time.sleep(0.005)


@pytest.mark.sqlite_only("holds the SQLite inventory's file lock (PostgreSQL's advisory "
                         "locks are tested with the lock module)")
def test_concurrent_revokes_call_slack_once(env: dict[str, Any]) -> None:
    e, tokens = env, env["tokens"]
    with SlackSandbox(e["world"]) as slack:
        cli = ["--config", str(e["config"]), "--slack-api-url", slack.url]
        assert nhictl("init", env=e["vars"]).code == 0
        assert nhictl(*cli, "reconcile", env=e["vars"]).code == 0
        grace = _ids(e)["grace"]
        db = Path(e["vars"]["NHICTL_DB"])
        command = [sys.executable, "-m", "nhictl", *cli, "--lock-timeout", "120", "revoke",
                   grace, "--reason", "offboarded", "--yes", "-o", "json"]
        with write_lock(db, 0.0, "test: hold until both revokes wait"):
            procs = [subprocess.Popen(command, env={**os.environ, **e["vars"]}, cwd=e["tmp"],
                                      stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                      text=True) for _ in range(2)]
            _until_both_wait(procs, lock_path_for(db))
        results = [p.communicate(timeout=120) for p in procs]
        assert [p.returncode for p in procs] == [0, 0], results
        assert slack.count("auth.revoke", tokens["grace"]) == 1
    types = [ev["type"] for ev in _events(e, grace)]
    assert types.count("revoked") == 1 and types.count("revoke_started") == 1
    assert sum("already revoked at" in err for _, err in results) == 1


def test_kill_9_after_slack_revoked_is_visible_and_finished(env: dict[str, Any]) -> None:
    e, tokens = env, env["tokens"]
    # Slack revokes the token, then holds its answer: the process dies waiting for it.
    e["world"].faults.append({"method": "auth.revoke", "kind": "slow", "seconds": 600,
                              "times": 1})
    with SlackSandbox(e["world"]) as slack:
        cli = ["--config", str(e["config"]), "--slack-api-url", slack.url]
        assert nhictl("init", env=e["vars"]).code == 0
        assert nhictl(*cli, "reconcile", env=e["vars"]).code == 0
        grace = _ids(e)["grace"]
        proc = subprocess.Popen([sys.executable, "-m", "nhictl", *cli, "revoke", grace, "--reason",
                                 "offboarded", "--yes"],
                                env={**os.environ, **e["vars"]}, cwd=e["tmp"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 60
        while slack.count("auth.revoke") < 1:  # a condition, not a time
            assert proc.poll() is None and time.monotonic() < deadline
            time.sleep(0.005)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        # Visible: the attempt is in the audit trail, nothing claims the binding revoked.
        types = [ev["type"] for ev in _events(e, grace)]
        assert types[-2:] == ["revoke_planned", "revoke_started"]
        plan = nhictl(*cli, "revoke", grace, env=e["vars"])
        assert "interrupted while calling Slack" in plan.out
        evidence = nhictl("report", "evidence", "--since", "1d", "-o", "json", env=e["vars"])
        assert "revoke attempt interrupted" in json.dumps(evidence.json()["open"])
        # Finished by the next revoke, from Slack's own answer (the token is dead now).
        done = nhictl(*cli, "revoke", grace, "--reason", "offboarded", "--yes", "-o", "json",
                      env=e["vars"])
        assert done.code == 0, done.err
        assert done.json()["outcomes"][0]["outcome"] == "already_dead"
        assert slack.count("auth.revoke", tokens["grace"]) == 2
    assert [ev["type"] for ev in _events(e, grace)][-1] == "revoked"
    inv, _ = open_inventory(e["vars"]["NHICTL_DB"])
    with inv.engine.connect() as conn:  # the killed run is recorded as interrupted
        outcomes = sorted(r["outcome"] for r in repo.latest_runs(conn, "revoke"))
    inv.dispose()
    assert outcomes == ["interrupted", "ok"]
