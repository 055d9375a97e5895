"""`nhictl demo` ends with the alert it posted to the sandbox Slack."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest

from tests.cli.e2e import nhictl


def test_demo_ends_with_the_alert(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for var in [v for v in os.environ if v.startswith("NHICTL_")]:
        monkeypatch.delenv(var)
    monkeypatch.chdir(tmp_path)
    out = tmp_path / "demo"
    result = nhictl("--no-color", "demo", "--out", str(out))
    assert result.code == 0, result.err
    tail = result.err.rstrip().split("\n\ndemo: the alert nhictl posted to #sec-alerts")
    assert len(tail) == 2, result.err[-2000:]
    alert = tail[1]
    assert "Block Kit blocks" in alert and "new findings (" in alert
    assert "Bindings that went dead" in alert and "(notification n-" in alert
    assert "demo: done" in tail[0]  # the alert is what the demo ends with
    env = {"NHICTL_DB": str(out / "inventory.db"), "NHICTL_CONFIG": str(out / "nhictl.toml")}
    listed = nhictl("inventory", "list", "--source", "nhictl", "-o", "json", env=env)
    own = listed.json()["bindings"]
    assert sorted((b["connection_id"], b["purpose"]) for b in own) == [
        ("ledger:org-audit", ["nhictl-audit-logs"]), ("notify:sec-alerts", ["nhictl-notify"])]
    notifier = next(b["id"] for b in own if b["connection_id"] == "notify:sec-alerts")
    state = nhictl("check", "-o", "json", env=env)
    assert not [f for f in json.loads(state.out)["findings"] if f["binding_id"] == notifier]
