"""``nhictl usage ingest FILE``: token-use evidence."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from nhictl.cli.common import example, now_iso, state

usage = typer.Typer(
    help="Token-use evidence for last-used and dormancy checks.", no_args_is_help=True
)


@usage.command(
    "ingest",
    epilog=example("nhictl usage ingest exports/token-usage.jsonl"),
)
def ingest(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="JSON Lines of token-use events.", dir_okay=False)],
    output: Annotated[
        str | None,
        typer.Option("-o", "--output", metavar="json", help="json: print the ingest report."),
    ] = None,
) -> None:
    """Record token-use events (idempotent: the same file twice changes nothing).

    Each line: {"time", "connection_id" (+ "source") | "binding_id" | "token_fingerprint",
    "action", "channel_id"?, "scopes"?}. Lines for unknown bindings are counted, not fatal.
    """
    from nhictl.clock import system_clock
    from nhictl.errors import UsageError
    from nhictl.store.repo import actor_name
    from nhictl.usage import ingest_usage

    if output not in (None, "json", "table"):
        raise UsageError(f"-o {output!r}: usage ingest prints table (stderr) or json")
    st = state(ctx)
    with st.open_for_write(f"nhictl usage ingest {file.name}") as inv:
        report = ingest_usage(inv, file, now=system_clock(), actor=actor_name(st.actor))
    if output == "json":
        json.dump({"schema_version": 1, "generated_at": now_iso(), "usage": report.as_dict()},
                  sys.stdout, indent=2)
        sys.stdout.write("\n")
    st.info(
        f"{file}: {report.events} events, {report.inserted} new, {report.duplicates} "
        f"already recorded, {report.bindings_updated} bindings updated"
    )
    if report.unknown:
        shown = ", ".join(report.unknown_refs[:5])
        more = "" if len(report.unknown_refs) <= 5 else ", ..."
        noun = "event names" if report.unknown == 1 else "events name"
        st.warn(f"{report.unknown} {noun} no known binding ({shown}{more})")


def register(app: typer.Typer) -> None:
    app.add_typer(usage, name="usage")
