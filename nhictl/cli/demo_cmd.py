"""``nhictl demo``: the whole pipeline against the bundled sandbox, and ``nhictl sandbox``."""

from __future__ import annotations

import json
import os
import shutil
from datetime import timedelta
from pathlib import Path
from typing import Annotated

import typer

from nhictl.cli.common import AppState, example, state

DEMO_CONFIG = """\
# Written by `nhictl demo`: three kinds of source, all served by the loopback sandbox.
[slack]
# The demo's tokens are fake: keep them off slack.com. This is the sandbox the demo ran;
# `nhictl sandbox slack --scenario sandbox/scenario.json` prints the URL that replaces it.
api_url = "{slack_url}"
concurrency = 16

[[sources]]
name = "app-export"
kind = "file"
path = "sandbox/app-export.json"

[[sources]]
name = "bolt-app"
kind = "slack-store"
store = "sqlite:sandbox/bolt-installations.db"
tenant = "acme"
default_purpose = "notifications"

[[sources]]
name = "pipes"
kind = "workos"
api_key_env = "{key_env}"
base_url = "{workos_url}"
default_purpose = "notifications"

# Slack's own side of the grants: the org audit log (who installed, expanded, uninstalled,
# who left), read from the sandbox's /audit/v1/logs; checked against the sources above.
[[ledgers]]
name = "org-audit"
kind = "slack-audit"
token_env = "{audit_env}"
app_ids = ["{bolt_app}", "{export_app}"]
"""


# Marks a directory the demo wrote, so a re-run may replace what it wrote there (and only that).
DEMO_MARKER = ".nhictl-demo"
DEMO_ENTRIES = ("inventory.db", "inventory.db.key", "inventory.db-wal", "inventory.db-shm",
                "inventory.db.lock", "sandbox", "nhictl.toml", "findings.json",
                "access-review.html", "access-review.csv", "access-review.md")


def _is_previous_demo(out: Path) -> bool:
    if (out / DEMO_MARKER).is_file():
        return True
    try:  # written by an nhictl from before the marker: its config says so
        with (out / "nhictl.toml").open(encoding="utf-8") as fh:
            return fh.readline() == DEMO_CONFIG.splitlines(keepends=True)[0]
    except (OSError, UnicodeDecodeError):
        return False


def _prepare_out(out: Path) -> None:
    """Refuse a directory that holds anything but a previous demo (never overwrite an
    inventory, key or config); clear a previous demo's own files; mark the directory."""
    from nhictl.errors import UsageError

    hint = ("pass --out a new or empty directory (the demo never overwrites an inventory, "
            "key or config that is not its own)")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out}: exists and is not a directory; nothing was written",
                         hint=hint)
    if out.is_dir() and any(out.iterdir()) and not _is_previous_demo(out):
        raise UsageError(f"--out {out}: the directory is not empty and is not a previous "
                         "demo's output; nothing was written", hint=hint)
    for name in DEMO_ENTRIES:
        target = out / name
        if target.is_dir() and not target.is_symlink():
            shutil.rmtree(target)
        elif target.exists() or target.is_symlink():
            target.unlink()
    out.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(out, 0o700)
    _private_write(out / DEMO_MARKER, "This directory was written by `nhictl demo`; a re-run "
                   "replaces the demo's files in it.\n")


def _private_write(path: Path, text: str) -> None:
    fd = os.open(path, os.O_CREAT | os.O_TRUNC | os.O_WRONLY, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)


def demo(
    ctx: typer.Context,
    out: Annotated[Path, typer.Option("--out", metavar="DIR",
                                      help="Directory for the demo's inventory, "
                                      "config and reports.")] = Path("nhictl-demo"),
) -> None:
    """Run the whole pipeline against the bundled sandbox (nothing leaves this machine)."""
    from nhictl.cli.progress import run_reconcile
    from nhictl.clock import iso, system_clock
    from nhictl.sandbox.brokers import WorkOSSandbox
    from nhictl.sandbox.dataset import PLANTED, SCOPE_EXPANSION, generate
    from nhictl.sandbox.demo_notify import NOTIFY_CONFIG, NOTIFY_TOKEN_ENV, add_notifier
    from nhictl.sandbox.demo_world import (
        AUDIT_TOKEN_ENV,
        BOLT_APP,
        EXPORT_APP,
        LEDGER_PLANTED,
        UNINSTALLED_TEAM,
        WORKOS_KEY_ENV,
        add_audit_log,
        add_workos,
        save_world,
        scope_expansion_entry,
        uninstall_between_runs,
        write_bolt_store,
    )
    from nhictl.sandbox.slack_server import SlackSandbox
    from nhictl.sandbox.world import World
    from nhictl.store.engine import open_inventory

    parent = state(ctx)
    out = out.expanduser().absolute()
    sandbox_dir = out / "sandbox"
    _prepare_out(out)
    sandbox_dir.mkdir(mode=0o700, parents=True, exist_ok=True)

    ds = generate()
    api_key = add_workos(ds)
    os.environ[NOTIFY_TOKEN_ENV] = add_notifier(ds)
    started = system_clock()
    audit_token = add_audit_log(ds, started.timestamp())
    _private_write(sandbox_dir / "app-export.json", json.dumps(ds.export(), indent=2))
    write_bolt_store(ds, sandbox_dir / "bolt-installations.db")
    _private_write(sandbox_dir / "scenario.json", json.dumps(ds.scenario, indent=2))
    world = World.from_dict(ds.scenario)
    os.environ[WORKOS_KEY_ENV] = api_key
    os.environ[AUDIT_TOKEN_ENV] = audit_token

    with SlackSandbox(world) as slack, WorkOSSandbox(world) as workos:
        config = out / "nhictl.toml"
        _private_write(config, DEMO_CONFIG.format(key_env=WORKOS_KEY_ENV,
                                                  workos_url=workos.url,
                                                  slack_url=slack.url,
                                                  audit_env=AUDIT_TOKEN_ENV,
                                                  bolt_app=BOLT_APP, export_app=EXPORT_APP)
                       + NOTIFY_CONFIG)
        st = AppState(db=str(out / "inventory.db"), config_path=str(config),
                      slack_api_url=slack.url, quiet=parent.quiet, verbose=parent.verbose,
                      log_format=parent.log_format, no_color=parent.no_color,
                      actor=parent.actor or "nhictl-demo")
        inv, _ = open_inventory(st.db, create=True)
        inv.dispose()
        st.info(f"demo: sandbox Slack at {slack.url}, WorkOS sandbox at {workos.url}")
        # Run 1 is recorded as a week ago, so run 2 shows what changed since, and dead
        # credentials have outlived their grace period.
        week_ago = iso(system_clock() - timedelta(days=8))
        st.info(f"demo: run 1 of 2 (discover and validate), recorded at {week_ago}")
        fixed_now = os.environ.get("NHICTL_NOW")
        os.environ["NHICTL_NOW"] = week_ago
        try:
            run_reconcile(st, [], validate=True, concurrency=None, deadline=None, output=None)
        finally:
            if fixed_now is None:
                os.environ.pop("NHICTL_NOW", None)
            else:
                os.environ["NHICTL_NOW"] = fixed_now
        conn_id, scope = SCOPE_EXPANSION
        token = next(c["access_token"] for c in ds.connections if c["id"] == conn_id)
        entry = world.token(token)
        if entry is not None:
            entry["scopes"] = sorted({*entry["scopes"], scope})
            world.add_audit_entry(scope_expansion_entry(
                ds, system_clock().timestamp(), str(entry["team_id"]), str(entry["user_id"]),
                scope))
        st.info(f"demo: between runs, {conn_id} re-authorised with {scope} (planted drift)")
        uninstall_between_runs(world, system_clock().timestamp())
        st.info(f"demo: between runs, the bolt app was uninstalled from {UNINSTALLED_TEAM} "
                "(Slack's audit log knows; the installation store does not)")
        st.info("demo: run 2 of 2 (today: drift since run 1)")
        run_reconcile(st, [], validate=True, concurrency=None, deadline=None, output=None)
        _by_source(st)
        _after_runs(st, out)
        from nhictl.cli.demo_alert import post_alert, show_alert

        alerted, alert = post_alert(st, slack)
        # Save the world as it is now, with what `nhictl sandbox slack` needs to serve it
        # again on the same WorkOS port the demo's config names.
        ds.expand_scopes()
        save_world(ds, world)
        ds.scenario["workos"]["api_key_env"] = WORKOS_KEY_ENV
        ds.scenario["workos"]["port"] = int(workos.url.rsplit(":", 1)[1])
        _private_write(sandbox_dir / "scenario.json", json.dumps(ds.scenario, indent=2))
    _closing(st, out, {**PLANTED, **LEDGER_PLANTED})
    show_alert(st, alert)  # the demo ends with the alert it posted
    if alerted:
        raise typer.Exit(alerted)


def _by_source(st: AppState) -> None:
    """Bindings per source and status: the demo reads three kinds of source."""
    import io

    from sqlalchemy import func, select

    from nhictl.exporters import exporter_for
    from nhictl.exporters.base import Column, Document, Format
    from nhictl.store.tables import BINDINGS

    if st.quiet:
        return
    from nhictl.sources.own_credentials import SOURCE_NAME

    # nhictl's own credentials (the audit ledger's token) are a built-in source.
    kinds = {SOURCE_NAME: "built-in", **{s.name: s.kind for s in st.config.sources}}
    inv = st.open()
    try:
        with inv.engine.connect() as conn:
            rows = conn.execute(select(BINDINGS.c.source, BINDINGS.c.status, func.count())
                                .group_by(BINDINGS.c.source, BINDINGS.c.status)).all()
    finally:
        inv.dispose()
    table: dict[str, dict[str, int]] = {}
    for source, status, n in rows:
        table.setdefault(source, {})[status] = int(n)
    doc = Document("sources", [Column("source", "SOURCE", 12), Column("kind", "KIND", 12),
                               Column("bindings", "BINDINGS", 8),
                               Column("statuses", "STATUSES", 50)],
                   [{"source": name, "kind": kinds.get(name, "?"),
                     "bindings": sum(counts.values()),
                     "statuses": ", ".join(f"{k} {v}" for k, v in sorted(counts.items()))}
                    for name, counts in sorted(table.items())], "")
    buffer = io.StringIO()
    exporter_for(Format.TABLE).write(doc, buffer)
    st.stderr().print("demo: bindings by source\n" + buffer.getvalue(), markup=False,
                      highlight=False, end="")


def _after_runs(st: AppState, out: Path) -> None:
    """Checks and the review packet, when those commands are installed."""
    try:
        from nhictl.cli.demo_reports import write_reports
    except ModuleNotFoundError:
        return
    write_reports(st, out)


def _closing(st: AppState, out: Path, planted: dict[str, str]) -> None:
    if st.quiet:
        return
    db = out / "inventory.db"
    lines = [
        "",
        f"demo: done. Inventory, config and reports are in {out}/",
        f"demo: planted problems ({len(planted)}): see `nhictl check` findings;"
        " the export's connection ids are in the binding JSON.",
        "",
        "Try next (after `source .venv/bin/activate` if nhictl is not on your PATH):",
        f"  export NHICTL_DB={db} NHICTL_CONFIG={out / 'nhictl.toml'}",
        "  nhictl inventory list --status needs_reconnect --status expired",
        "  nhictl events --type scope_changed --type identity_changed",
        "  nhictl check --min-severity high",
        "  nhictl ledger list   # Slack's side: what the org audit log said",
        "  nhictl report access-review -o html --out review.html",
        f"  nhictl sandbox slack --scenario {out / 'sandbox' / 'scenario.json'}",
        "      # serves the demo world again (in another terminal) and prints the two exports",
        "      # that point reconcile and revoke at it",
    ]
    st.stderr().print("\n".join(lines), markup=False, highlight=False)


def sandbox_slack(
    ctx: typer.Context,
    scenario: Annotated[Path, typer.Option("--scenario", metavar="FILE", exists=True,
                                           dir_okay=False,
                                           help="Scenario JSON (tokens, users, limits).")],
    port: Annotated[int, typer.Option("--port", metavar="PORT", min=0, max=65535,
                                      help="Port on 127.0.0.1 (0: a free one).")] = 0,
) -> None:
    """Run the loopback Slack fake (and the WorkOS/Nango fakes when the scenario has them)."""
    import threading

    from nhictl.errors import InputFileError
    from nhictl.sandbox.brokers import NangoSandbox, WorkOSSandbox
    from nhictl.sandbox.slack_server import SlackSandbox
    from nhictl.sandbox.world import World

    st = state(ctx)
    try:
        world = World.load(scenario)
    except (ValueError, KeyError, TypeError) as exc:
        raise InputFileError(str(scenario), None, f"invalid scenario: {exc}") from None
    except OSError as exc:
        raise InputFileError(str(scenario), None, f"cannot read: {exc.strerror}") from None
    servers: list[object] = []
    with SlackSandbox(world, port=port) as slack:
        print(f"slack  {slack.url}", flush=True)
        if world.workos:
            servers.append(WorkOSSandbox(world, port=int(world.workos.get("port") or 0))
                           .__enter__())
            print(f"workos {servers[-1].url}", flush=True)  # type: ignore[attr-defined]
            key_env = world.workos.get("api_key_env")
            if key_env:  # the sandbox's own fake key, for the demo config's source
                print(f"export {key_env}={world.workos.get('api_key')}", flush=True)
        if world.nango:
            servers.append(NangoSandbox(world).__enter__())
            print(f"nango  {servers[-1].url}", flush=True)  # type: ignore[attr-defined]
        # Data on stdout (every export a shell needs), chatter on stderr.
        print(f"export NHICTL_SLACK_API_URL={slack.url}", flush=True)
        st.info("sandbox: serving; export the lines above, then use nhictl; Ctrl-C stops")
        try:
            threading.Event().wait()
        except KeyboardInterrupt:
            pass
        finally:
            for server in servers:
                server.__exit__(None, None, None)  # type: ignore[attr-defined]


def register(app: typer.Typer) -> None:
    app.command("demo", short_help="The whole pipeline against the bundled sandbox.",
                epilog=example("nhictl demo --out /tmp/nhictl-demo"))(demo)
    sandbox = typer.Typer(help="Loopback fakes of Slack and the brokers.", no_args_is_help=True)
    sandbox.command("slack", epilog=example(
        "nhictl sandbox slack --scenario nhictl-demo/sandbox/scenario.json"))(sandbox_slack)
    app.add_typer(sandbox, name="sandbox")
