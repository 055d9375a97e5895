"""``nhictl sandbox slack --scenario FILE`` serves the scenario until stopped."""

from __future__ import annotations

import json
import secrets
import subprocess
import sys
from pathlib import Path

import httpx


def test_sandbox_command_serves_scenario(tmp_path: Path) -> None:
    token = "xoxp-FAKE-" + secrets.token_hex(8)
    scenario = tmp_path / "scenario.json"
    scenario.write_text(json.dumps({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": "U1", "team_id": "T1", "name": "grace"}],
        "tokens": [{"token": token, "team_id": "T1", "user_id": "U1", "kind": "user",
                    "scopes": ["chat:write"]}],
    }))
    proc = subprocess.Popen(
        [sys.executable, "-m", "nhictl", "sandbox", "slack", "--scenario", str(scenario)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert proc.stdout is not None
        first = proc.stdout.readline().split()  # blocks until the server announces itself
        assert first[0] == "slack"
        url = first[1]
        assert url.startswith("http://127.0.0.1:")
        reply = httpx.post(url + "auth.test", headers={"Authorization": f"Bearer {token}"},
                           timeout=5)
        assert reply.json()["user_id"] == "U1"
        assert reply.headers["x-oauth-scopes"] == "chat:write"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    assert proc.stdout is not None
    rest = proc.stdout.read()  # the process is gone: EOF, never a hang
    # The line that points nhictl at the fake is on stdout with the server lines, so
    # `nhictl sandbox slack ... > env.sh` captures every export a shell needs.
    assert f"export NHICTL_SLACK_API_URL={url}" in rest.splitlines()


def test_sandbox_command_rejects_bad_scenario(tmp_path: Path) -> None:
    scenario = tmp_path / "bad.json"
    scenario.write_text("{not json")
    done = subprocess.run(
        [sys.executable, "-m", "nhictl", "sandbox", "slack", "--scenario", str(scenario)],
        capture_output=True, text=True, timeout=60,
    )
    assert done.returncode == 3, done.stderr
    assert "bad.json" in done.stderr and "Traceback" not in done.stderr
