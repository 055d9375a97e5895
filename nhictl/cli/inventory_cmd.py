"""``nhictl inventory list|show``."""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Annotated, Any

import typer

from nhictl.cli.columns import (
    BINDING_CSV,
    BINDING_JSON_FIELDS,
    BINDING_TABLE,
    EVENT_COLUMNS,
    binding_json,
    binding_view,
)
from nhictl.cli.common import OutputOpt, WideOpt, emit, example, now_iso, state
from nhictl.cli.filter_opts import (
    OwnerOpt,
    ScopeOpt,
    SortOpt,
    SourceOpt,
    StatusOpt,
    TenantOpt,
    WorkspaceOpt,
    filters,
)
from nhictl.exporters.base import Document, Format
from nhictl.untrusted import ascii_escaped, inert, mask_record

inventory = typer.Typer(help="Read the inventory of bindings.", no_args_is_help=True)


@inventory.command("list", epilog=example("nhictl inventory list --status needs_reconnect -o csv"))
def list_bindings(
    ctx: typer.Context,
    status: StatusOpt = None,
    tenant: TenantOpt = None,
    workspace: WorkspaceOpt = None,
    owner: OwnerOpt = None,
    scope: ScopeOpt = None,
    source: SourceOpt = None,
    sort: SortOpt = None,
    wide: WideOpt = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """List bindings, filtered (repeated filter = any of them; different filters = all)."""
    from nhictl.filters import sort_rows
    from nhictl.store import repo

    st = state(ctx)
    wanted = filters(tenant=tenant, owner=owner, workspace=workspace, source=source,
                     status=status, scope=scope)
    inv = st.open()
    with inv.engine.connect() as conn:
        rows: Iterable[dict[str, Any]] = (
            b for b in repo.iter_bindings(conn) if wanted.binding_matches(b))
        rows = sort_rows(rows, sort, [k for k in BINDING_JSON_FIELDS if k != "metadata"])
        if output is Format.TABLE:
            doc = Document("bindings", BINDING_TABLE, (binding_view(r) for r in rows), now_iso())
        else:
            from nhictl.sightings import corroborations

            seen = corroborations(conn) if output is Format.JSON else {}
            doc = Document("bindings", BINDING_CSV, rows, now_iso(), json_row=lambda r: {
                **binding_json(r), "corroborated_by": seen.get(r["id"], [])})
        emit(st, doc, output, wide=wide)


@inventory.command("show", epilog=example("nhictl inventory show conn-0042 --source prod-pipes"))
def show(
    ctx: typer.Context,
    binding: Annotated[str, typer.Argument(
        metavar="REF", help="Binding id or a unique prefix of it, a connection id, or a token "
        "fingerprint (hmac-sha256:...).")],
    source: Annotated[str | None, typer.Option(
        "--source", metavar="SOURCE",
        help="The source of a connection id (when several sources use it).")] = None,
    output: OutputOpt = Format.TABLE,
) -> None:
    """One binding with its events and findings."""
    import json

    from nhictl.lookup import resolve
    from nhictl.store import repo

    st = state(ctx)
    inv = st.open()
    with inv.engine.connect() as conn:
        bid = resolve(conn, binding, source)
        row = repo.get_binding(conn, bid)
        assert row is not None
        events = list(repo.iter_events(conn, binding_id=bid))
        findings = _findings(conn, bid)
        from nhictl.sightings import corroborations

        sightings = corroborations(conn, only=bid).get(bid, [])
        from nhictl.ledgers.history import history

        slack_side = history(conn, row)  # what Slack's own logs say about this grant
    if output is Format.JSON:
        json.dump(
            mask_record({
                "schema_version": 1,
                "generated_at": now_iso(),
                "binding": {**binding_json(row), "corroborated_by": sightings},
                "events": events,
                "findings": findings,
                "slack_side": [e.to_dict() for e in slack_side],
            }),
            sys.stdout,
            indent=2,
            default=str,
        )
        sys.stdout.write("\n")
        return
    if output is not Format.TABLE:
        fields = [{"field": k, "value": v} for k, v in binding_json(row).items()]
        from nhictl.exporters.base import Column

        emit(
            st,
            Document(
                "fields", [Column("field", "field"), Column("value", "value")], fields, now_iso()
            ),
            output,
        )
        return
    width = max(len(k) for k in binding_json(row))
    for key, value in binding_json(row).items():
        if value in (None, [], {}, ""):
            continue
        if key.endswith("scopes"):  # as in `inventory list`: a look-alike stands out
            value = [ascii_escaped(str(v)) for v in value]
        shown = " ".join(map(str, value)) if isinstance(value, list) else value
        print(inert(f"{key:<{width}}  {shown}"))  # every line inert: sources' words
    if sightings:  # the same token through other sources that agree on its holder
        print()
        print(f"corroborated by ({len(sightings)})")
        for o in sightings:
            print(inert(f"  {o['binding_id']}  {o['source']}  {o['connection_id']}  "
                        f"{o['status']}"))
    print()
    print(f"findings ({len(findings)})")
    for f in findings:
        sup = f.get("suppression") or {}
        kind = "accepted" if isinstance(sup, dict) and sup.get("kind") == "accepted_risk" \
            else "suppressed"
        flag = f" [{kind}]" if f.get("suppressed") else ""
        print(inert(f"  {f['severity']:<8} {f['rule_id']}{flag}: {f['message']}"))
    if slack_side:
        from nhictl.cli.ledger_cmd import print_history

        print_history(slack_side)
    print()
    print(f"events ({len(events)})")
    for e in events:  # whole details: this is the one view meant for detail
        details = EVENT_COLUMNS[-1].text(e)
        print(inert(f"  {e['at']}  {e['type']:<17} {e.get('actor') or '':<10} {details}"
                    ).rstrip())


def _findings(conn: object, bid: str) -> list[dict[str, object]]:
    """Findings of the latest complete check run for this binding (none before a check)."""
    from nhictl.store.findings_repo import latest_findings

    return list(latest_findings(conn, bid))  # type: ignore[arg-type]


def register(app: typer.Typer) -> None:
    app.add_typer(inventory, name="inventory")
