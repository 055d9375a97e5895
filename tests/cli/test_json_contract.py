"""Machine output is one contract: every command's JSON output (and every JSON log line)
carries ``schema_version`` and validates against the schema `nhictl schema NAME` publishes.

One review cycle against the sandbox (reconcile, usage, check, packet, apply, revoke,
evidence) drives every JSON-producing command; each output is validated, and the schema of
each is strict about its top-level names, so a renamed key (``status_counts`` in one place,
``statuses`` in another) fails here.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from nhictl import schemas
from nhictl.sandbox.brokers import WorkOSSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from tests.cli.e2e import Result, nhictl, write_private
from tests.conftest import REPO

INPUT_SCHEMAS = {"export", "review-csv"}


def _tok(prefix: str = "xoxp-") -> str:
    return prefix + "fake" + secrets.token_hex(10)


def _world(t: dict[str, str]) -> World:
    users: list[dict[str, Any]] = [{"id": f"U{i}", "team_id": "T1", "name": n}
                                   for i, n in enumerate(t, 1)]
    return World.from_dict({
        "teams": [{"id": "T1", "name": "Acme"}],
        "users": users,
        "tokens": [{"token": tok, "team_id": "T1", "user_id": f"U{i}", "kind": "user",
                    "scopes": ["chat:write", "channels:history"] if name in ("alan", "grace")
                    else ["chat:write"]}
                   for i, (name, tok) in enumerate(t.items(), 1) if name != "dead"],
        "workos": {"api_key": "sk_test_fake" + secrets.token_hex(6), "users": [
            {"id": "user_ada", "email": "ada@acme.example", "organization_id": "acme",
             "slack": {"id": "acct_ada", "token": t["ada"], "state": "connected"}},
        ]},
        "retry_after": 0,
    })


def _fill(packet: str, decisions: dict[str, str]) -> str:
    rows = list(csv.DictReader(io.StringIO(packet, newline="")))
    for row in rows:
        owner = row["owner_email"].split("@")[0]
        if owner in decisions:
            row.update(decision=decisions[owner], reviewer="ann@acme.example",
                       decided_at="2026-11-28", justification="quarterly review")
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _run_cycle(tmp: Path) -> dict[str, list[Result]]:
    """name of the output's schema -> the results of the commands that print it."""
    t = {"grace": _tok(), "alan": _tok(), "ada": _tok(), "dead": _tok(), "ledger": _tok()}
    world = _world(t)
    write_private(tmp / "export.json", [
        {"id": name, "owner_email": f"{name}@acme.example", "tenant": "acme",
         "purpose": "notifications", "access_token": t[name],
         **({"owner_status": "deactivated"} if name == "dead" else {})}
        for name in ("grace", "alan", "dead")])
    (tmp / "usage.jsonl").write_text(json.dumps(
        {"time": "2026-11-20T10:00:00Z", "connection_id": "grace", "source": "export",
         "action": "message_posted", "channel_id": "C1"}) + "\n")
    env = {"NHICTL_DB": str(tmp / "inv.db"), "PIPES_KEY": world.workos["api_key"],
           "NHICTL_ACTOR": "auditor"}
    out: dict[str, list[Result]] = {}

    def run(name: str, *args: str, code: int = 0) -> Result:
        result = nhictl(*cli, "--log-format", "json", *args, env=env)
        assert result.code == code, (args, result.err)
        out.setdefault(name, []).append(result)
        out.setdefault("log", []).append(result)
        return result

    with SlackSandbox(world) as slack, WorkOSSandbox(world) as workos:
        config = tmp / "nhictl.toml"
        config.write_text(f"""
[[sources]]
name = "export"
kind = "file"
path = "export.json"

[[sources]]
name = "pipes"
kind = "workos"
api_key_env = "PIPES_KEY"
base_url = "{workos.url}"
default_purpose = "notifications"
""")
        cli = ("--config", str(config), "--slack-api-url", slack.url)
        assert nhictl(*cli, "init", env=env).code == 0
        run("reconcile", "reconcile", "-o", "json", "--fail-on", "critical", code=1)
        run("usage", "usage", "ingest", str(tmp / "usage.jsonl"), "-o", "json")
        listed = run("bindings", "inventory", "list", "-o", "json")
        some = listed.json()["bindings"][0]["id"]
        grace = next(b["id"] for b in listed.json()["bindings"]
                     if b["connection_id"] == "grace")
        run("binding", "inventory", "show", some, "-o", "json")
        run("findings", "check", "-o", "json")
        run("rules", "check", "--list-rules", "-o", "json")
        run("scopes", "scopes", "list", "-o", "json")
        run("scope", "scopes", "explain", "channels:history", "-o", "json")
        run("sources", "sources", "list", "-o", "json")
        packet = run("access-review", "report", "access-review", "-o", "csv")
        run("access-review", "report", "access-review", "-o", "json")
        split = run("split", "report", "access-review", "--split-by", "tenant", "-o", "json",
                    "--out", str(tmp / "packets"))
        out.pop("split")  # what it wrote is checked, not what it printed:
        out["access-review-index"] = [Result(0, (tmp / "packets" / "index.json").read_text(),
                                             split.err)]
        out["access-review"].append(Result(0, (tmp / "packets" / "access-review-acme.json")
                                           .read_text(), ""))
        filled = tmp / "filled.csv"
        filled.write_text(_fill(packet.out, {"grace": "keep", "alan": "reduce",
                                             "ada": "revoke", "dead": "revoke"}))
        run("log", "review", "apply", str(filled))
        kept = run("findings", "check", "-o", "json")  # grace's kept finding: accepted
        kinds = {f["suppression"]["kind"] for f in kept.json()["findings"]
                 if f["binding_id"] == grace}
        assert kinds == {"accepted_risk"}
        run("revoke-plan", "revoke", "--from-review", str(filled), "-o", "json")
        run("revoke-outcomes", "revoke", "--from-review", str(filled), "--yes", "-o", "json")
        gone = write_private(tmp / "gone.json", [{"id": "old", "owner_email": "x@acme.example"}])
        run("reconcile", "reconcile", "--no-validate", "-s", f"file:{gone}", "-o", "json")
        plan = run("forget-plan", "sources", "forget", f"file:{gone}", "-o", "json")
        assert [p["connection_id"] for p in plan.json()["plan"]] == ["old"]
        run("events", "events", "-o", "json")
        run("evidence", "report", "evidence", "--since", "30d", "-o", "json")
        run("log", "events", "--type", "nonsense", code=2)  # an error line
        # The Slack-side ledger, configured apart so the cycle above stays as it was.
        world.add_token({"token": t["ledger"], "team_id": "T1", "user_id": "U1",
                         "kind": "user", "scopes": ["users:read"]})
        (tmp / "ledger.toml").write_text('[[ledgers]]\nname = "directory"\n'
                                         'kind = "slack-directory"\ntoken_env = "DIR_TOKEN"\n')
        cli = ("--config", str(tmp / "ledger.toml"), "--slack-api-url", slack.url)
        env["DIR_TOKEN"] = t["ledger"]
        run("ledger-collect", "ledger", "collect", "-o", "json")
        run("ledger", "ledger", "list", "-o", "json")
    for token in t.values():
        assert all(token not in r.out + r.err for rs in out.values() for r in rs)
    return out


@pytest.fixture(scope="module")
def outputs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[Result]]:
    return _run_cycle(tmp_path_factory.mktemp("contract"))


def _validate(name: str, doc: Any) -> list[str]:
    validator = Draft202012Validator(schemas.load(name))
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def test_every_json_output_has_a_published_schema(outputs: dict[str, list[Result]]) -> None:
    assert set(outputs) == set(schemas.names()) - INPUT_SCHEMAS
    for name in schemas.names():
        Draft202012Validator.check_schema(schemas.load(name))


@pytest.mark.parametrize("name", sorted(set(schemas.names()) - INPUT_SCHEMAS - {"log"}))
def test_command_json_validates_against_its_schema(
    name: str, outputs: dict[str, list[Result]]
) -> None:
    docs = [r.json() for r in outputs[name] if r.out.lstrip().startswith("{")]
    assert docs, name
    for doc in docs:
        assert doc["schema_version"] == 1 and doc["generated_at"].endswith("Z")
        assert _validate(name, doc) == []


def test_every_json_log_line_validates(outputs: dict[str, list[Result]]) -> None:
    lines = [json.loads(line) for r in outputs["log"] for line in r.err.splitlines()]
    assert len(lines) > 10
    assert any(x.get("error") for x in lines) and any(x.get("run_id") for x in lines)
    for line in lines:
        assert _validate("log", line) == [], line


def test_published_schemas_are_built_from_the_code() -> None:
    """The files under nhictl/schemas/ are what tools/build_schemas.py makes from the code's
    own constants (statuses, severities, review columns...): none is stale."""
    result = subprocess.run([sys.executable, str(REPO / "tools" / "build_schemas.py"),
                             "--check"], capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_same_thing_has_the_same_name(outputs: dict[str, list[Result]]) -> None:
    """Status counts are `statuses` in the reconcile report, the JSON log and the packet
    summary; severity counts are `by_severity` in check and the packet."""
    run = outputs["reconcile"][0]
    report = run.json()
    finished = next(json.loads(x) for x in run.err.splitlines()
                    if json.loads(x)["event"] == "reconcile finished")
    for key in ("run_id", "counts", "statuses", "partial", "failed_sources"):
        assert report[key] == finished[key], key
    packet = next(r.json() for r in outputs["access-review"] if r.out.startswith("{"))
    assert set(packet["summary"]["statuses"]) >= set(report["statuses"])
    check = outputs["findings"][0].json()
    assert set(packet["summary"]["by_severity"]) == set(check["summary"]["by_severity"])
    text = json.dumps([r.out for rs in outputs.values() for r in rs])
    for old in ("status_counts", "by_status", "findings_by_severity"):
        assert old not in text
