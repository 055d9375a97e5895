"""``nhictl revoke ID... | --from-review FILE [--yes] [--preflight]``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nhictl.cli.common import AppState, OutputOpt, emit, example, now_iso, state
from nhictl.exporters.base import Column, Document, Format

if TYPE_CHECKING:
    from sqlalchemy import Connection

PLAN_COLUMNS = [
    Column("binding_id", "BINDING", 12),
    Column("owner", "OWNER", 24),
    Column("workspace", "WORKSPACE", 20),
    Column("token_kind", "KIND", 7),
    Column("status", "STATUS", 15),
    Column("will_call", "WILL CALL", 60),
    Column("notes", "NOTES", 50),
]
OUTCOME_COLUMNS = [
    Column("binding_id", "BINDING", 12),
    Column("outcome", "OUTCOME", 15),
    Column("slack", "SLACK", 18),
    Column("broker_removal", "BROKER", 14),
    Column("detail", "DETAIL", 60),
    Column("notes", "NOTES", 50),
]


def _from_review(
    conn: Connection, path: Path, notes: dict[str, list[str]] | None = None
) -> list[tuple[dict[str, Any], str]]:
    """Bindings whose row says ``revoke``; any bad revoke row refuses the whole file.

    A binding that changed since the packet is still revoked (the reviewer rejected the
    connection), but ``notes`` says what changed, so the plan shows it."""
    from nhictl.errors import InputFileError, UsageError
    from nhictl.review.csvread import read_rows
    from nhictl.review.decisions import changed_since_packet
    from nhictl.store import repo

    targets: list[tuple[dict[str, Any], str]] = []
    problems: list[str] = []
    for row in read_rows(path):
        if row.get("decision").lower() != "revoke":
            continue
        ref, reviewer = row.get("binding_id"), row.get("reviewer")
        try:
            bid = repo.resolve_binding_id(conn, ref)
        except UsageError:
            problems.append(f"line {row.line}: unknown binding {ref!r}")
            continue
        if not reviewer:
            problems.append(f"line {row.line} {bid}: reviewer is missing")
            continue
        reason = f"access review: revoke decided by {reviewer}"
        if row.get("justification"):
            reason += f": {row.get('justification')}"
        binding = repo.get_binding(conn, bid)
        assert binding is not None
        changed = changed_since_packet(row, binding)
        if changed and notes is not None:
            notes.setdefault(bid, []).append(changed.replace("; review it again from a fresh "
                                                             "packet", ""))
        targets.append((binding, reason))
    if problems:
        raise InputFileError(
            str(path),
            None,
            "; ".join(problems) + "; nothing was revoked",
            hint="fix the rows (see `nhictl review apply --dry-run FILE`)",
        )
    return targets


def revoke(
    ctx: typer.Context,
    bindings: Annotated[
        list[str] | None,
        typer.Argument(metavar="ID", help="Binding ids (or unique prefixes)."),
    ] = None,
    from_review: Annotated[
        Path | None,
        typer.Option(
            "--from-review",
            metavar="FILE",
            dir_okay=False,
            help="Revoke the rows of this review CSV whose decision is revoke.",
        ),
    ] = None,
    reason: Annotated[
        str | None,
        typer.Option("--reason", metavar="TEXT", help="Why (recorded with the revocation)."),
    ] = None,
    yes: Annotated[
        bool, typer.Option("--yes", "-y", help="Execute. Without it only the plan is printed.")
    ] = False,
    preflight: Annotated[
        bool, typer.Option("--preflight", help="Call auth.revoke with test=1 first.")
    ] = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Revoke bindings at Slack (auth.revoke) and at their broker; a plan only without --yes.

    Tokens are obtained on demand from their holder. Each binding is revoked independently:
    a failure is recorded and reported (exit 5) while the others proceed. Revoking a bot
    token deactivates the bot user; it does not uninstall the app.
    """
    from nhictl.errors import UsageError
    from nhictl.revoke.plan import build_plan
    from nhictl.store import repo

    st = state(ctx)
    if bool(bindings) == (from_review is not None):
        raise UsageError(
            "give binding ids or --from-review FILE (one of them)",
            hint="nhictl revoke b-3f2a --reason 'offboarded'",
        )
    actor = repo.actor_name(st.actor)
    inv = st.open()
    with inv.engine.connect() as conn:
        notes: dict[str, list[str]] = {}
        if from_review is not None:
            targets = _from_review(conn, from_review, notes)
        else:
            text = reason or f"revoked by {actor} with nhictl"
            targets = []
            for ref in bindings or []:
                row = repo.get_binding(conn, repo.resolve_binding_id(conn, ref))
                assert row is not None
                targets.append((row, text))
        shared = _shared_tokens(conn, [row for row, _ in targets])
    configured = {s.name: s.kind for s in st.config.sources}
    steps = build_plan(targets, configured, shared, notes)
    if not steps:
        st.info("nothing to revoke: no row has decision revoke")
        return
    for step in steps:
        if step.noop is not None:
            st.info(f"{step.binding_id}: {step.noop}; nothing to do")
    if not yes:
        if output is Format.TABLE:
            _print_plan(steps)
        else:
            emit(st, Document("plan", PLAN_COLUMNS, [s.as_row() for s in steps], now_iso(),
                              title="revoke plan"), output)
        todo = sum(1 for s in steps if s.noop is None)
        st.info(
            f"plan only, nothing changed: {todo} binding(s) to revoke, "
            f"{len(steps) - todo} already revoked. Run again with --yes to execute."
        )
        return
    with st.write_lock("nhictl revoke --yes"):
        _execute(st, inv, steps, preflight, output)


def _print_plan(steps: list[Any]) -> None:
    """The plan as blocks: what will be called is the point, so it is never cut."""
    from nhictl.untrusted import inert

    for step in steps:
        row = step.as_row()
        # Owners and workspaces are sources' words: inert (nhictl.untrusted).
        print(inert(f"{row['binding_id']}  {row['owner']}  {row['workspace']}  "
                    f"{row['token_kind']} token, {row['status']}"))
        print(inert(f"  will call: {row['will_call']}"))
        for note in step.notes:
            print(inert(f"  note: {note}"))


def _shared_tokens(conn: Any, rows: list[dict[str, Any]]) -> dict[str, list[str]]:
    """For each target, the other live bindings with the same token fingerprint."""
    from sqlalchemy import select

    from nhictl.store.tables import BINDINGS

    prints = {r["token_fingerprint"] for r in rows if r.get("token_fingerprint")}
    if not prints:
        return {}
    holders: dict[str, list[str]] = {}
    query = select(BINDINGS.c.id, BINDINGS.c.token_fingerprint).where(
        BINDINGS.c.token_fingerprint.in_(sorted(prints)), BINDINGS.c.status != "revoked"
    )
    for bid, fp in conn.execute(query):
        holders.setdefault(fp, []).append(bid)
    return {
        r["id"]: sorted(b for b in holders.get(r["token_fingerprint"], []) if b != r["id"])
        for r in rows
        if r.get("token_fingerprint")
    }


def _execute(st: AppState, inv: Any, steps: list[Any], preflight: bool, output: Format) -> None:
    from nhictl.clock import system_clock
    from nhictl.errors import RevokeFailedError
    from nhictl.revoke.execute import execute
    from nhictl.revoke.plan import RevokeStep
    from nhictl.slack import SlackClient
    from nhictl.sources.base import Source
    from nhictl.sources.registry import reopen
    from nhictl.store import repo

    def opener(step: RevokeStep) -> Source:
        return reopen(step.source, step.source_spec, st.config, st.http_policy())

    for step in steps:
        if step.noop is None and step.notes:
            st.info(f"{step.binding_id}: " + "; ".join(step.notes))
    report = execute(
        inv,
        steps,
        client=SlackClient(st.api_url(), allow_insecure_http=st.allow_insecure_http),
        open_source=opener,
        clock=system_clock,
        actor=repo.actor_name(st.actor),
        preflight=preflight,
    )
    emit(
        st,
        Document(
            "outcomes",
            OUTCOME_COLUMNS,
            [o.as_row() for o in report.outcomes],
            now_iso(),
            title="revoke outcome",
        ),
        output,
    )
    for o in report.failed:  # the table cuts long causes; say each one whole
        st.warn(f"{o.binding_id}: {o.detail}")
    counts = report.counts()
    st.info("revoke: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if report.failed:
        raise RevokeFailedError(
            f"{len(report.failed)} of {len(report.outcomes)} revocation(s) failed: "
            + ", ".join(o.binding_id for o in report.failed),
            hint="the failures are recorded; fix the cause and run the same command again",
        )


def register(app: typer.Typer) -> None:
    app.command("revoke", short_help="Revoke at Slack, then at the broker (a plan without "
                "--yes).", epilog=example("nhictl revoke --from-review review.csv --yes"))(revoke)
