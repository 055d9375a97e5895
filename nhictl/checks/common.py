"""Small helpers shared by the rule modules."""

from __future__ import annotations

import gc
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from datetime import datetime

from nhictl.catalog.loader import Catalog
from nhictl.checks.model import BindingView, Snapshot
from nhictl.clock import age_days

# A grant Slack itself says is dead holds no usable scopes.
DEAD_GRANT = frozenset({"revoked", "needs_reconnect"})


@contextmanager
def gc_paused() -> Iterator[None]:
    """Pause the cyclic garbage collector while building many long-lived objects.

    Building 100,000 views or findings triggers full collections that walk every object
    already built; reference counting still frees everything as usual meanwhile.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def fw(owasp: str, csf: str, sp: str, cis: str) -> dict[str, list[str]]:
    """A framework mapping from rules.md cells ("—" means none)."""

    def cell(text: str) -> list[str]:
        return [] if text.strip() in ("", "—", "-") else [p.strip() for p in text.split(",")]

    return {"owasp_nhi": cell(owasp), "nist_csf": cell(csf), "nist_800_53": cell(sp),
            "cis_v8": cell(cis)}


def live(snapshot: Snapshot) -> Iterable[BindingView]:
    """Bindings whose grant may still be usable (not revoked, not dead per Slack)."""
    return (b for b in snapshot.bindings if not b.revoked and b.status not in DEAD_GRANT)


def older_than(then: str | None, days: int, now: datetime) -> bool:
    age = age_days(then, now)
    return age is not None and age > days


def never_used(view: BindingView, snapshot: Snapshot, scopes: Iterable[str]) -> list[str] | None:
    """Scopes with no recorded use, or None when no usage evidence exists for the source."""
    if view.source not in snapshot.usage_sources:
        return None
    used = set(view.used_scopes)
    return sorted(s for s in scopes if s not in used)


def risk_map(catalog: Catalog, scopes: Iterable[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for s in sorted(set(scopes)):
        risk = catalog.risk_of(s)
        out[s] = risk.value if risk else "unknown"
    return out
