"""Running rules over a snapshot (pure): evaluation, suppression, filtering, exit code."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from nhictl.catalog.loader import Catalog
from nhictl.checks.common import gc_paused
from nhictl.checks.model import Finding, Rule, Snapshot
from nhictl.checks.registry import all_rules, get_rule
from nhictl.checks.suppressions import EXPIRED_RULE, Suppression, apply_suppressions
from nhictl.errors import ExitCode, UsageError
from nhictl.models import Severity
from nhictl.policy import Policy


def parse_severity(text: str, option: str = "--min-severity") -> Severity:
    try:
        return Severity(text.strip().lower())
    except ValueError:
        raise UsageError(
            f"{option}: unknown severity {text!r}",
            hint="one of: " + ", ".join(s.value for s in Severity),
        ) from None


def sort_key(f: Finding) -> tuple[int, str, str]:
    return (-f.severity.rank, f.rule_id, f.binding_id or "")


def evaluate(
    snapshot: Snapshot,
    policy: Policy,
    catalog: Catalog,
    now: datetime,
    *,
    rules: Sequence[Rule] | None = None,
    suppressions: Sequence[Suppression] = (),
) -> list[Finding]:
    """Every finding of the selected rules, suppressions applied, most severe first."""
    selected = list(rules) if rules is not None else all_rules()
    ids = {r.id for r in selected}
    findings: list[Finding] = []
    with gc_paused():
        for rule in selected:
            if rule.check is not None:
                findings.extend(rule.check(rule, snapshot, policy, catalog, now))
        findings = apply_suppressions(findings, list(suppressions), snapshot, now,
                                      get_rule(EXPIRED_RULE))
    if EXPIRED_RULE not in ids:
        findings = [f for f in findings if f.rule_id != EXPIRED_RULE]
    return sorted(findings, key=sort_key)


def at_least(findings: Iterable[Finding], minimum: Severity | None) -> list[Finding]:
    """Findings at or above ``minimum`` (all when None): the ``--min-severity`` filter."""
    if minimum is None:
        return list(findings)
    return [f for f in findings if f.severity.rank >= minimum.rank]


def fail_exit_code(findings: Iterable[Finding], fail_on: Severity | None) -> int:
    """1 when an unsuppressed finding is at or above ``fail_on``, else 0 (DESIGN exit codes)."""
    if fail_on is None:
        return ExitCode.OK
    for f in findings:
        if not f.suppressed and f.severity.rank >= fail_on.rank:
            return ExitCode.FINDINGS
    return ExitCode.OK


def severity_counts(findings: Iterable[Finding]) -> dict[str, int]:
    counts = Counter(f.severity.value for f in findings if not f.suppressed)
    return {s.value: counts.get(s.value, 0) for s in reversed(Severity)}


def summary(findings: Sequence[Finding], *, resolved: int = 0, **extra: Any) -> dict[str, Any]:
    return {
        "total": len(findings),
        "unsuppressed": sum(1 for f in findings if not f.suppressed),
        "suppressed": sum(1 for f in findings if f.suppressed),
        "by_severity": severity_counts(findings),
        "by_rule": dict(sorted(Counter(f.rule_id for f in findings if not f.suppressed).items())),
        "new": sum(1 for f in findings if f.new),
        "resolved": resolved,
        **extra,
    }
