"""Reconcile from the CLI: sources, validator, progress on a terminal, the summary."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

from nhictl.cli.common import AppState, command_line, now_iso
from nhictl.exporters.base import Format

if TYPE_CHECKING:
    from nhictl.net import HttpPolicy
    from nhictl.reconcile import ReconcileReport, Validator
    from nhictl.shard import Shard
    from nhictl.store.lock import Scope


def _validator(st: AppState, concurrency: int, http: HttpPolicy) -> Validator:
    from nhictl.validation import make_validator

    return make_validator(st.api_url(), concurrency=concurrency, http=http,
                          rate_limits=st.config.slack_rate_limits)


def run_reconcile(
    st: AppState,
    specs: list[str],
    *,
    validate: bool,
    concurrency: int | None,
    deadline: float | None,
    output: Format | None,
    allow_empty: bool = False,
    strict: bool = False,
    shard: Shard | None = None,
) -> int:
    from nhictl.clock import system_clock
    from nhictl.reconcile import reconcile
    from nhictl.sources.export_file import ExportFileSource
    from nhictl.sources.registry import resolve
    from nhictl.store.repo import actor_name

    http = st.http_policy(deadline)  # --deadline bounds the whole run: reads and validation
    sources = resolve(specs, st.config, http)
    for source, _ in sources:  # --strict: an export's near-miss field names are exit 3
        if isinstance(source, ExportFileSource):
            source.strict = strict
    workers = concurrency or st.config.slack_concurrency or 16
    validator = _validator(st, workers, http) if validate else None
    from nhictl.cli.ledger_cmd import build_collectors

    # [[ledgers]] run after the sources (their subjects are the bindings); --no-validate
    # means no Slack calls at all, so none.
    collectors = build_collectors(st, []) if st.config.ledgers and validate else []
    command = command_line()
    with st.open_for_write(command.strip(), scopes=_scopes(st, sources, shard)) as inv:
        # A progress bar is escape codes: none with --no-color / NO_COLOR.
        tty = (sys.stderr.isatty() and not st.quiet and st.log_format == "text"
               and not st.no_color)
        st.info(f"reconcile: {len(sources)} source(s)" + ("" if validate else ", no validation")
                + (f", shard {shard}" if shard else ""))
        if tty:
            report = _with_progress_bar(st, validator, lambda cb: reconcile(
                inv, sources, clock=system_clock, actor=actor_name(st.actor),
                command=command.strip(), validator=validator, concurrency=workers, progress=cb,
                allow_empty=allow_empty, shard=shard))
        else:
            phases: set[str] = set()

            def log_phase(phase: str, done: int, total: int) -> None:
                if phase not in phases:
                    phases.add(phase)
                    st.info(f"{phase}: {total} item(s)" if phase == "validate" else phase)

            report = reconcile(inv, sources, clock=system_clock, actor=actor_name(st.actor),
                               command=command.strip(), validator=validator, concurrency=workers,
                               progress=log_phase, allow_empty=allow_empty,
                               shard=shard)
        ledger_code = _collect_ledgers(st, inv, collectors, command) if collectors else 0
    for source, _ in sources:
        for warning in getattr(source, "field_warnings", ()):
            st.warn(warning)
    if output is Format.JSON:
        from nhictl.reconcile import as_json
        from nhictl.untrusted import mask

        print(mask(as_json(report, now_iso())))  # ASCII JSON: controls escaped; secrets masked
    _summary(st, report, tty)
    return report.exit_code or ledger_code  # an incomplete ledger read is partial (4)


def _collect_ledgers(st: AppState, inv: Any, collectors: list[Any], command: str) -> int:
    """The [[ledgers]] after the sources, unless another reconcile (another source or
    shard, maybe another host) is collecting them right now: then this run leaves them to
    it (no wait; its checkpoints would race with ours)."""
    from nhictl.cli.ledger_cmd import collect_into
    from nhictl.errors import LockedError
    from nhictl.store.lock import ledgers_scope

    try:
        with st.write_lock(command.strip(), scopes=[ledgers_scope()], timeout=0.0):
            return collect_into(st, inv, collectors).exit_code
    except LockedError as exc:
        st.info(f"ledgers not collected by this run: {exc.message}")
        return 0


def _scopes(st: AppState, sources: list[tuple[Any, str | None]],
            shard: Shard | None) -> list[Scope]:
    """Reconcile's locks: the inventory shared, each source it writes (or that source's
    shard) exclusively. Sources are named as the inventory records them, so two spellings
    of one place take one lock."""
    from nhictl.sources.registry import keep_recorded_names
    from nhictl.store.lock import reconcile_scopes

    inv = st.open()
    try:
        keep_recorded_names(inv, sources)
    finally:
        inv.dispose()
    return reconcile_scopes([source.name for source, _ in sources],
                            (shard.index, shard.count) if shard else None)


def _with_progress_bar(st: AppState, validator: Validator | None, fn: Any) -> ReconcileReport:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    with Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                  TimeElapsedColumn(), TextColumn("{task.fields[extra]}"),
                  console=st.stderr(), transient=True) as bar:
        tasks: dict[str, Any] = {}

        def cb(phase: str, done: int, total: int) -> None:
            extra = ""
            if phase == "validate" and validator is not None:
                snap = getattr(getattr(validator, "client", None), "stats", None)
                if snap is not None:
                    extra = (f"dead {int(snap.dead)}  inconclusive {int(snap.inconclusive)}  "
                             f"rate-limit waits {int(snap.rate_limit_waits)}  "
                             f"429s {int(snap.http_429)}")
            if phase not in tasks:
                tasks[phase] = bar.add_task(phase, total=total or None, extra=extra)
            bar.update(tasks[phase], completed=done, total=total or None, extra=extra)

        result: ReconcileReport = fn(cb)
        return result


def _summary(st: AppState, report: ReconcileReport, tty: bool) -> None:
    from nhictl.reconcile import summary_line

    for s in report.sources:
        if not s.complete:
            error = str(s.error or "").removeprefix(f"source {s.name!r}: ")  # named once
            st.warn(f"source {s.name!r} was not read completely: {error}"
                    + (f" (hint: {s.hint})" if s.hint else "") + "; its bindings were left "
                    "untouched")
    if report.inconclusive:
        st.warn(f"{len(report.inconclusive)} validation(s) inconclusive; statuses unchanged "
                f"(first: {report.inconclusive[0][0]}: {report.inconclusive[0][1]})")
    if st.log_format == "json":  # the run's last word, after its warnings
        from nhictl.logs import log

        log("reconcile finished", run_id=report.run_id, counts=dict(report.counts),
            statuses=report.status_counts, partial=report.partial,
            failed_sources=[s.name for s in report.sources if not s.complete])
    if st.quiet or st.log_format == "json":
        return
    if tty:
        from rich.table import Table

        table = Table(title=f"run {report.run_id}", box=None, header_style="bold")
        table.add_column("status")
        table.add_column("bindings", justify="right")
        from rich.markup import escape

        from nhictl.untrusted import inert

        for status, n in sorted(report.status_counts.items()):
            table.add_row(escape(inert(status)), str(n))
        st.stderr().print(table)
    else:
        statuses = ", ".join(f"{k} {v}" for k, v in sorted(report.status_counts.items()))
        st.info(f"statuses: {statuses}")
    stats = report.validator_stats
    extra = ""
    if stats:
        extra = "; " + ", ".join(f"{k} {v}" for k, v in stats.items())
    st.info(f"run {report.run_id}: {summary_line(report)}{extra}")
