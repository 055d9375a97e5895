"""``nhictl ledger collect|list``: Slack's own view of the grants (see nhictl/ledgers)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nhictl.cli.common import AppState, OutputOpt, WideOpt, emit, example, now_iso, state
from nhictl.cli.filter_opts import OwnerOpt, ScopeOpt, SortOpt, WorkspaceOpt
from nhictl.exporters.base import Column, Document, Format
from nhictl.untrusted import inert, mask_record

if TYPE_CHECKING:
    from nhictl.ledgers.base import LedgerCollector
    from nhictl.ledgers.model import LedgerEntry
    from nhictl.ledgers.runner import LedgerReport
    from nhictl.store.engine import Inventory

ledger = typer.Typer(help="Slack's side of the grants: audit logs, integration logs and "
                     "users.info, kept in the inventory.", no_args_is_help=True)

ENTRY_FIELDS = ("id", "collector", "kind", "action", "at", "app_id", "enterprise_id",
                "workspace_id", "user_id", "actor_id", "scopes", "details", "collected_at",
                "run_id")
ENTRY_TABLE = [
    Column("at", "AT", 20), Column("collector", "COLLECTOR", 14),
    Column("action", "ACTION", 22), Column("app_id", "APP", 12),
    Column("workspace_id", "WORKSPACE", 11), Column("user_id", "USER", 11),
    Column("actor_id", "ACTOR", 11), Column("scopes", "SCOPES", 30),
    Column("id", "ENTRY", 40),
]
ENTRY_CSV = [Column(k, k, render=(lambda v: json.dumps(v, sort_keys=True))
                    if k == "details" else None) for k in ENTRY_FIELDS]


def _json_only(value: Format | None) -> Format | None:
    if value is not None and value is not Format.JSON:
        raise typer.BadParameter("ledger collect prints its run report only as json")
    return value


def build_collectors(st: AppState, names: list[str]) -> list[LedgerCollector]:
    """The named (or every) configured collector; a missing token variable or a bad URL is
    exit 3 here, before anything is written."""
    from nhictl.ledgers.build import build_all

    return build_all(st.config, names, api_url=st.api_url(), http=st.http_policy())


def collect_into(st: AppState, inv: Inventory,
                 collectors: list[LedgerCollector]) -> LedgerReport:
    """Run collectors into an inventory opened for write; say what each did."""
    from nhictl.cli.common import command_line
    from nhictl.clock import system_clock
    from nhictl.ledgers.runner import collect_ledgers
    from nhictl.store.repo import actor_name

    report = collect_ledgers(inv, collectors, now=system_clock(), actor=actor_name(st.actor),
                             command=command_line().strip())
    for c in report.collectors:
        if c.complete:
            st.info(f"ledger {c.name}: {c.read} entr{'y' if c.read == 1 else 'ies'} read, "
                    f"{c.new} new, {c.calls} call(s)")
        else:
            st.warn(f"ledger {c.name}: incomplete after {c.read} entries: {c.error}"
                    + (f" (hint: {c.hint})" if c.hint else ""))
    return report


@ledger.command("collect", epilog=example("nhictl ledger collect org-audit"))
def collect(
    ctx: typer.Context,
    names: Annotated[list[str] | None, typer.Argument(
        metavar="NAME", help="[[ledgers]] names (default: every configured one).")] = None,
    output: Annotated[Format | None, typer.Option(
        "-o", "--output", metavar="json", callback=_json_only,
        help="json: print the run report on stdout.")] = None,
) -> None:
    """Read Slack's logs and directory into the inventory (only entries new since the last
    run); exit 4 when a collector could not finish (what it read is kept)."""
    from nhictl.cli.common import command_line

    st = state(ctx)
    collectors = build_collectors(st, names or [])
    with st.open_for_write(command_line().strip()) as inv:
        report = collect_into(st, inv, collectors)
    if output is Format.JSON:
        print(json.dumps(mask_record({"schema_version": 1, "generated_at": now_iso(),
                                      **report.as_dict()}), indent=2, ensure_ascii=True))
    raise typer.Exit(report.exit_code)


def _matches(e: LedgerEntry, wanted: dict[str, frozenset[str]]) -> bool:
    def norm(v: str | None) -> str:
        return (v or "").strip().casefold()

    checks: dict[str, list[str | None]] = {
        "source": [e.collector], "workspace": [e.workspace_id, e.enterprise_id],
        "owner": [e.user_id, e.actor_id], "scope": list(e.scopes), "app": [e.app_id],
        "action": [e.action],
    }
    return all(not values or any(norm(v) in values for v in checks[k])
               for k, values in wanted.items())


@ledger.command("list", epilog=example("nhictl ledger list --action app_installed -o csv"))
def list_entries(
    ctx: typer.Context,
    source: Annotated[list[str] | None, typer.Option(
        "--source", metavar="LEDGER", help="Only this collector ([[ledgers]] name). "
        "Repeatable (any of them); case-insensitive, whole value.")] = None,
    workspace: WorkspaceOpt = None,
    owner: OwnerOpt = None,
    scope: ScopeOpt = None,
    app: Annotated[list[str] | None, typer.Option(
        "--app", metavar="APP_ID", help="Only this Slack app id (repeatable).")] = None,
    action: Annotated[list[str] | None, typer.Option(
        "--action", metavar="ACTION", help="Only this action: app_installed, "
        "app_uninstalled, app_scopes_expanded, user_deactivated, user_status... "
        "(repeatable).")] = None,
    binding: Annotated[str | None, typer.Option(
        "--binding", metavar="REF", help="Only the Slack-side history of this binding.")] = None,
    since: Annotated[str | None, typer.Option(
        "--since", metavar="WHEN", help="Only entries at or after this time (ISO date or "
        "7d, 12h).")] = None,
    sort: SortOpt = None,
    wide: WideOpt = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List what the Slack-side collectors stored (repeated filter = any of them; different
    filters = all)."""
    from nhictl.clock import iso, parse_since, system_clock
    from nhictl.errors import UsageError
    from nhictl.filters import MAX_VALUE_CHARS, sort_rows
    from nhictl.ledgers.history import history
    from nhictl.ledgers.store import iter_entries

    st = state(ctx)
    for values in (source, workspace, owner, scope, app, action):
        for value in values or ():
            if len(value) > MAX_VALUE_CHARS:
                raise UsageError(f"a filter value is longer than {MAX_VALUE_CHARS} characters")
    wanted = {k: frozenset(v.strip().casefold() for v in vals or () if v.strip())
              for k, vals in (("source", source), ("workspace", workspace), ("owner", owner),
                              ("scope", scope), ("app", app), ("action", action))}
    start = None
    if since:
        try:
            start = iso(parse_since(since, system_clock()))
        except ValueError:
            raise UsageError(f"--since {since[:40]!r}: expected an ISO date/time or an "
                             "age like 7d, 12h, 30m") from None
    inv = st.open()
    with inv.engine.connect() as conn:
        if binding is not None:
            from nhictl.lookup import resolve
            from nhictl.store import repo

            row = repo.get_binding(conn, resolve(conn, binding, None))
            entries: Iterable[LedgerEntry] = history(conn, row or {})
        else:
            entries = list(iter_entries(conn))
        rows: Iterable[dict[str, Any]] = (
            e.to_dict() for e in entries
            if _matches(e, wanted) and (start is None or e.at >= start))
        rows = sort_rows(rows, sort, [k for k in ENTRY_FIELDS if k != "details"])
        columns = ENTRY_TABLE if output in (Format.TABLE, Format.MARKDOWN) else ENTRY_CSV
        emit(st, Document("entries", columns, rows, now_iso()), output, wide=wide)


def print_history(entries: list[LedgerEntry]) -> None:
    """The ``slack side`` section of ``inventory show``."""
    print()
    print(f"slack side ({len(entries)})")
    for e in entries:
        who = f" by {e.actor_id}" if e.actor_id and e.actor_id != e.user_id else ""
        about = f" {e.user_id}" if e.user_id else ""
        flags = ""
        if e.action == "user_status":
            flags = " " + " ".join(k for k, v in sorted(e.details.items()) if v is True) \
                or " active"
        scopes = f" [{' '.join(e.scopes)}]" if e.scopes else ""
        print(inert(f"  {e.at}  {e.action:<22}{about}{who}{flags}{scopes}  ({e.id})"))


def register(app: typer.Typer) -> None:
    app.add_typer(ledger, name="ledger")

