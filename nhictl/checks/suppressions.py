"""Suppressions: accepted risk, with an owner, a ticket and a required expiry.

File (TOML), named by ``[policy] suppressions = "path"`` (relative to the config file)::

    [[suppressions]]
    rule = "token_never_expires"
    tenant = "acme"              # exactly one of: binding (full id), tenant,
                                 # workspace (team id or name), owner (id, email, Slack user)
    reason = "rotation rollout planned for Q3"
    ticket = "SEC-1234"
    approver = "ciso@example.com"
    expires = 2026-09-30         # last day it applies (TOML date or "YYYY-MM-DD")

A suppressed finding is still reported (``suppressed: true`` with the reason) but never counts
for ``--fail-on``. After its expiry a suppression hides nothing and raises
``suppression_expired``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date, datetime
from pathlib import Path
from typing import Any

from nhictl.checks.model import BindingView, Finding, Rule, Snapshot
from nhictl.errors import ConfigError
from nhictl.tomlfile import read_toml

SELECTORS: tuple[str, ...] = ("binding", "tenant", "workspace", "owner", "source")
TEXT_KEYS: tuple[str, ...] = ("reason", "ticket", "approver")
EXPIRED_RULE = "suppression_expired"


@dataclass(frozen=True)
class Suppression:
    index: int  # 1-based position in the file
    rule: str
    selector: str  # binding | tenant | workspace | owner | source
    value: str
    reason: str
    ticket: str
    approver: str
    expires: date

    @property
    def key(self) -> str:
        return f"{self.rule}|{self.selector}={self.value}"

    def active(self, now: datetime) -> bool:
        return now.date() <= self.expires

    def matches(self, finding: Finding, view: BindingView | None) -> bool:
        if finding.rule_id != self.rule:
            return False
        v = self.value
        if self.selector == "source":  # also findings about a source's holder (no binding)
            return v == (view.source if view is not None else finding.evidence.get("source"))
        if view is None:
            return False
        if self.selector == "binding":
            return view.id == v  # exact: a prefix could silently cover future bindings
        if self.selector == "tenant":
            return view.tenant == v
        if self.selector == "workspace":
            return v == view.team or (
                view.workspace_name is not None and view.workspace_name.lower() == v.lower())
        low = v.lower()
        return v in (view.owner_id, view.user) or (
            view.owner_email is not None and view.owner_email.lower() == low)

    def as_dict(self) -> dict[str, str]:
        return {"rule": self.rule, self.selector: self.value, "reason": self.reason,
                "ticket": self.ticket, "approver": self.approver,
                "expires": self.expires.isoformat()}


def _date(value: object, where: str) -> date:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise ConfigError(f"{where}.expires must be a date (YYYY-MM-DD)")


def parse_suppressions(
    data: dict[str, Any], origin: str, rule_ids: tuple[str, ...] | list[str]
) -> list[Suppression]:
    extra = set(data) - {"suppressions"}
    if extra:
        raise ConfigError(f"{origin}: unknown top-level key {sorted(extra)[0]!r}",
                          hint="entries go in [[suppressions]] tables")
    entries = data.get("suppressions", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{origin}: suppressions must be an array of tables ([[suppressions]])")
    out: list[Suppression] = []
    for i, entry in enumerate(entries, start=1):
        where = f"{origin}: suppression #{i}"
        if not isinstance(entry, dict):
            raise ConfigError(f"{where} is not a table")
        known = {"rule", "expires", *SELECTORS, *TEXT_KEYS}
        unknown = sorted(set(entry) - known)
        if unknown:
            raise ConfigError(f"{where}.{unknown[0]} is not a known key")
        rule = entry.get("rule")
        if not isinstance(rule, str) or rule not in rule_ids or rule == EXPIRED_RULE:
            import difflib

            valid = [r for r in rule_ids if r != EXPIRED_RULE]
            close = difflib.get_close_matches(str(rule), valid, n=1)
            shown = repr(rule)[:60]
            raise ConfigError(
                f"{where}.rule {shown} is not a rule that can be suppressed"
                + (f" (did you mean {close[0]!r}?)" if close else ""),
                hint="valid rules: " + ", ".join(valid))
        chosen = [s for s in SELECTORS if s in entry]
        if len(chosen) != 1:
            raise ConfigError(f"{where}: needs exactly one selector of {', '.join(SELECTORS)}")
        value = entry[chosen[0]]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(f"{where}.{chosen[0]} must be a non-empty string")
        texts: dict[str, str] = {}
        for key in TEXT_KEYS:
            text = entry.get(key)
            if not isinstance(text, str) or not text.strip():
                raise ConfigError(f"{where}.{key} is required (a non-empty string)")
            texts[key] = text.strip()
        if "expires" not in entry:
            raise ConfigError(f"{where}.expires is required (a date)")
        out.append(Suppression(i, rule, chosen[0], value.strip(), texts["reason"],
                               texts["ticket"], texts["approver"], _date(entry["expires"], where)))
    return out


def load_suppressions(path: str | Path, rule_ids: tuple[str, ...] | list[str]) -> list[Suppression]:
    p = Path(path)
    data = read_toml(p, "suppressions file")
    return parse_suppressions(data, str(p), rule_ids)


def apply_suppressions(
    findings: list[Finding],
    suppressions: list[Suppression],
    snapshot: Snapshot,
    now: datetime,
    expired_rule: Rule,
) -> list[Finding]:
    """Mark findings hidden by an active suppression; add one finding per expired one."""
    views = snapshot.by_id()
    active = [s for s in suppressions if s.active(now)]
    expired = [s for s in suppressions if not s.active(now)]
    out: list[Finding] = []
    unhidden: dict[int, list[str]] = {s.index: [] for s in expired}
    for f in findings:
        view = views.get(f.binding_id) if f.binding_id else None
        hit = next((s for s in active if s.matches(f, view)), None)
        if hit is not None:
            f = replace(f, suppressed=True, suppression={**hit.as_dict()})
        for s in expired:
            if s.matches(f, view):
                unhidden[s.index].append(f.binding_id or "-")
        out.append(f)
    for s in expired:
        target = views.get(s.value) if s.selector == "binding" else None
        shown = unhidden[s.index]
        out.append(expired_rule.finding(
            target,
            f"Suppression #{s.index} of {s.rule} for {s.selector} {s.value} (ticket {s.ticket}, "
            f"approved by {s.approver}) expired on {s.expires.isoformat()}; "
            f"{len(shown)} finding(s) it hid show again.",
            {"suppression": s.as_dict(), "now_unhidden": sorted(set(shown))},
            discriminator=s.key,
        ))
    return out
