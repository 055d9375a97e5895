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
    # One column (date, live bindings, stale mark) so the table still fits 100 characters.
    Column("last_reconciled", "RECONCILED", 30),
]
FORGET_COLUMNS = [
    Column("id", "BINDING", 12),
    Column("connection_id", "CONNECTION", 24),
    Column("owner", "OWNER", 28),
    Column("status", "STATUS", 15),
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


def _known(st: Any, *, strict: bool = False) -> dict[str, Any]:
    """Sources the inventory holds bindings of; unless ``strict``, none (with a warning) when
    it cannot be read: the config is still worth showing."""
    from nhictl.errors import InvalidInputError
    from nhictl.sources.inventory_sources import known_sources
    from nhictl.store.engine import default_db_path

    try:
        inv = st.open()
    except InvalidInputError as exc:
        location = st.db or str(default_db_path())
        if strict:
            raise
        if "://" in location or os.path.exists(location):  # silent before `nhictl init`
            st.warn(f"inventory not read: {exc.message}")
        return {}
    try:
        with inv.engine.connect() as conn:
            return known_sources(conn)
    finally:
        inv.dispose()


def _reconciled(row: dict[str, Any], known: Any, stale_days: int, now: Any) -> dict[str, Any]:
    from nhictl.clock import age_days

    last = known.last_reconciled_at if known else None
    age = age_days(last, now)
    stale = bool(known and known.live and age is not None and age > stale_days)
    shown = f"{last[:10]}, {known.live} live" if known and last else "never"
    if stale:
        shown += f", stale {int(age or 0)}d"
    return {**row, "configured": row.get("configured", True),
            "live_bindings": known.live if known else 0, "last_reconciled_at": last,
            "last_reconciled": shown, "stale": stale}


@sources.command("list", epilog=example("nhictl --config nhictl.toml sources list"))
def list_sources(ctx: typer.Context, output: OutputOpt = Format.TABLE) -> None:
    """Each source, whether its secret variable is set (never a value), and when it was last
    reconciled; sources the inventory holds that the config no longer lists are shown too."""
    from nhictl.clock import system_clock
    from nhictl.policy import build_policy

    st = state(ctx)
    config = st.config
    policy, _ = build_policy(config.policy or None, config.purposes or None, path=config.path)
    known = _known(st)
    now = system_clock()
    if not config.sources and not known:
        st.info("no sources configured (add [[sources]] to nhictl.toml, or pass --source "
                "file:PATH to reconcile)")
    days = policy.source_stale_after_days
    rows = [_reconciled(_row(cfg, config), known.get(cfg.name), days, now)
            for cfg in config.sources]
    from nhictl.sources.own_credentials import SOURCE_NAME, own_credentials

    own = own_credentials(config)  # the built-in source of nhictl's own tokens
    if own:
        unset = [c.token_env for c in own if not os.environ.get(c.token_env)]
        rows.append(_reconciled({
            "name": SOURCE_NAME, "kind": "nhictl", "location": "nhictl's own tokens "
            f"({len(own)}: [[ledgers]])", "secret": "all set" if not unset else
            "NOT SET: " + ", ".join(f"${v}" for v in unset), "secret_env": None,
            "secret_set": not unset, "default_purpose": [], "tenant": None},
            known.get(SOURCE_NAME), days, now))
    for name, k in sorted(known.items()):
        if config.source(name) is None and not (own and name == SOURCE_NAME):
            kind = name.partition(":")[0] if ":" in name else "(unlisted)"
            rows.append(_reconciled({
                "name": name, "kind": kind,
                "location": k.source_spec if k.source_spec not in (None, name) else "",
                "secret": "", "secret_env": None, "secret_set": False, "default_purpose": [],
                "tenant": None, "configured": False}, k, days, now))
    emit(st, Document("sources", COLUMNS, rows, now_iso()), output)


@sources.command("forget", epilog=example("nhictl sources forget file:/srv/old-export.json --yes"))
def forget_source(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The source's name as `sources list` shows it "
                                        "(or a spec naming the same place).")],
    yes: Annotated[bool, typer.Option("--yes", help="Do it (without: print the plan).")] = False,
    force: Annotated[bool, typer.Option(
        "--force", help="Forget a source nhictl.toml still lists (its next reconcile brings "
        "the bindings back).")] = False,
    reason: Annotated[str | None, typer.Option("--reason", metavar="TEXT",
                                               help="Recorded in each event.")] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Retire a source that is gone: its live bindings become `removed`, each with an event
    saying the source was forgotten. Revoked bindings stay revoked. A plan without --yes."""
    from nhictl.cli.common import command_line
    from nhictl.clock import system_clock
    from nhictl.errors import ConfigError, UsageError
    from nhictl.sources import inventory_sources as isrc
    from nhictl.store.repo import actor_name

    st = state(ctx)
    known = _known(st, strict=True)
    source = name if name in known else None
    if source is None and ":" in name:
        from nhictl.sources.registry import names_by_place, place_of_spec

        place = place_of_spec(name)
        inv = st.open()
        try:
            with inv.engine.connect() as conn:
                names = names_by_place(conn).get(place, [])
        finally:
            inv.dispose()
        if len(names) > 1:
            raise UsageError(f"{name!r} is the place of several sources: "
                             f"{', '.join(names)}", hint="name one exactly")
        configured = st.config.source_at(place)  # a configured source's place, spelled out
        if not names and configured is not None and configured.name in known:
            names = [configured.name]
        source = names[0] if names else None
    if source is None:
        listed = ", ".join(sorted(known)) or "none"
        raise UsageError(f"no bindings from source {name!r} in the inventory (sources: "
                         f"{listed})", hint="see `nhictl sources list`")
    if st.config.source(source) is not None and not force:
        raise ConfigError(
            f"source {source!r} is still listed in {st.config.path}; nothing was changed",
            hint="remove its [[sources]] entry first (or pass --force: the next reconcile "
            "would bring its bindings back)")
    if not yes:
        inv = st.open()
        try:
            with inv.engine.connect() as conn:
                targets = isrc.live_bindings(conn, source)
        finally:
            inv.dispose()
        rows = [{**t, "owner": t.get("owner_email") or t.get("owner_id") or ""}
                for t in targets]
        # JSON: {"plan": [...]} as `revoke` prints its plan (schema forget-plan)
        emit(st, Document("plan", FORGET_COLUMNS, rows, now_iso(), title="forget plan"), output)
        st.info(f"plan: {len(rows)} live binding(s) of source {source!r} would become "
                "removed; run again with --yes to do it")
        return
    command = command_line().strip()
    with st.open_for_write(command) as inv:
        run_id, n = isrc.forget(inv, source, now=system_clock(), actor=actor_name(st.actor),
                                command=command, reason=reason)
    st.info(f"forgot source {source!r}: {n} binding(s) marked removed (run {run_id})")


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
    from nhictl.untrusted import inert

    print(inert(f"{source.name}: {result}"))


def register(app: typer.Typer) -> None:
    app.add_typer(sources, name="sources")
