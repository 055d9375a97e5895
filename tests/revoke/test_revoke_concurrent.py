"""Two `nhictl revoke --yes` processes at once: Slack is called once, one record is written.

The test holds the inventory's write lock while both processes start, and lets go only once
both have opened the lock file (so each has done whatever it does before locking: the old
code planned there, from a state the other process was about to change)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
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
