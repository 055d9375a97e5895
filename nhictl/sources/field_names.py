"""Field names that are almost right: ``ownerEmail`` for ``owner_email``, ``scope`` for
``scopes``. An unknown field is kept as metadata, so a misspelt known one would silently
lose its meaning (an owner nobody can find, scopes never compared): say so instead."""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable

from nhictl.errors import InputFileError


def _folded(name: str) -> str:
    """camelCase, kebab-case, spaces and case folded away: ``Owner-Email`` -> ``owneremail``."""
    return re.sub(r"[\s_\-.]+", "", name).lower()


def likely_meant(name: str, known: Iterable[str]) -> str | None:
    """The known field ``name`` most likely means, or None when it is simply another field."""
    known = sorted(known)
    if name in known:
        return None
    folded = {_folded(k): k for k in known}
    key = _folded(name)
    for candidate in (key, key + "s", key.removesuffix("s"), key.removesuffix("es")):
        if candidate in folded:
            return folded[candidate]
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.88)
    return folded[close[0]] if close else None


def near_misses(fields: Iterable[str], known: Iterable[str]) -> list[tuple[str, str]]:
    """(field, likely intended name) for every field in ``fields`` close to a known one."""
    known = list(known)
    pairs = ((f, likely_meant(f, known)) for f in sorted(set(fields)))
    return [(f, m) for f, m in pairs if m is not None]


def check_field_names(
    path: str, fields: Iterable[str], known: Iterable[str], *, strict: bool,
    dropped: Iterable[str] = (),
) -> list[str]:
    """Warnings for near-miss field names; with ``strict``, any is an error (InputFileError,
    exit 3, raised before anything is written). ``dropped`` are fields that were not kept
    because they look like secrets (``accessToken``: a token nhictl then never sees)."""
    dropped = set(dropped)
    found = near_misses({*fields, *dropped}, known)
    if strict and found:
        names = ", ".join(f"{f!r} (did you mean {m!r}?)" for f, m in found)
        raise InputFileError(path, None, f"unknown field(s) close to export fields: {names}",
                             hint="rename the field(s), or drop --strict to keep them as "
                             "metadata")
    return [f"{path}: field {f!r} is not an export field ("
            + ("dropped: it looks like a secret" if f in dropped else "kept as metadata")
            + f"); did you mean {m!r}?" for f, m in found]
