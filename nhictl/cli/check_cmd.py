"""``nhictl check``: least-privilege and lifecycle findings."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nhictl.cli.common import (
    AppState,
    OutFileOpt,
    WideOpt,
    emit,
    example,
    now_iso,
    state,
)
from nhictl.cli.filter_opts import (
    OwnerOpt,
    RuleOpt,
    ScopeOpt,
    SortOpt,
    SourceOpt,
    StatusOpt,
    TenantOpt,
    WorkspaceOpt,
    filters,
)
from nhictl.cli.notify_cmd import NotifyOpt
from nhictl.exporters.base import Column, Document, Format
from nhictl.models import Severity

if TYPE_CHECKING:
    from collections.abc import Iterable

    from nhictl.checks.model import Finding
    from nhictl.checks.runner import CheckReport
    from nhictl.exporters.finding_context import FindingContext
    from nhictl.filters import Filters
    from nhictl.policy import Policy


def _check_format(value: Format) -> Format:
    if value is Format.HTML:
        raise typer.BadParameter("html is only for `nhictl report access-review`; "
                                 "use table, json, csv, markdown, sarif or ocsf")
    return value


# check's own -o: the shared one refuses sarif and ocsf, which only describe findings.
CheckOutputOpt = Annotated[
    Format,
    typer.Option("-o", "--output", case_sensitive=False, callback=_check_format,
                 metavar="FORMAT",
                 help="Output format: table, json, csv, markdown, sarif (SARIF 2.1.0, for "
                      "code scanning) or ocsf (OCSF 1.5.0 JSON Lines, for a SIEM)."),
]
PolicyOpt = Annotated[
    Path | None,
    typer.Option("--policy", metavar="FILE", dir_okay=False,
                 help="TOML with [policy] and [purposes] (default: the config's tables)."),
]


def _join(values: Any) -> str:
    return " ".join(values or [])


def short_message(message: Any) -> str:
    """The message without its "Binding b-... (owner ..., workspace ...)" lead-in, which the
    table already shows in its own columns."""
    text = str(message or "")
    if not text.startswith("Binding ") or "(" not in text:
        return text
    depth = 0
    for i, ch in enumerate(text[text.index("("):], start=text.index("(")):
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth == 0:
            return text[i + 1:].lstrip(":").strip()  # "Binding b-... (...): Slack user ..."
    return text


FINDING_TABLE = [
    Column("severity", "SEVERITY", 8),
    Column("rule_id", "RULE", 24),
    Column("binding_id", "BINDING", 12),
    Column("state", "STATE", 10),
    Column("message", "WHAT", 80, render=short_message),
]
FINDING_CSV = [
    Column("rule_id", "rule_id"), Column("severity", "severity"),
    Column("binding_id", "binding_id"), Column("title", "title"), Column("message", "message"),
    Column("evidence", "evidence", render=lambda v: _json(v)),
    Column("remediation", "remediation"),
    *[Column(fw, fw) for fw in ("owasp_nhi", "nist_csf", "nist_800_53", "cis_v8")],
    Column("suppressed", "suppressed", render=lambda v: "true" if v else "false"),
    Column("suppression_reason", "suppression_reason"),
    Column("first_seen_at", "first_seen_at"),
    Column("new", "new", render=lambda v: "true" if v else "false"),
]
FINDING_MARKDOWN = [
    Column("severity", "Severity"), Column("rule_id", "Rule"), Column("binding_id", "Binding"),
    Column("state", "State"), Column("message", "Message"), Column("remediation", "Remediation"),
    Column("suppression_reason", "Suppressed because"),
]
# --list-rules in a terminal: readable at 80 columns (titles wrap); --wide adds the mappings.
RULE_TABLE = [
    Column("rule_id", "RULE", 26), Column("default_severity", "SEVERITY", 8),
    Column("title", "TITLE", 70, wrap=True),
]
RULE_COLUMNS = [
    Column("rule_id", "RULE", 26), Column("default_severity", "SEVERITY", 8),
    Column("title", "TITLE", 70),
    Column("escalation", "ESCALATION", 40),
    *[Column(fw, fw.upper(), 18, render=_join)
      for fw in ("owasp_nhi", "nist_csf", "nist_800_53", "cis_v8")],
]


def _json(value: Any) -> str:
    import json

    return json.dumps(value, sort_keys=True, default=str)


def finding_row(d: dict[str, Any]) -> dict[str, Any]:
    """A finding's dict flattened for table/CSV/Markdown columns."""
    sup = d.get("suppression") or {}
    state_text = ("accepted" if sup.get("kind") == "accepted_risk" else "suppressed") \
        if d["suppressed"] else ("new" if d["new"] else "open")
    return {**d, **{fw: " ".join(v) for fw, v in d["frameworks"].items()},
            "state": state_text,
            "suppression_reason": (f"{sup.get('reason')} (ticket {sup.get('ticket')}, "
                                   f"expires {sup.get('expires')})") if sup else ""}


def rule_row(d: dict[str, Any]) -> dict[str, Any]:
    return {**d, **d["frameworks"]}


def resolve_policy(st: AppState, policy_file: Path | None) -> Policy:
    """``--policy FILE`` or the config's tables (built-in defaults without either).

    A policy file without its own ``suppressions`` keeps the config's suppressions file.
    Warnings (unknown scope names) go to stderr.
    """
    from dataclasses import replace

    from nhictl.policy import build_policy, load_policy_file

    cfg = st.config
    base, warnings = build_policy(cfg.policy or None, cfg.purposes or None, path=cfg.path)
    if policy_file is not None:
        policy, warnings = load_policy_file(policy_file)
        if policy.suppressions_path is None:
            policy = replace(policy, suppressions_path=base.suppressions_path)
    else:
        policy = base
    for w in warnings:
        st.warn(w)
    return policy


def summary_line(report: CheckReport) -> str:
    s = report.summary()
    sev = ", ".join(f"{n} {k}" for k, n in s["by_severity"].items() if n) or "none"
    since = "since the previous check" if report.previous_run_id else "(first check run)"
    rules = f"{len(report.rules)} rule{'' if len(report.rules) == 1 else 's'}"
    return (f"checked {s['bindings_checked']} bindings with {rules}: "
            f"{s['unsuppressed']} findings ({sev}), {s['suppressed']} suppressed; "
            f"{s['new']} new, {s['resolved']} resolved {since}")


def execute(
    st: AppState,
    *,
    policy_file: Path | None = None,
    rule_ids: list[str] | None = None,
    command: str = "check",
) -> CheckReport:
    from nhictl.catalog import load_catalog
    from nhictl.checks import select_rules
    from nhictl.checks.runner import run_checks
    from nhictl.clock import system_clock
    from nhictl.store.repo import actor_name

    rules = select_rules(rule_ids)
    policy = resolve_policy(st, policy_file)
    with st.open_for_write(f"nhictl {command}") as inv:  # a check run writes findings
        report = run_checks(inv, policy, load_catalog(), now=system_clock(),
                            actor=actor_name(st.actor), rules=rules, command=command,
                            trial=policy_file is not None)
    _warn_idle_suppressions(st, policy, report)
    return report


def _warn_idle_suppressions(st: AppState, policy: Policy, report: CheckReport) -> None:
    """An active suppression that hid nothing is usually a mistyped selector."""
    import json

    from nhictl.checks.runner import policy_suppressions
    from nhictl.clock import system_clock

    used = {json.dumps(f.suppression, sort_keys=True) for f in report.findings
            if f.suppression}
    now = system_clock()
    for sup in policy_suppressions(policy):
        if (sup.rule in report.rules and sup.active(now)
                and json.dumps(sup.as_dict(), sort_keys=True) not in used):
            st.warn(f"suppression #{sup.index} ({sup.rule} for {sup.selector} {sup.value}) "
                    "matched no finding; check its selector (binding ids must be whole)")


def explain_fail_on(st: AppState, report: CheckReport, fail_on: Severity | None,
                    findings: list[Finding] | None = None) -> int:
    """The --fail-on exit code over ``findings`` (default: the whole report); when it is 1,
    say which findings (even with -q: a cron job that exits 1 must say why)."""
    from nhictl.checks import fail_exit_code

    counted = report.findings if findings is None else findings
    code = fail_exit_code(counted, fail_on)
    if code and fail_on is not None:
        hits = [f for f in counted
                if not f.suppressed and f.severity.rank >= fail_on.rank]
        by_rule: dict[str, int] = {}
        for f in hits:
            by_rule[f.rule_id] = by_rule.get(f.rule_id, 0) + 1
        rules = ", ".join(f"{rule} {n}" for rule, n in sorted(by_rule.items()))
        st.warn(f"--fail-on {fail_on.value}: {len(hits)} unsuppressed finding(s) at or above "
                f"{fail_on.value} ({rules}); see `nhictl check --min-severity {fail_on.value}`")
    return code


def check(
    ctx: typer.Context,
    policy_file: PolicyOpt = None,
    rule: RuleOpt = None,
    tenant: TenantOpt = None,
    owner: OwnerOpt = None,
    workspace: WorkspaceOpt = None,
    source: SourceOpt = None,
    status: StatusOpt = None,
    scope: ScopeOpt = None,
    sort: SortOpt = None,
    min_severity: Annotated[
        Severity | None, typer.Option("--min-severity", help="Show findings at or above this.")
    ] = None,
    fail_on: Annotated[
        Severity | None,
        typer.Option("--fail-on", help="Exit 1 if an unsuppressed finding is at or above this."),
    ] = None,
    list_rules: Annotated[
        bool, typer.Option("--list-rules", help="Print the rule catalog and exit.")
    ] = False,
    wide: WideOpt = False,
    output: CheckOutputOpt = Format.TABLE,
    out: OutFileOpt = None,
    notify: NotifyOpt = None,
) -> None:
    """Run the least-privilege and lifecycle rules over the inventory.

    Every rule runs over every binding (the run is recorded whole); the filters narrow what
    is shown and what --fail-on counts.
    """
    from nhictl.checks import all_rules, at_least, select_rules

    st = state(ctx)
    wanted = filters(tenant=tenant, owner=owner, workspace=workspace, source=source,
                     status=status, scope=scope, rule=rule)
    rule = sorted({r.strip().lower() for r in rule}) if rule else None
    if list_rules:
        if output in FINDING_ONLY_FORMATS:
            raise typer.BadParameter(f"--list-rules: {output.value} describes findings "
                                     "(its rules come with them); use json",
                                     param_hint="-o")
        rules = select_rules(rule) if rule else all_rules()
        columns = RULE_TABLE if output is Format.TABLE and not wide else RULE_COLUMNS
        doc = Document("rules", columns, [rule_row(r.as_dict()) for r in rules], now_iso(),
                       json_row=lambda r: {k: v for k, v in r.items()
                                           if k not in ("owasp_nhi", "nist_csf", "nist_800_53",
                                                        "cis_v8")})
        emit(st, doc, output, out, wide=wide)
        return
    from nhictl.cli import notify_cmd

    targets = notify_cmd.prepare(st, notify)  # a bad target: exit 3 before the run
    report = execute(st, policy_file=policy_file, rule_ids=rule)
    scoped = _scoped(st, report.findings, wanted)
    shown = at_least(scoped, min_severity)
    if sort:
        from nhictl.filters import sort_rows

        keyed = [(f, f.as_dict()) for f in shown]
        ranked = sort_rows([{**d, "_i": i} for i, (_, d) in enumerate(keyed)], sort,
                           SORT_FIELDS)
        shown = [keyed[r["_i"]][0] for r in ranked]
    columns = {Format.CSV: FINDING_CSV, Format.MARKDOWN: FINDING_MARKDOWN}.get(output,
                                                                               FINDING_TABLE)
    # Rows are made as the exporter reads them: 100,000 findings are not copied twice over.
    # JSON carries exactly ``Finding.as_dict`` (what _finding_json leaves of finding_row),
    # so it skips the flattened columns.
    rows = ((f.as_dict() for f in shown) if output is Format.JSON else
            (finding_row({**f.as_dict(), "fingerprint": f.fingerprint}) for f in shown))
    doc = Document(
        "findings", columns, rows, report.generated_at,
        title="nhictl findings" if output is Format.MARKDOWN else None,
        extra={"summary": report.summary(), "resolved": report.resolved},
        json_row=None if output is Format.JSON else _finding_json,
        context=_finding_context(st, report),
    )
    from nhictl.checks.common import gc_paused

    with gc_paused():  # one dict per finding on top of every finding held: no full GCs
        emit(st, doc, output, out, wide=wide)
    st.info(summary_line(report))
    if wanted.on_bindings:
        st.info(f"{len(scoped)} finding(s) on bindings matching the filters")
    if min_severity is not None:
        st.info(f"showing {len(shown)} finding(s) at or above {min_severity.value}")
    if policy_file is not None:
        st.info("trial run with --policy: compared with the last check, not kept as its "
                "history")
    code = explain_fail_on(st, report, fail_on, scoped)
    raise typer.Exit(max(code, notify_cmd.send(st, targets)))


SORT_FIELDS = ("severity", "rule_id", "binding_id", "first_seen_at", "title")


def _scoped(st: AppState, findings: list[Finding], wanted: Filters) -> list[Finding]:
    """The findings on bindings the filters select (all of them without binding filters)."""
    if not wanted.on_bindings:
        return list(findings)
    from nhictl.store import repo

    inv = st.open()
    try:
        with inv.engine.connect() as conn:
            keep = {b["id"] for b in repo.iter_bindings(conn) if wanted.binding_matches(b)}
    finally:
        inv.dispose()
    return [f for f in findings if f.binding_id in keep]


FINDING_ONLY_FORMATS = (Format.SARIF, Format.OCSF)
# What SARIF and OCSF say about a binding (never its token fingerprint).
BINDING_FACTS = ("source", "provider", "connection_id", "tenant", "owner_id", "owner_email",
                 "owner_name", "workspace_name", "token_kind", "status")


def _finding_context(st: AppState, report: CheckReport) -> FindingContext:
    """The rule catalog and a loader of the named bindings, read only by SARIF/OCSF."""
    from nhictl import __version__
    from nhictl.checks import all_rules
    from nhictl.exporters.finding_context import FindingContext

    def bindings(ids: Iterable[str]) -> dict[str, dict[str, Any]]:
        from nhictl.store import repo

        wanted = set(ids)
        if not wanted:
            return {}
        inv = st.open()
        try:
            with inv.engine.connect() as conn:
                rows = [b for b in repo.iter_bindings(conn) if b["id"] in wanted]
        finally:
            inv.dispose()
        return {b["id"]: {**{k: b.get(k) for k in BINDING_FACTS},
                          "workspace_id": b.get("workspace_id") or b.get("source_team_id"),
                          "slack_user_id": b.get("slack_user_id")
                          or b.get("source_slack_user_id")} for b in rows}

    ran = set(report.rules)
    return FindingContext(rules=[r.as_dict() for r in all_rules() if r.id in ran],
                          bindings=bindings, version=__version__)


def _finding_json(row: dict[str, Any]) -> dict[str, Any]:
    drop = ("state", "suppression_reason", "owasp_nhi", "nist_csf", "nist_800_53", "cis_v8",
            "fingerprint")
    return {k: v for k, v in row.items() if k not in drop}


def register(app: typer.Typer) -> None:
    app.command(
        "check",
        epilog=example("nhictl check --min-severity medium --fail-on high -o json"),
    )(check)
