"""``nhictl scopes list|explain``: the Slack scope catalog."""

from __future__ import annotations

import json
import sys
from enum import StrEnum
from typing import Annotated

import typer

from nhictl.catalog.loader import COLUMNS as CATALOG_COLUMNS
from nhictl.cli.check_cmd import PolicyOpt, resolve_policy
from nhictl.cli.common import OutputOpt, emit, example, now_iso, state
from nhictl.exporters.base import Column, Document, Format
from nhictl.models import Severity

scopes = typer.Typer(
    help="The Slack scope catalog: risk, data exposed, status.", no_args_is_help=True
)

SCOPE_TABLE = [
    Column("scope", "SCOPE", 34),
    Column("risk", "RISK", 8),
    Column("access", "ACCESS", 10),
    Column("token_types", "TOKENS", 14),
    Column("status", "STATUS", 10),
    Column("data_exposed", "EXPOSES", 50),
]
SCOPE_CSV = [Column(k, k) for k in CATALOG_COLUMNS]


@scopes.command("list", epilog=example("nhictl scopes list --risk critical -o csv"))
def list_scopes(
    ctx: typer.Context,
    risk: Annotated[
        Severity | None, typer.Option("--risk", metavar="RISK", help="Only scopes of this risk.")
    ] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List catalog scopes with their risk rating."""
    from nhictl.catalog import load_catalog

    st = state(ctx)
    rows = [s.as_dict() for s in load_catalog().entries(risk)]
    columns = SCOPE_TABLE if output is Format.TABLE else SCOPE_CSV
    emit(st, Document("scopes", columns, rows, now_iso()), output)


class ExplainFormat(StrEnum):
    TABLE = "table"
    JSON = "json"


@scopes.command("explain", epilog=example("nhictl scopes explain channels:history"))
def explain(
    ctx: typer.Context,
    scope: Annotated[str, typer.Argument(help="A Slack scope name, e.g. chat:write.")],
    policy_file: PolicyOpt = None,
    output: Annotated[
        ExplainFormat, typer.Option("-o", "--output", help="table (text) or json.",
                                    case_sensitive=False, metavar="FORMAT")
    ] = ExplainFormat.TABLE,
) -> None:
    """What a scope exposes, its risk, and which policy purposes allow it."""
    from nhictl.catalog import load_catalog
    from nhictl.catalog.explain import explain_scope, explain_text

    st = state(ctx)
    data = explain_scope(load_catalog(), resolve_policy(st, policy_file), scope)
    if output is ExplainFormat.JSON:
        json.dump(
            {"schema_version": 1, "generated_at": now_iso(), "scope": data}, sys.stdout, indent=2
        )
        sys.stdout.write("\n")
    else:
        print(explain_text(data))


def register(app: typer.Typer) -> None:
    app.add_typer(scopes, name="scopes")
