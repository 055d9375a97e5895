"""One filter for every list-like command (inventory list, check, report access-review,
report evidence, events).

Matching rule, the same everywhere: a value matches when it equals the field after trimming
and ignoring case (no substrings, no wildcards). Repeating a filter widens it (OR); different
filters narrow each other (AND). Which fields each filter looks at:

* ``tenant``: tenant;  ``source``: source name;  ``status``: status;
* ``owner``: owner id, owner email, owner name or the Slack user id;
* ``workspace``: workspace (team) id, workspace name or the team id the source recorded;
* ``scope``: a scope the binding holds (granted when validated, else declared);
* ``rule``: a finding's rule id (only where findings are listed).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from nhictl.errors import UsageError
from nhictl.models import Severity, Status

MAX_VALUE_CHARS = 512  # as store.repo.MAX_REF_CHARS: an id, name or filter value
_OWNER_FIELDS = ("owner_id", "owner_email", "owner_name", "slack_user_id",
                 "source_slack_user_id")
_WORKSPACE_FIELDS = ("workspace_id", "workspace_name", "source_team_id")


def _norm(values: Iterable[str] | None) -> frozenset[str]:
    return frozenset(v.strip().casefold() for v in values or () if v and v.strip())


def _text(value: Any) -> str:
    return str(value).strip().casefold() if value is not None else ""


@dataclass(frozen=True)
class Filters:
    tenant: frozenset[str] = frozenset()
    owner: frozenset[str] = frozenset()
    workspace: frozenset[str] = frozenset()
    source: frozenset[str] = frozenset()
    status: frozenset[str] = frozenset()
    scope: frozenset[str] = frozenset()
    rule: frozenset[str] = frozenset()

    @classmethod
    def of(cls, *, tenant: Iterable[str] | None = None, owner: Iterable[str] | None = None,
           workspace: Iterable[str] | None = None, source: Iterable[str] | None = None,
           status: Iterable[str] | None = None, scope: Iterable[str] | None = None,
           rule: Iterable[str] | None = None) -> Filters:
        """Filters from option values; an unknown status is a usage error listing the set,
        and so is a value longer than any id, name or scope (``MAX_VALUE_CHARS``)."""
        given = {"tenant": tenant, "owner": owner, "workspace": workspace, "source": source,
                 "status": status, "scope": scope, "rule": rule}
        for name, values in given.items():
            for value in values or ():
                if len(value) > MAX_VALUE_CHARS:
                    raise UsageError(f"--{name}: longer than {MAX_VALUE_CHARS} characters")
        statuses = _norm(status)
        known = {s.value for s in Status}
        unknown = sorted(statuses - known)
        if unknown:
            raise UsageError(f"--status {unknown[0]!r} is not a status; use one of "
                             f"{', '.join(s.value for s in Status)}")
        return cls(_norm(tenant), _norm(owner), _norm(workspace), _norm(source), statuses,
                   _norm(scope), _norm(rule))

    @property
    def on_bindings(self) -> bool:
        return bool(self.tenant or self.owner or self.workspace or self.source
                    or self.status or self.scope)

    def __bool__(self) -> bool:
        return self.on_bindings or bool(self.rule)

    def binding_matches(self, b: Mapping[str, Any]) -> bool:
        if self.tenant and _text(b.get("tenant")) not in self.tenant:
            return False
        if self.source and _text(b.get("source")) not in self.source:
            return False
        if self.status and _text(b.get("status")) not in self.status:
            return False
        if self.owner and not any(_text(b.get(k)) in self.owner for k in _OWNER_FIELDS):
            return False
        if self.workspace and not any(_text(b.get(k)) in self.workspace
                                      for k in _WORKSPACE_FIELDS):
            return False
        if self.scope:
            granted = b.get("granted_scopes")
            held = granted if granted is not None else b.get("declared_scopes")
            if not any(_text(s) in self.scope for s in held or ()):
                return False
        return True

    def rule_matches(self, rule_id: Any) -> bool:
        return not self.rule or _text(rule_id) in self.rule


def sort_rows(rows: Iterable[dict[str, Any]], spec: str | None,
              allowed: Sequence[str]) -> Iterable[dict[str, Any]]:
    """Rows ordered by ``spec``: a field name, ``-`` in front for descending.

    Missing values sort last either way; severities sort by rank (critical highest).
    """
    if not spec:
        return rows
    key = spec.strip()
    descending = key.startswith("-")
    key = key.lstrip("-").strip().lower()
    if key not in allowed:
        raise UsageError(f"--sort {spec!r}: not a field to sort by; use one of "
                         f"{', '.join(allowed)} (prefix - for descending)")
    every = list(rows)
    present = [r for r in every if r.get(key) not in (None, "", [])]
    missing = [r for r in every if r.get(key) in (None, "", [])]
    present.sort(key=_sort_value(key), reverse=descending)
    return present + missing


def _sort_value(key: str) -> Callable[[dict[str, Any]], Any]:
    if key in ("severity", "max_severity"):
        ranks = {s.value: s.rank for s in Severity}
        return lambda r: ranks.get(str(r.get(key)), -1)
    return lambda r: _plain_value(r.get(key))


def _plain_value(value: Any) -> tuple[int, float, str]:
    """Numbers (an event's seq) by value, before text; lists by their joined text."""
    if isinstance(value, int | float) and not isinstance(value, bool):
        return (0, float(value), "")
    text = " ".join(map(str, value)) if isinstance(value, list | tuple) else str(value)
    return (1, 0.0, text.casefold())
