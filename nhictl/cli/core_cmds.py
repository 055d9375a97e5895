"""``nhictl init``, ``reconcile``, ``events`` and ``hash``."""

from __future__ import annotations

from typing import Annotated

import typer

from nhictl.cli.columns import EVENT_COLUMNS, EVENT_CSV
from nhictl.cli.common import (
    MAX_SECONDS,
    OutputOpt,
    WideOpt,
    emit,
    example,
    finite_seconds,
    now_iso,
    state,
)
from nhictl.cli.filter_opts import (
    OwnerOpt,
    ScopeOpt,
    SourceOpt,
    StatusOpt,
    TenantOpt,
    WorkspaceOpt,
    filters,
)
from nhictl.cli.notify_cmd import NotifyOpt
from nhictl.exporters.base import Document, Format
from nhictl.models import Severity
from nhictl.shard import ShardSpecError, parse_shard


def init(
    ctx: typer.Context,
    new_key: Annotated[bool, typer.Option(
        "--new-key", help="The key file is lost for good: make a new key and clear every "
        "stored fingerprint (re-learnt at the next reconcile).")] = False,
) -> None:
    """Create (or migrate) the inventory and its fingerprint key."""
    from nhictl.store.engine import open_inventory
    from nhictl.store.migrations import SCHEMA_VERSION

    st = state(ctx)
    with st.write_lock("nhictl init", create=True):
        inv, action = open_inventory(st.db, create=True, new_key=new_key)
    inv.dispose()
    if action == "rekeyed":
        st.warn("a new fingerprint key was made: stored fingerprints were cleared and are "
                "re-learnt at the next reconcile")
    st.info(f"inventory {action}: {inv.location} (schema version {SCHEMA_VERSION})")


def hash_token(
    ctx: typer.Context,
    lookup: Annotated[bool, typer.Option(
        "--lookup", help="Print the binding(s) that hold the token instead (exit 1 if none).")
    ] = False,
) -> None:
    """Print the fingerprint of a token read on stdin (for correlation; the token is not kept)."""
    from nhictl.errors import InvalidInputError
    from nhictl.fsutil import read_stdin_text
    from nhictl.secret import Secret, fingerprint

    st = state(ctx)
    inv = st.open()
    data = read_stdin_text("the token on stdin")
    token = data.strip()
    if not token:
        raise InvalidInputError("stdin: no token given", hint='echo "$TOKEN" | nhictl hash')
    if "\n" in token:
        raise InvalidInputError("stdin: expected one token on one line")
    fp = fingerprint(inv.key, Secret(token))
    if not lookup:
        print(fp)
        return
    from nhictl.lookup import by_fingerprint
    from nhictl.store import repo

    with inv.engine.connect() as conn:
        held = [repo.get_binding(conn, bid) for bid in by_fingerprint(conn, fp)]
    from nhictl.cli.columns import BINDING_TABLE, binding_view

    rows = [binding_view(b) for b in held if b is not None]
    if rows:  # through the exporters, which escape what sources said
        emit(st, Document("bindings", BINDING_TABLE, rows, now_iso()), Format.TABLE)
    st.info(f"{fp}: held by {len(held)} binding(s)")
    if not held:
        raise typer.Exit(1)


def _json_only(value: Format | None) -> Format | None:
    if value is not None and value is not Format.JSON:
        raise typer.BadParameter("reconcile prints its run report only as json")
    return value


def _shard_spec(value: str | None) -> str | None:
    if value is not None:
        try:
            parse_shard(value)
        except ShardSpecError as exc:
            raise typer.BadParameter(str(exc)) from None
    return value


def reconcile_cmd(
    ctx: typer.Context,
    source: Annotated[
        list[str] | None,
        typer.Option(
            "--source",
            "-s",
            metavar="SPEC",
            help="file:PATH, slack-store:sqlite:PATH|sqlalchemy:URL|dir:PATH, or "
            "a configured source name (repeatable; default: every configured source).",
        ),
    ] = None,
    no_validate: Annotated[
        bool,
        typer.Option(
            "--no-validate", help="Do not call Slack (no auth.test in the workspaces' logs)."
        ),
    ] = False,
    concurrency: Annotated[
        int | None,
        typer.Option(
            "--concurrency", metavar="N", min=1, max=256, help="Parallel Slack calls (default 16)."
        ),
    ] = None,
    deadline: Annotated[
        float | None,
        typer.Option(
            "--deadline",
            metavar="SECONDS",
            min=0.1,
            max=MAX_SECONDS,
            callback=finite_seconds,
            help="Bound the whole run (source reads and validation) to this many seconds; "
            "what is left is partial (its bindings untouched) or inconclusive.",
        ),
    ] = None,
    fail_on: Annotated[
        Severity | None,
        typer.Option(
            "--fail-on",
            metavar="SEVERITY",
            help="Run the checks afterwards; exit 1 if an unsuppressed finding is at "
            "or above this severity.",
        ),
    ] = None,
    allow_empty: Annotated[
        bool,
        typer.Option(
            "--allow-empty",
            help="Accept a source that returns no connections "
            "(all of its bindings become removed).",
        ),
    ] = False,
    strict: Annotated[
        bool,
        typer.Option(
            "--strict",
            help="An export field name close to a known one (ownerEmail, scope) is an "
            "error (exit 3, nothing written), not a warning.",
        ),
    ] = False,
    fail_on_partial: Annotated[
        bool,
        typer.Option(
            "--fail-on-partial/--no-fail-on-partial",
            help="Exit 4 when the run is partial, even with findings (default); "
            "--no-fail-on-partial exits by the findings alone (still warning).",
        ),
    ] = True,
    output: Annotated[
        Format | None,
        typer.Option(
            "-o",
            "--output",
            metavar="json",
            callback=_json_only,
            help="json: print the run report on stdout.",
        ),
    ] = None,
    notify: NotifyOpt = None,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            callback=_shard_spec,
            help="Reconcile only shard K of N (each workspace belongs to one shard): N hosts "
            "running 1/N..N/N share one inventory. Sources are read whole; only the shard's "
            "bindings are validated, written and swept.",
        ),
    ] = None,
) -> None:
    """Collect bindings from their sources, validate them live, and update the inventory."""
    from nhictl.cli.progress import run_reconcile

    st = state(ctx)
    # A bad [policy]/[purposes] must fail before anything is written, with or without
    # --fail-on (a typo would otherwise go unnoticed until the next check).
    from nhictl.policy import build_policy

    policy, _ = build_policy(st.config.policy or None, st.config.purposes or None,
                             path=st.config.path)
    if fail_on is not None:
        # --fail-on runs the checks afterwards: its suppressions file must read too, now.
        from nhictl.checks.runner import policy_suppressions

        policy_suppressions(policy)
    from nhictl.cli import notify_cmd

    targets = notify_cmd.prepare(st, notify)  # a bad target: exit 3 before the run
    code = run_reconcile(
        st,
        source or [],
        validate=not no_validate,
        concurrency=concurrency,
        deadline=deadline,
        output=output,
        allow_empty=allow_empty,
        strict=strict,
        shard=parse_shard(shard) if shard else None,
    )
    from nhictl.cli.exit_status import reconcile_exit_code

    code = reconcile_exit_code(st, code, fail_on, fail_on_partial=fail_on_partial)
    raise typer.Exit(max(code, notify_cmd.send(st, targets)))


def events(
    ctx: typer.Context,
    binding: Annotated[
        str | None,
        typer.Option("--binding", "-b", metavar="ID", help="Only this binding (id or prefix)."),
    ] = None,
    since: Annotated[
        str | None,
        typer.Option("--since", metavar="WHEN", help="ISO date/time or age like 7d, 12h."),
    ] = None,
    event_type: Annotated[
        list[str] | None,
        typer.Option("--type", metavar="TYPE", help="Only these event types (repeatable)."),
    ] = None,
    tenant: TenantOpt = None,
    owner: OwnerOpt = None,
    workspace: WorkspaceOpt = None,
    source: SourceOpt = None,
    status: StatusOpt = None,
    scope: ScopeOpt = None,
    sort: Annotated[str | None, typer.Option(
        "--sort", metavar="FIELD", help="Order by seq, at, run_id, type, binding_id or actor "
        "(prefix - for descending; default: seq).")] = None,
    wide: WideOpt = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """The append-only audit trail.

    The binding filters select events of the bindings that match them now (events without
    a binding, such as a run's, are left out while a binding filter is given).
    """
    from nhictl.clock import iso, parse_since, system_clock
    from nhictl.errors import UsageError
    from nhictl.filters import sort_rows
    from nhictl.store import repo

    st = state(ctx)
    _known_event_types(event_type or [])
    sort_fields = [c.key for c in EVENT_CSV if c.key != "details"]
    sort_rows([], sort, sort_fields)  # a bad --sort is a usage error before any work
    wanted = filters(tenant=tenant, owner=owner, workspace=workspace, source=source,
                     status=status, scope=scope)
    inv = st.open()
    since_iso = None
    if since:
        try:
            since_iso = iso(parse_since(since, system_clock()))
        except ValueError:
            raise UsageError(
                f"--since {since!r}: expected an ISO date/time or an age like 7d"
            ) from None
    with inv.engine.connect() as conn:
        bid = repo.resolve_binding_id(conn, binding) if binding else None
        rows = repo.iter_events(conn, binding_id=bid, since=since_iso, types=event_type or [])
        if wanted.on_bindings:
            keep = {b["id"] for b in repo.iter_bindings(conn) if wanted.binding_matches(b)}
            rows = (e for e in rows if e.get("binding_id") in keep)
        columns = EVENT_COLUMNS if output is Format.TABLE else EVENT_CSV
        emit(st, Document("events", columns, sort_rows(rows, sort, sort_fields), now_iso()),
             output, wide=wide)


def _known_event_types(types: list[str]) -> None:
    """A mistyped --type would list nothing and look like a quiet history: refuse it."""
    from nhictl.models import EventType

    known = [t.value for t in EventType]
    for value in types:
        if value not in known:
            raise typer.BadParameter(f"unknown event type {value!r}; expected one of: "
                                     + ", ".join(known), param_hint="--type")


def register(app: typer.Typer) -> None:
    app.command("init", epilog=example("nhictl --db ./inventory.db init"))(init)
    app.command(
        "reconcile",
        short_help="Collect, validate live and update the inventory (one run).",
        epilog=example("nhictl reconcile --source file:exports/connections.json --fail-on high"),
    )(reconcile_cmd)
    app.command("events", epilog=example("nhictl events --binding b-3f2a --since 7d"))(events)
    app.command(
        "hash",
        short_help="Fingerprint of a token read on stdin.",
        epilog=example("printenv SLACK_TOKEN | nhictl hash"),
    )(hash_token)
