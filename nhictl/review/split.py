"""One packet per tenant or owner (``report access-review --split-by``): grouping and safe,
unique file names (a tenant or owner is untrusted text, never a path)."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from nhictl.review.report import ACTIONS

SPLIT_KEYS = ("tenant", "owner")
_NONE = {"tenant": "no-tenant", "owner": "no-owner"}


def group_label(row: dict[str, Any], by: str) -> str:
    if by == "tenant":
        return str(row.get("tenant") or "")
    return str(row.get("owner_email") or row.get("owner_id") or "")


def split_rows(rows: Sequence[dict[str, Any]], by: str) -> dict[str, list[dict[str, Any]]]:
    """Rows per group label, groups in first-seen order of the (sorted) rows."""
    groups: dict[str, list[dict[str, Any]]] = {}
    for row in rows:
        groups.setdefault(group_label(row, by), []).append(row)
    return groups


def slug(label: str, by: str) -> str:
    text = re.sub(r"[^a-z0-9@._-]+", "-", label.strip().lower()).strip("-.")[:60].strip("-.")
    return text or _NONE[by]


def file_names(labels: Sequence[str], by: str, extension: str) -> dict[str, str]:
    """A distinct ``access-review-<slug>.<ext>`` per label (``-2``, ``-3``... on clashes)."""
    used: set[str] = {f"index.{extension}"}
    names: dict[str, str] = {}
    for label in labels:
        base = f"access-review-{slug(label, by)}"
        name, n = f"{base}.{extension}", 1
        while name in used:
            n += 1
            name = f"{base}-{n}.{extension}"
        used.add(name)
        names[label] = name
    return names


def index_rows(groups: dict[str, list[dict[str, Any]]], names: dict[str, str],
               by: str) -> list[dict[str, Any]]:
    out = []
    for label, rows in groups.items():
        counts = {a: sum(1 for r in rows if r["recommended_action"] == a) for a in ACTIONS}
        out.append({by: label or f"({_NONE[by]})", "file": names[label],
                    "bindings": len(rows), **counts})
    return out
