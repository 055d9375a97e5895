"""``nhictl schema [NAME]``: the published JSON Schemas of inputs and machine outputs."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from nhictl.cli.common import example


def schema(
    name: Annotated[
        str | None,
        typer.Argument(metavar="NAME", help="A schema name; without one, list them."),
    ] = None,
) -> None:
    """Print the JSON Schema of an input (export, review-csv) or a JSON output."""
    from nhictl import schemas

    known = schemas.names()
    if name is None:
        width = max(len(n) for n in known)
        for n in known:
            title = str(schemas.load(n).get("title", ""))
            print(f"{n:<{width}}  {title.split(': ', 1)[-1]}")
        return
    if name not in known:
        raise typer.BadParameter(f"unknown schema {name!r}; expected one of: "
                                 + ", ".join(known), param_hint="NAME")
    sys.stdout.write(schemas.text(name))


def register(app: typer.Typer) -> None:
    app.command(
        "schema",
        short_help="JSON Schemas of the export format, the review CSV and every JSON output.",
        epilog=example("nhictl schema export > export.schema.json"),
    )(schema)
