"""``nhictl review apply FILE``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from nhictl.cli.common import example, state

review = typer.Typer(help="Import access-review decisions.", no_args_is_help=True)


@review.command("apply", epilog=example("nhictl review apply review-2026Q4.csv"))
def apply(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="The review CSV, filled in by reviewers.",
                                         dir_okay=False)],
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Validate every row; change nothing.")
    ] = False,
    allow_conflicts: Annotated[
        bool, typer.Option("--allow-conflicts", help="Apply a keep and a revoke on bindings "
                           "that share one token anyway (reported as warnings).")
    ] = False,
) -> None:
    """Import reviewer decisions (keep, reduce, revoke) from a filled-in review CSV.

    Every row is checked (known binding, decision, reviewer, binding unchanged since the
    packet); valid rows are applied in one transaction, bad rows are listed with their line
    numbers and make the exit code 3. Rows without a decision are skipped. Applying the same
    file again changes nothing.

    A keep on a binding with open findings accepts exactly those findings as a risk, with
    the reviewer and justification, until the review interval has passed (or the date in an
    accepted_until column): they show as accepted, never hidden. A keep and a revoke on two
    bindings that share one token are a conflict (exit 3) unless --allow-conflicts.
    """
    from nhictl.cli.report_cmd import _policy
    from nhictl.clock import system_clock
    from nhictl.errors import InvalidInputError
    from nhictl.review.decisions import apply_file
    from nhictl.store.repo import actor_name

    st = state(ctx)
    policy = _policy(st, None)
    with st.open_for_write(f"nhictl review apply {file.name}") as inv:
        rep = apply_file(inv, file, now=system_clock(), actor=actor_name(st.actor),
                         dry_run=dry_run, command=f"review apply {file.name}", policy=policy,
                         allow_conflicts=allow_conflicts)
    for problem in rep.problems:
        st.warn(f"{file}: {problem}")
    if allow_conflicts:
        for conflict in rep.conflicts:
            st.warn(f"{file}: {conflict} (applied: --allow-conflicts)")
    c = rep.counts()
    verb = "valid (dry run, nothing applied)" if dry_run else "applied"
    st.info(f"{c['applied']} decision(s) {verb} (keep {c['keep']}, reduce {c['reduce']}, "
            f"revoke {c['revoke']}); {c['already_applied']} already applied; "
            f"{c['undecided']} row(s) without a decision; {c['bad_rows']} bad row(s)"
            + (f"; {c['accepted_findings']} finding(s) accepted as risks by keep decisions"
               if c["accepted_findings"] else ""))
    if c["revoke"] and not dry_run and not rep.problems:
        st.info(f"next: nhictl revoke --from-review {file} (add --yes to execute)")
    if rep.problems:
        raise InvalidInputError(
            f"{file}: {len(rep.problems)} bad row(s); "
            + ("nothing applied (dry run)" if dry_run else f"the {c['applied']} valid "
               "decision(s) were applied"),
            hint="fix the listed rows and apply the file again (applied rows are skipped)")


def register(app: typer.Typer) -> None:
    app.add_typer(review, name="review")
