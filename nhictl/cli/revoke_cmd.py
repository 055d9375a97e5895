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
    Column("obtained_from", "TOKEN", 30),
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
    st: AppState, conn: Connection, path: Path, notes: dict[str, list[str]]
) -> list[tuple[dict[str, Any], str]]:
    """Bindings whose revoke decision ``review apply`` recorded from this file (and no later
    decision replaced); any other revoke row is named and skipped, never revoked.

    A binding that changed since the packet is still revoked (the reviewer rejected the
    connection), but ``notes`` says what changed, so the plan shows it."""
    from nhictl.clock import system_clock
    from nhictl.review.applied import applied_revokes

    found = applied_revokes(conn, path, system_clock())
    for problem in found.skipped:
        st.warn(f"{path}: {problem}; not revoked")
    for bid, extra in found.binding_notes.items():
        notes.setdefault(bid, []).extend(extra)
    return found.targets


def _read_token() -> Any:
    """One token from stdin (as ``nhictl hash`` reads it); never echoed."""
    from nhictl.errors import InvalidInputError
    from nhictl.fsutil import read_stdin_text
    from nhictl.secret import Secret

    # Strict UTF-8 from the byte stream: a text stdin decodes with surrogateescape under a
    # C/POSIX locale, and such a "token" would crash the fingerprint (exit 70).
    data = read_stdin_text("the token on stdin")
    token = data.strip()
    if not token:
        raise InvalidInputError("stdin: no token given",
                                hint='printenv TOKEN | nhictl revoke ID --token-stdin')
    if any(c in token for c in "\r\n\t "):
        raise InvalidInputError("stdin: expected one token on one line")
    return Secret(token)


def _plan(st: AppState, inv: Any, refs: list[str], from_review: Path | None,
          reason: str | None, actor: str, token: Any, mark_removed: bool
          ) -> tuple[list[Any], dict[str, Any]]:
    """The steps from the inventory as it is now (called again under the write lock)."""
    from nhictl.revoke.plan import build_plan
    from nhictl.revoke.probe import check_supplied, with_supplied
    from nhictl.revoke.record import interrupted_attempts
    from nhictl.store import repo

    notes: dict[str, list[str]] = {}
    with inv.engine.connect() as conn:
        if from_review is not None:
            targets = _from_review(st, conn, from_review, notes)
        else:
            text = reason or f"revoked by {actor} with nhictl"
            targets = []
            for ref in refs:
                row = repo.get_binding(conn, repo.resolve_binding_id(conn, ref))
                assert row is not None
                targets.append((row, text))
        shared = _shared_tokens(conn, [row for row, _ in targets])
        attempts = interrupted_attempts(conn, [row["id"] for row, _ in targets])
    supplied: dict[str, Any] = {}
    if token is not None and targets:
        check_supplied(inv.key, targets[0][0], token)
        supplied[targets[0][0]["id"]] = token
    configured = {s.name: s.kind for s in st.config.sources}
    steps = build_plan(targets, configured, shared, notes, mark_removed=mark_removed,
                       attempts=attempts)
    steps = [with_supplied(s) if s.binding_id in supplied else s for s in steps]
    return steps, supplied


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
            help="Revoke the revoke decisions `review apply` recorded from this review CSV.",
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
    token_stdin: Annotated[
        bool, typer.Option("--token-stdin", help="Read the binding's token on stdin (when its "
                           "source no longer has it); used only if its fingerprint matches.")
    ] = False,
    mark_removed: Annotated[
        bool, typer.Option("--mark-removed", help="Do not call Slack: record the bindings "
                           "`removed` with an event saying Slack was not told.")
    ] = False,
    output: OutputOpt = Format.TABLE,
) -> None:
    """Revoke bindings at Slack (auth.revoke) and at their broker; a plan only without --yes.

    Tokens are obtained on demand from their holder. Each binding is revoked independently:
    a failure is recorded and reported (exit 5) while the others proceed. A binding is
    recorded revoked only when Slack says so. Revoking a bot token deactivates the bot user;
    it does not uninstall the app.
    """
    from nhictl.errors import UsageError
    from nhictl.store import repo

    st = state(ctx)
    if bool(bindings) == (from_review is not None):
        raise UsageError(
            "give binding ids or --from-review FILE (one of them)",
            hint="nhictl revoke b-3f2a --reason 'offboarded'",
        )
    if token_stdin and len(bindings or []) != 1:
        raise UsageError("--token-stdin takes exactly one binding id (not --from-review)",
                         hint="printenv TOKEN | nhictl revoke b-3f2a --token-stdin --yes")
    if mark_removed and (token_stdin or preflight):
        raise UsageError("--mark-removed calls nothing at Slack: it cannot be combined with "
                         "--token-stdin or --preflight")
    actor = repo.actor_name(st.actor)
    token = _read_token() if token_stdin else None
    inv = st.open()
    if yes and bindings and not reason:
        require_reason(inv, bindings)
    args = (list(bindings or []), from_review, reason, actor, token, mark_removed)
    if yes:
        # Planned again under the lock: a revoke that finished meanwhile is not repeated.
        with st.write_lock("nhictl revoke --yes") as locks:
            inv.locks = locks  # its run holds a run lock; live runs elsewhere are left alone
            steps, supplied = _plan(st, inv, *args)
            if _announce(st, steps):
                _execute(st, inv, steps, preflight, output, supplied)
        return
    steps, supplied = _plan(st, inv, *args)
    if not _announce(st, steps):
        return
    steps = _probe(st, steps, supplied)
    if output is Format.TABLE:
        _print_plan(steps)
    else:
        emit(st, Document("plan", PLAN_COLUMNS, [s.as_row() for s in steps], now_iso(),
                          title="revoke plan"), output)
    todo = sum(1 for s in steps if s.noop is None)
    blocked = [s.binding_id for s in steps if s.obtained_from.startswith("unavailable")]
    if blocked:
        st.warn(f"nhictl cannot obtain the token of {', '.join(blocked)}: with --yes "
                f"{'that revoke fails' if len(blocked) == 1 else 'those revokes fail'} "
                "(exit 5) unless you use --token-stdin or --mark-removed")
    st.info(
        f"plan only, nothing changed: {todo} binding(s) to "
        f"{'mark removed' if mark_removed else 'revoke'}, {len(steps) - todo} already "
        "revoked. Run again with --yes to execute."
    )


def _announce(st: AppState, steps: list[Any]) -> bool:
    """Say what will not be done; False when there is nothing at all."""
    if not steps:
        st.info("nothing to revoke: no applied row has decision revoke")
        return False
    for step in steps:
        if step.noop is not None:
            st.info(f"{step.binding_id}: {step.noop}; nothing to do")
    return True


def _opener(st: AppState) -> Any:
    from nhictl.revoke.plan import RevokeStep
    from nhictl.sources.base import Source
    from nhictl.sources.registry import reopen

    def opener(step: RevokeStep) -> Source:
        return reopen(step.source, step.source_spec, st.config, st.http_policy())

    return opener


def _probe(st: AppState, steps: list[Any], supplied: dict[str, Any]) -> list[Any]:
    from nhictl.revoke.probe import token_views

    return token_views(steps, _opener(st), supplied)


def _print_plan(steps: list[Any]) -> None:
    """The plan as blocks: what will be called is the point, so it is never cut."""
    from nhictl.untrusted import inert

    for step in steps:
        row = step.as_row()
        # Owners and workspaces are sources' words: inert (nhictl.untrusted).
        print(inert(f"{row['binding_id']}  {row['owner']}  {row['workspace']}  "
                    f"{row['token_kind']} token, {row['status']}"))
        if row["obtained_from"] != "-":
            print(inert(f"  token: {row['obtained_from']}"))
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


def _execute(st: AppState, inv: Any, steps: list[Any], preflight: bool, output: Format,
             supplied: dict[str, Any]) -> None:
    from nhictl.clock import system_clock
    from nhictl.errors import RevokeFailedError
    from nhictl.revoke.execute import execute
    from nhictl.slack import SlackClient
    from nhictl.store import repo

    for step in steps:
        if step.noop is None and step.notes:
            st.info(f"{step.binding_id}: " + "; ".join(step.notes))
    report = execute(
        inv,
        steps,
        client=SlackClient(st.api_url(), allow_insecure_http=st.allow_insecure_http),
        open_source=_opener(st),
        clock=system_clock,
        actor=repo.actor_name(st.actor),
        preflight=preflight,
        supplied=supplied,
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
            hint="the failures are recorded; fix the cause and run the same command again "
                 "(a token nhictl cannot obtain: --token-stdin, or --mark-removed)",
        )


def register(app: typer.Typer) -> None:
    app.command("revoke", short_help="Revoke at Slack, then at the broker (a plan without "
                "--yes).", epilog=example("nhictl revoke --from-review review.csv --yes"))(revoke)


def require_reason(inv: Any, refs: list[str]) -> None:
    """``revoke ID --yes`` says why: ``--reason`` or a recorded review decision to revoke."""
    from nhictl.errors import UsageError
    from nhictl.store import repo

    with inv.engine.connect() as conn:
        for ref in refs:
            binding = repo.get_binding(conn, repo.resolve_binding_id(conn, ref))
            if binding is not None and binding.get("last_review_decision") != "revoke":
                raise UsageError(  # a revocation is evidence: it must say why
                    f"revoke --yes {binding['id']}: give --reason TEXT (no review decision to "
                    "revoke is recorded for it)",
                    hint=f"nhictl revoke {binding['id']} --reason TEXT --yes")
