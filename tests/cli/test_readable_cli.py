"""Issue 12 point 6 in a terminal: no silent cutting (--wide), --list-rules at 80 columns,
NO_COLOR/--no-color without any escape code, help without internal type names, and -o
choices that are exactly what each command supports."""

from __future__ import annotations

import os
import pty
import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from nhictl.checks import all_rules
from nhictl.cli.main import app
from tests.cli.test_foundation_cli import sample  # noqa: F401 (fixture)
from tests.conftest import REPO, Cli, sample_records


def in_a_terminal(args: list[str], env: dict[str, str]) -> str:
    """Run nhictl with stdout and stderr on a pseudo-terminal 80 columns wide."""
    master, slave = pty.openpty()
    import fcntl
    import struct
    import termios

    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 40, 80, 0, 0))
    full = {**os.environ, **env, "PYTHONPATH": str(REPO), "TERM": "xterm-256color"}
    full.pop("COLUMNS", None)
    proc = subprocess.Popen([sys.executable, "-m", "nhictl", *args], stdin=subprocess.DEVNULL,
                            stdout=slave, stderr=slave, env=full)
    os.close(slave)
    chunks = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    proc.wait(timeout=60)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.engine_neutral("help texts, colour and table layout")
@pytest.mark.parametrize("how", ["NO_COLOR", "--no-color"])
def test_no_escape_codes_at_all_without_colour(cli: Cli, sample: Path,  # noqa: F811
                                               how: str) -> None:
    env = {"NHICTL_DB": os.environ["NHICTL_DB"], "NHICTL_NOW": os.environ["NHICTL_NOW"]}
    flags: list[str] = []
    if how == "NO_COLOR":
        env["NO_COLOR"] = "1"
    else:
        flags = ["--no-color"]
    for args in (["inventory", "list"], ["check", "--rule", "legacy_scope"],
                 ["check", "--list-rules"]):
        shown = in_a_terminal([*flags, *args], env)
        assert "\x1b" not in shown, (args, shown[:300])
        assert "b-" in shown or "legacy_scope" in shown
    coloured = in_a_terminal(["check", "--rule", "legacy_scope"], {
        k: v for k, v in env.items() if k != "NO_COLOR"})
    assert "\x1b[" in coloured  # the check can see escape codes when they are there


@pytest.mark.engine_neutral("help texts, colour and table layout")
def test_cut_tables_say_so_and_wide_shows_every_cell(cli: Cli, sample: Path,  # noqa: F811
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    cut = cli("inventory", "list")
    assert cut.code == 0 and "--wide shows them whole" in cut.err
    assert max(len(line) for line in cut.out.splitlines()) <= 80
    wide = cli("inventory", "list", "--wide")
    assert wide.code == 0 and "--wide" not in wide.err
    emails = {r["owner_email"] for r in sample_records() if r.get("owner_email")}
    assert all(e in wide.out for e in emails)


@pytest.mark.engine_neutral("help texts, colour and table layout")
def test_list_rules_fit_80_columns_with_whole_titles(cli: Cli,
                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    result = cli("check", "--list-rules")
    assert result.code == 0 and "--wide" not in result.err
    lines = result.out.splitlines()
    assert max(len(line) for line in lines) <= 80
    text = " ".join(" ".join(line.split()) for line in lines)
    for rule in all_rules():
        assert rule.id in text and " ".join(rule.title.split()) in text, rule.id
    wide = cli("check", "--list-rules", "--wide")
    assert "OWASP_NHI" in wide.out


def _commands(command: object, path: list[str]) -> list[list[str]]:
    subs = getattr(command, "commands", None)
    if not subs:
        return [path]
    return [p for name, sub in subs.items() for p in _commands(sub, [*path, name])]


@pytest.mark.engine_neutral("help texts, colour and table layout")
def test_help_texts_name_no_internal_types(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")
    for path in _commands(typer.main.get_command(app), []):
        result = cli(*path, "--help")
        assert result.code == 0, path
        found = re.findall(r"<(?:str|int|float|bool|file|path|list\[[^\]]*\]|[a-z_]+\|"
                           r"[a-z_|]+)>", result.out)
        found = [f for f in found if f != "<info|low|medium|high|critical>"]
        assert not found, (path, found)


@pytest.mark.engine_neutral("help texts, colour and table layout")
@pytest.mark.parametrize(("args", "bad"), [
    (["report", "evidence"], "csv"), (["report", "evidence"], "table"),
    (["scopes", "explain", "chat:write"], "csv"), (["report", "access-review"], "table"),
    (["inventory", "list"], "html"),
])
def test_o_choices_are_exactly_what_each_command_supports(
    cli: Cli, initialized: Path, args: list[str], bad: str
) -> None:
    result = cli(*args, "-o", bad)
    assert result.code == 2, result
