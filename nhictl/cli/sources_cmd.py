"""``nhictl sources list|test``."""

from __future__ import annotations

import os
from typing import Annotated, Any

import typer

from nhictl.cli.common import OutputOpt, emit, example, now_iso, state
from nhictl.exporters.base import Column, Document, Format

sources = typer.Typer(help="Configured binding sources.", no_args_is_help=True)

COLUMNS = [
    Column("name", "NAME", 20),
    Column("kind", "KIND", 11),
    Column("location", "LOCATION", 34),
    Column("secret", "SECRET", 36),
    Column("default_purpose", "PURPOSE", 16),
]


def _row(cfg: Any, config: Any) -> dict[str, Any]:
    opts = cfg.options
    location = opts.get("path") or opts.get("store") or opts.get("base_url") or (
        "https://api.workos.com" if cfg.kind == "workos" else
        "https://api.nango.dev" if cfg.kind == "nango" else "")
    if cfg.kind == "file" and location:
        location = str(config.relative(str(location)))
    elif cfg.kind == "slack-store" and location:
        scheme, _, rest = str(location).partition(":")
        if scheme in ("sqlite", "dir") and rest:
            location = f"{scheme}:{config.relative(rest)}"
    var = cfg.secret_env
    secret_state = "not needed"  # noqa: S105 (a status text, not a secret)
    if var:
        secret_state = f"${var} " + ("set" if os.environ.get(var) else "NOT SET")
    from nhictl.secret import mask_tokens  # a store URL's user:password@ is shown as ***@

    return {"name": cfg.name, "kind": cfg.kind, "location": mask_tokens(str(location)),
            "secret": secret_state,
            "secret_env": var, "secret_set": bool(var and os.environ.get(var)),
            "default_purpose": cfg.default_purpose, "tenant": cfg.tenant}


@sources.command("list", epilog=example("nhictl --config nhictl.toml sources list"))
def list_sources(ctx: typer.Context, output: OutputOpt = Format.TABLE) -> None:
    """Each configured source, its kind, and whether its secret variable is set (never a value)."""
    st = state(ctx)
    config = st.config
    if not config.sources:
        st.info("no sources configured (add [[sources]] to nhictl.toml, or pass --source "
                "file:PATH to reconcile)")
    rows = [_row(cfg, config) for cfg in config.sources]
    emit(st, Document("sources", COLUMNS, rows, now_iso()), output)


@sources.command("test", epilog=example("nhictl sources test prod-pipes"))
def test_source(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A configured source name (or a source spec).")],
) -> None:
    """Check a source's connectivity and credentials (reads it; changes nothing)."""
    from nhictl.errors import NhictlError, UsageError
    from nhictl.sources.registry import resolve

    st = state(ctx)
    (source, _spec), = resolve([name], st.config, st.http_policy())
    check = getattr(source, "check", None)
    if check is None:
        raise UsageError(f"source {name!r} has no connectivity test")
    try:
        result = check()
    finally:
        close = getattr(source, "close", None)
        if close is not None:
            close()
    if not isinstance(result, str):
        raise NhictlError(f"source {name!r}: unexpected check result")
    print(f"{source.name}: {result}")


def register(app: typer.Typer) -> None:
    app.add_typer(sources, name="sources")
