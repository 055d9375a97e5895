"""The README's review-cycle commands run as written, in order, against the loopback sandbox.

The commands are read from README.md itself, so when the README drifts from the CLI (a renamed
flag, a changed exit code, a step that needs an option the README does not show) this fails.
Only the environment is set by the test: the inventory path (NHICTL_DB) and the Slack API URL
(NHICTL_SLACK_API_URL), as an operator's shell or cron would.
"""

from __future__ import annotations

import csv
import io
import os
import re
import secrets
import shlex
from pathlib import Path

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import nhictl, write_private
from tests.engines import InventoryDb

README = Path(__file__).resolve().parent.parent / "README.md"
SECTION = "## Using it on your own bindings"
FILLED = "q4-review-filled.csv"


def readme_commands(section: str = SECTION) -> list[list[str]]:
    """The ``$ ...`` lines of the first console block after ``section``, split like a shell."""
    text = README.read_text(encoding="utf-8")
    start = text.index(section)
    block = re.search(r"```console\n(.*?)```", text[start:], re.S)
    assert block, f"no console block under {section!r}"
    return [shlex.split(line[2:], comments=True)
            for line in block.group(1).splitlines() if line.startswith("$ ")]


def _world(tmp: Path) -> tuple[World, dict[str, str]]:
    """Three connections: one over-scoped (a high finding), two plain; returns id -> token."""
    scopes = {"grace": ["chat:write", "channels:history"], "bob": ["chat:write"],
              "ada": ["chat:write"]}
    tokens = {c: "xoxp-fake" + secrets.token_hex(10) for c in scopes}
    world = World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": [{"id": f"U{i}", "team_id": "T1", "name": c}
                  for i, c in enumerate(scopes, 1)],
        "tokens": [{"token": tokens[c], "user_id": f"U{i}", "kind": "user", "team_id": "T1",
                    "scopes": s} for i, (c, s) in enumerate(scopes.items(), 1)],
    })
    # The README's chmod step makes the export private; write it world-readable first.
    write_private(tmp / "connections.json", [
        {"id": c, "tenant": "acme", "owner_email": f"{c}@acme.example",
         "purpose": "notifications", "access_token": tokens[c], "team_id": "T1"}
        for c in scopes])
    (tmp / "connections.json").chmod(0o644)
    return world, tokens


def _fill(packet: Path, out: Path) -> None:
    """The reviewers: revoke bob, keep the rest."""
    rows = list(csv.DictReader(io.StringIO(packet.read_text(encoding="utf-8"))))
    assert rows, "the packet has no rows"
    for row in rows:
        row.update(decision="revoke" if row["connection_id"] == "bob" else "keep",
                   reviewer="ann@example.com", justification="Q4 review")
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    out.write_text(buf.getvalue(), encoding="utf-8")


def test_the_readme_block_is_the_review_cycle() -> None:
    # Guards the test itself: if the block is emptied or reordered, say so here.
    verbs = [" ".join(a for a in cmd[1:3] if not a.startswith("-")) for cmd in readme_commands()]
    assert verbs[0] == "init"
    assert verbs.index("review apply") < verbs.index("revoke") < verbs.index("report evidence")


def test_readme_review_cycle_runs_as_written(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch,
                                             inventory_db: InventoryDb) -> None:
    monkeypatch.chdir(tmp_path)
    world, tokens = _world(tmp_path)
    commands = readme_commands()
    assert commands and all(c[0] in ("nhictl", "chmod") for c in commands), commands
    with SlackSandbox(world) as slack:
        env = {**inventory_db.env(), "NHICTL_SLACK_API_URL": slack.url,
               "NHICTL_ACTOR": "secops"}
        for argv in commands:
            shown = " ".join(argv)
            if argv[0] == "chmod":
                os.chmod(argv[2], int(argv[1], 8))
                continue
            if FILLED in argv and not (tmp_path / FILLED).exists():
                _fill(tmp_path / "q4-review.csv", tmp_path / FILLED)
            result = nhictl(*argv[1:], env=env)
            # `check --fail-on high` exits 1: grace's channels:history exceeds its purpose.
            expected = 1 if argv[1:3] == ["check", "--fail-on"] else 0
            assert result.code == expected, f"$ {shown}\n{result.err}"
            assert "Traceback" not in result.err, shown
        # What the cycle did: bob's token revoked at Slack once, nothing else.
        assert slack.count("auth.revoke") == 1
        assert slack.count("auth.revoke", tokens["bob"]) == 1
    assert (tmp_path / "q4" / "index.csv").is_file()
