"""``nhictl notify NAME``: post what changed since the last notification; and the
``--notify NAME`` hook of ``reconcile`` and ``check``."""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Annotated

import typer

from nhictl.cli.common import AppState, example, now_iso, state

if TYPE_CHECKING:
    from nhictl.notifiers.base import Transport
    from nhictl.notifiers.config import NotifyTarget

NotifyOpt = Annotated[
    list[str] | None,
    typer.Option("--notify", metavar="NAME", help="Afterwards, post what changed to this "
                 "[[notify]] target (repeatable; see `nhictl notify`)."),
]
Prepared = list[tuple["NotifyTarget", "Transport"]]


def prepare(st: AppState, names: list[str] | None) -> Prepared:
    """The named targets with their transports (exit 3 for an unknown name, a missing
    variable or a refused URL, before anything runs or is written)."""
    from nhictl.errors import ConfigError
    from nhictl.notifiers.service import build_transport

    if not names:
        return []
    configured = {t.name: t for t in st.config.notify}
    prepared: Prepared = []
    for name in dict.fromkeys(names):
        target = configured.get(name)
        if target is None:
            known = ", ".join(sorted(configured)) or "none"
            raise ConfigError(f"unknown notify target {name!r} (configured: {known})",
                              hint="add a [[notify]] entry with this name to nhictl.toml")
        api_url = st.api_url() if target.transport == "slack-chat" else ""
        prepared.append((target, build_transport(target, api_url=api_url,
                                                 policy=st.http_policy())))
    return prepared


def send(st: AppState, prepared: Prepared, *, dry_run: bool = False) -> int:
    """Deliver each target's news; 0, or 4 when a delivery failed (the others still go)."""
    from nhictl.errors import ExitCode, NotifyFailedError
    from nhictl.notifiers.service import notify

    code = ExitCode.OK
    shown = []
    for target, transport in prepared:
        try:
            if dry_run:
                inv = st.open()
                try:
                    outcome = notify(inv, target, transport, now=now_iso(), dry_run=True)
                finally:
                    inv.dispose()
            else:
                with st.open_for_write(f"nhictl notify {target.name}") as inv:
                    outcome = notify(inv, target, transport, now=now_iso())
        except NotifyFailedError as exc:
            st.warn(exc.message + (f" ({exc.hint})" if exc.hint else ""))
            code = ExitCode.PARTIAL
            continue
        if outcome.payload is None:
            st.info(f"notify {target.name}: nothing new since the last notification; "
                    "nothing " + ("would be " if dry_run else "") + "sent")
        elif dry_run:
            shown.append({"target": target.name, "transport": outcome.transport,
                          "payload": outcome.payload})
            st.info(f"notify {target.name}: dry run, nothing sent or recorded")
        else:
            detail = outcome.delivery.detail if outcome.delivery else ""
            attempts = outcome.delivery.attempts if outcome.delivery else 1
            st.info(f"notify {target.name}: {detail}"
                    + (f" after {attempts} attempts" if attempts > 1 else ""))
    if dry_run and shown:
        json.dump({"schema_version": 1, "notifications": shown}, sys.stdout, indent=2,
                  ensure_ascii=False)
        sys.stdout.write("\n")
    return code


def notify_cmd(
    ctx: typer.Context,
    names: Annotated[list[str], typer.Argument(metavar="NAME",
                                               help="[[notify]] target name(s).")],
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the payload (JSON) "
                                          "instead of sending it; record nothing.")] = False,
) -> None:
    """Post what changed since this target's last notification: new findings by severity
    (the top few named), resolved findings, bindings that went dead, partial runs.

    Nothing new: nothing is posted. Exit 4 when a delivery failed (it is sent again next
    time); 3 for an unknown target or a missing environment variable.
    """
    st = state(ctx)
    raise typer.Exit(send(st, prepare(st, names), dry_run=dry_run))


def register(app: typer.Typer) -> None:
    app.command("notify", epilog=example("nhictl notify secops --dry-run"))(notify_cmd)
