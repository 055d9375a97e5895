"""The real CLI against the sandbox Slack: a revoke is recorded only when Slack says so, and
``--from-review`` acts only on decisions ``review apply`` recorded."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from nhictl.sandbox.slack_server import SlackSandbox
from tests.cli.e2e import nhictl
from tests.revoke.conftest import export


def _ids(e: dict[str, Any]) -> dict[str, str]:
    rows = nhictl("inventory", "list", "-o", "json", env=e["vars"]).json()["bindings"]
    return {b["connection_id"]: b["id"] for b in rows}


def _events(e: dict[str, Any], bid: str) -> list[dict[str, Any]]:
    result = nhictl("events", "--binding", bid, "-o", "json", env=e["vars"])
    assert result.code == 0, result.err
    events: list[dict[str, Any]] = result.json()["events"]
    return events


def _status(e: dict[str, Any], bid: str) -> str:
    rows = nhictl("inventory", "list", "-o", "json", env=e["vars"]).json()["bindings"]
    return str(next(b["status"] for b in rows if b["id"] == bid))


def test_revoke_needs_slack_to_say_so(env: dict[str, Any]) -> None:
    e, tokens = env, env["tokens"]
    with SlackSandbox(e["world"]) as slack:
        cli = ("--config", str(e["config"]), "--slack-api-url", slack.url)
        assert nhictl("init", env=e["vars"]).code == 0
        assert nhictl(*cli, "reconcile", env=e["vars"]).code == 0
        ids = _ids(e)
        export(e["tmp"], tokens, ("grace", "ada"))  # alan's and lin's records left the app
        assert nhictl(*cli, "reconcile", env=e["vars"]).code == 0
        alan, lin = ids["alan"], ids["lin"]
        assert _status(e, alan) == "removed"

        plan = nhictl(*cli, "revoke", alan, "-o", "json", env=e["vars"])
        assert plan.code == 0, plan.err
        step = plan.json()["plan"][0]
        assert step["obtained_from"].startswith("unavailable: source 'export' no longer holds")
        assert step["will_call"].startswith("nothing:") and "--token-stdin" in step["will_call"]
        assert "cannot obtain the token of " + alan in plan.err
        table = nhictl(*cli, "revoke", ids["grace"], env=e["vars"])
        assert "token: held by file source 'export'" in table.out

        done = nhictl(*cli, "revoke", alan, "--reason", "t", "--yes", "-o", "json",
                      env=e["vars"])
        assert done.code == 5, done.err
        outcome = done.json()["outcomes"][0]
        assert outcome["outcome"] == "failed" and outcome["slack"] == "not called"
        assert "--token-stdin" in done.err and "--mark-removed" in done.err
        assert slack.count("auth.revoke") == 0
        assert "revoked" not in {ev["type"] for ev in _events(e, alan)}
        assert _status(e, alan) == "removed"

        before = len(_events(e, alan))
        wrong = nhictl(*cli, "revoke", alan, "--token-stdin", "--reason", "t", "--yes",
                       env=e["vars"],
                       stdin=tokens["grace"] + "\n")
        assert wrong.code == 3 and "does not match the binding's fingerprint" in wrong.err
        assert slack.count("auth.revoke") == 0 and len(_events(e, alan)) == before
        assert tokens["grace"] not in wrong.err + wrong.out

        right = nhictl(*cli, "revoke", alan, "--token-stdin", "--reason", "t", "--yes", "-o",
                       "json",
                       env=e["vars"], stdin=tokens["alan"] + "\n")
        assert right.code == 0, right.err
        assert right.json()["outcomes"][0]["outcome"] == "revoked"
        real = [r for r in slack.requests if r.method == "auth.revoke"]
        assert len(real) == 1 and slack.count("auth.revoke", tokens["alan"]) == 1
        assert _status(e, alan) == "revoked"
        types = [ev["type"] for ev in _events(e, alan)]
        assert types[-3:] == ["revoke_started", "revoked_at_slack", "revoked"]

        marked = nhictl(*cli, "revoke", lin, "--mark-removed", "--reason", "t", "--yes", "-o",
                        "json",
                        env=e["vars"])
        assert marked.code == 0, marked.err
        assert marked.json()["outcomes"][0]["outcome"] == "marked_removed"
        assert slack.count("auth.revoke") == 1 and _status(e, lin) == "removed"
        last = _events(e, lin)[-1]
        assert last["type"] == "marked_removed" and last["details"]["slack"] == "not told"

    evidence = nhictl("report", "evidence", "--since", "1d", "-o", "json", env=e["vars"])
    ev = evidence.json()
    assert [r["binding_id"] for r in ev["revoked"]] == [alan]
    assert [r["binding_id"] for r in ev["not_revoked_at_slack"]] == [lin]
    assert "Slack was not told" in ev["not_revoked_at_slack"][0]["why"]
    md = nhictl("report", "evidence", "--since", "1d", "-o", "markdown", env=e["vars"]).out
    assert "## Not revoked at Slack" in md
    for token in tokens.values():
        assert token not in json.dumps(ev) + md


def _filled(packet: Path, out: Path, decisions: dict[str, dict[str, str]],
            extra: list[tuple[str, dict[str, str]]]) -> Path:
    rows = list(csv.DictReader(io.StringIO(packet.read_text(encoding="utf-8"), newline="")))
    by_owner = {r["owner_email"].split("@")[0]: r for r in rows}
    for owner, cells in decisions.items():
        by_owner[owner].update({"reviewer": "ann@acme.example", "decided_at": "2026-11-28",
                                **cells})
    for owner, cells in extra:
        rows.append({**by_owner[owner], **cells})
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    out.write_text(buf.getvalue(), encoding="utf-8")
    return out


def test_from_review_acts_only_on_applied_rows(env: dict[str, Any]) -> None:
    e, tokens = env, env["tokens"]
    with SlackSandbox(e["world"]) as slack:
        cli = ("--config", str(e["config"]), "--slack-api-url", slack.url)
        assert nhictl("init", env=e["vars"]).code == 0
        assert nhictl(*cli, "reconcile", env=e["vars"]).code == 0
        packet = e["tmp"] / "packet.csv"
        assert nhictl(*cli, "report", "access-review", "-o", "csv", "--out", str(packet),
                      env=e["vars"]).code == 0
        filled = _filled(packet, e["tmp"] / "filled.csv", {
            "grace": {"decision": "revoke"},
            "alan": {"decision": "revoke", "decided_at": "2099-01-01"},  # future: refused
            "ada": {"decision": "keep"},
        }, [("ada", {"decision": "revoke"})])  # a second row for ada: refused

        never = nhictl(*cli, "revoke", "--from-review", str(filled), "--yes", env=e["vars"])
        assert never.code == 3 and "was never applied" in never.err
        assert "nhictl review apply" in never.err and slack.count("auth.revoke") == 0

        applied = nhictl(*cli, "review", "apply", str(filled), env=e["vars"])
        assert applied.code == 3 and "2 decision(s) applied" in applied.err

        done = nhictl(*cli, "revoke", "--from-review", str(filled), "--yes", "-o", "json",
                      env=e["vars"])
        assert done.code == 0, done.err
        ids = _ids(e)
        assert [o["binding_id"] for o in done.json()["outcomes"]] == [ids["grace"]]
        assert slack.count("auth.revoke") == 1 and slack.count("auth.revoke",
                                                               tokens["grace"]) == 1
        assert "line 3" in done.err and "is in the future" in done.err
        assert "line 6" in done.err and "(binding already decided on line" in done.err
        assert done.err.count("not revoked") == 2
        assert {_status(e, ids[n]) for n in ("alan", "ada", "lin")} == {"active"}


@pytest.mark.engine_neutral("stdin and argument validation")
def test_token_stdin_and_mark_removed_usage(env: dict[str, Any]) -> None:
    e, tokens = env, env["tokens"]
    write = e["tmp"] / "export.json"
    rows = json.loads(write.read_text())
    rows.append({"id": "ken", "owner_email": "ken@acme.example"})  # no token exported
    write.write_text(json.dumps(rows))
    cli = ("--config", str(e["config"]))
    assert nhictl("init", env=e["vars"]).code == 0
    assert nhictl(*cli, "reconcile", "--no-validate", env=e["vars"]).code == 0
    ids = _ids(e)
    two = nhictl(*cli, "revoke", ids["grace"], ids["alan"], "--token-stdin", env=e["vars"],
                 stdin=tokens["grace"])
    assert two.code == 2 and "exactly one binding id" in two.err
    both = nhictl(*cli, "revoke", ids["grace"], "--mark-removed", "--preflight", env=e["vars"])
    assert both.code == 2 and "cannot be combined" in both.err
    empty = nhictl(*cli, "revoke", ids["grace"], "--token-stdin", env=e["vars"], stdin="\n")
    assert empty.code == 3 and "no token given" in empty.err
    unmatched = nhictl(*cli, "revoke", ids["ken"], "--token-stdin", "--reason", "t", "--yes",
                       env=e["vars"],
                       stdin=tokens["grace"])
    assert unmatched.code == 3 and "no token fingerprint is recorded" in unmatched.err
    assert "--mark-removed" in unmatched.err
    plan = nhictl(*cli, "revoke", ids["ken"], "-o", "json", env=e["vars"])
    assert plan.json()["plan"][0]["obtained_from"] == (
        "unavailable: source 'export' holds no token for it")


@pytest.mark.engine_neutral("stdin and argument validation")
def test_token_stdin_not_utf8_is_a_clean_exit_3(env: dict[str, Any], monkeypatch: Any) -> None:
    # Under a C/POSIX locale Python decodes stdin with surrogateescape, so undecodable bytes
    # arrive as lone surrogates; they used to crash the fingerprint (exit 70).
    import sys

    e = env
    cli = ("--config", str(e["config"]))
    assert nhictl("init", env=e["vars"]).code == 0
    assert nhictl(*cli, "reconcile", "--no-validate", env=e["vars"]).code == 0
    grace = _ids(e)["grace"]
    for raw in (b"\xff\xfexoxp-not-utf8\n", b"x" * 70_000):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(
            io.BytesIO(raw), encoding="utf-8", errors="surrogateescape"))
        got = nhictl(*cli, "revoke", grace, "--token-stdin", "--yes", env=e["vars"])
        assert got.code == 3, got.err
        assert "stdin" in got.err and len(got.err.strip().splitlines()) <= 2
    assert _status(e, grace) != "revoked"


def test_a_token_the_source_swapped_since_the_last_reconcile_is_not_revoked(
    env: dict[str, Any],
) -> None:
    """A file that now holds another token under the same connection id (an edited export,
    a reused id) must not make nhictl revoke someone else's grant: nothing is called until a
    reconcile records what the source holds."""
    e, tokens = env, env["tokens"]
    with SlackSandbox(e["world"]) as slack:
        cli = ("--config", str(e["config"]), "--slack-api-url", slack.url)
        assert nhictl("init", env=e["vars"]).code == 0
        assert nhictl(*cli, "reconcile", env=e["vars"]).code == 0
        grace = _ids(e)["grace"]
        swapped = dict(tokens, grace=tokens["ada"])  # grace's record now holds ada's token
        export(e["tmp"], swapped, ("grace", "alan", "lin"))

        done = nhictl(*cli, "revoke", grace, "--reason", "t", "--yes", env=e["vars"])
        assert done.code == 5, done.err
        assert "now holds a different token" in done.err and "nhictl reconcile" in done.err
        assert slack.count("auth.revoke") == 0  # ada's grant is untouched
        assert "revoked" not in {ev["type"] for ev in _events(e, grace)}
        assert tokens["ada"] not in done.err + done.out

        assert nhictl(*cli, "reconcile", env=e["vars"]).code == 0  # records the swap
        again = nhictl(*cli, "revoke", grace, "--reason", "t", "--yes", env=e["vars"])
        assert again.code == 0, again.err
        assert slack.count("auth.revoke", tokens["ada"]) == 1
