"""The Slack scope catalog: package data (``scopes.tsv``) loaded into typed entries.

Columns: ``scope``, ``token_types`` (comma list of user, bot, app, config, workspace-app),
``access`` (read, write, read/write, admin, none), ``data_exposed``, ``risk`` (a severity),
``risk_reason``, ``status`` (current, legacy, deprecated, unclear), ``status_note`` and
``review_note`` (why the shipped rating differs from the reference table, when it does).
"""

from __future__ import annotations

import csv
import difflib
import io
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

from nhictl.errors import InternalError, UsageError
from nhictl.models import Severity

COLUMNS: tuple[str, ...] = (
    "scope",
    "token_types",
    "access",
    "data_exposed",
    "risk",
    "risk_reason",
    "status",
    "status_note",
    "review_note",
)


@dataclass(frozen=True)
class ScopeInfo:
    name: str
    token_types: tuple[str, ...]
    access: str
    data_exposed: str
    risk: Severity
    risk_reason: str
    status: str
    status_note: str = ""
    review_note: str = ""

    def as_dict(self) -> dict[str, str]:
        return {
            "scope": self.name,
            "token_types": ",".join(self.token_types),
            "access": self.access,
            "data_exposed": self.data_exposed,
            "risk": self.risk.value,
            "risk_reason": self.risk_reason,
            "status": self.status,
            "status_note": self.status_note,
            "review_note": self.review_note,
        }


class Catalog:
    """Scopes by name, with a close-match suggestion for misspellings."""

    def __init__(self, scopes: list[ScopeInfo]) -> None:
        self._scopes = {s.name: s for s in scopes}

    def __contains__(self, name: object) -> bool:
        return name in self._scopes

    def __len__(self) -> int:
        return len(self._scopes)

    def get(self, name: str) -> ScopeInfo | None:
        return self._scopes.get(name)

    def risk_of(self, name: str) -> Severity | None:
        info = self._scopes.get(name)
        return info.risk if info else None

    def names(self) -> list[str]:
        return sorted(self._scopes)

    def suggest(self, name: str) -> str | None:
        """The closest catalog name for a misspelling, or None."""
        lowered = name.strip().lower()
        if lowered in self._scopes:
            return lowered
        matches = difflib.get_close_matches(lowered, self._scopes.keys(), n=1, cutoff=0.6)
        return matches[0] if matches else None

    def require(self, name: str) -> ScopeInfo:
        """The entry for ``name``; a usage error (exit 2) with a suggestion otherwise."""
        info = self._scopes.get(name)
        if info is not None:
            return info
        guess = self.suggest(name)
        hint = f"did you mean {guess!r}?" if guess else "see `nhictl scopes list`"
        raise UsageError(f"unknown Slack scope {name!r}", hint=hint)

    def entries(self, risk: Severity | None = None) -> list[ScopeInfo]:
        """Entries sorted by name, optionally only those with exactly ``risk``."""
        items = [self._scopes[n] for n in sorted(self._scopes)]
        if risk is not None:
            items = [s for s in items if s.risk == risk]
        return items


def parse_catalog(text: str, *, origin: str = "scopes.tsv") -> Catalog:
    reader = csv.DictReader(io.StringIO(text), delimiter="\t")
    if tuple(reader.fieldnames or ()) != COLUMNS:
        raise InternalError(f"{origin}: unexpected columns {reader.fieldnames}")
    scopes: list[ScopeInfo] = []
    for lineno, row in enumerate(reader, start=2):
        try:
            risk = Severity(row["risk"])
        except ValueError as exc:
            raise InternalError(f"{origin}:{lineno}: bad risk {row['risk']!r}") from exc
        scopes.append(
            ScopeInfo(
                name=row["scope"],
                token_types=tuple(t for t in row["token_types"].split(",") if t),
                access=row["access"],
                data_exposed=row["data_exposed"],
                risk=risk,
                risk_reason=row["risk_reason"],
                status=row["status"],
                status_note=row["status_note"] or "",
                review_note=row["review_note"] or "",
            )
        )
    return Catalog(scopes)


@lru_cache(maxsize=1)
def load_catalog() -> Catalog:
    """The catalog shipped with nhictl (cached)."""
    text = resources.files("nhictl.catalog").joinpath("scopes.tsv").read_text(encoding="utf-8")
    return parse_catalog(text)
