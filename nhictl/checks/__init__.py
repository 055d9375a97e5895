"""Least-privilege and lifecycle checks: rules over an inventory snapshot.

Public API: :func:`all_rules`, :func:`select_rules`, :func:`evaluate` (pure),
:func:`run_checks` (store-backed), :func:`fail_exit_code`, :class:`Finding`,
:class:`BindingView`, :class:`Snapshot`.
"""

from nhictl.checks.engine import at_least, evaluate, fail_exit_code, parse_severity, summary
from nhictl.checks.model import FRAMEWORKS, BindingView, Finding, Rule, Snapshot
from nhictl.checks.registry import RULE_IDS, all_rules, get_rule, select_rules
from nhictl.checks.suppressions import Suppression, load_suppressions

__all__ = [
    "FRAMEWORKS",
    "RULE_IDS",
    "BindingView",
    "Finding",
    "Rule",
    "Snapshot",
    "Suppression",
    "all_rules",
    "at_least",
    "evaluate",
    "fail_exit_code",
    "get_rule",
    "load_suppressions",
    "parse_severity",
    "select_rules",
    "summary",
]
