"""Scopes that imitate catalog scopes: homoglyphs, invisible characters, commas, case.

``chat:wrіte`` with a Cyrillic ``і``, ``chat:write\u200b`` with a zero-width space or
``channels:read,admin`` as one scope read like catalog scopes to a reviewer, but no policy,
allowlist or rule keyed on the real name matches them. :func:`imitated` names the catalog
scopes such a string normalises to.
"""

from __future__ import annotations

import unicodedata

from nhictl.catalog.loader import Catalog

# Letters that render like Latin ones (the Cyrillic, Greek and other look-alikes of Unicode's
# confusables list that NFKC leaves alone), and colon/dot look-alikes.
_CONFUSABLES = {
    # Cyrillic
    "а": "a", "в": "b", "е": "e", "к": "k", "м": "m", "н": "h", "о": "o", "р": "p",
    "с": "c", "т": "t", "у": "y", "х": "x", "ѕ": "s", "і": "i", "ј": "j", "ԁ": "d",
    "һ": "h", "ӏ": "l", "ԛ": "q", "ԝ": "w", "ү": "y", "ɡ": "g", "ց": "g", "ո": "n",
    "ս": "u", "ǀ": "l",
    # Greek
    "α": "a", "β": "b", "ε": "e", "η": "n", "ι": "i", "κ": "k", "ν": "v", "ο": "o",
    "ρ": "p", "τ": "t", "υ": "u", "χ": "x", "ϲ": "c", "ϳ": "j", "ѵ": "v",
    # Latin look-alikes
    "ı": "i", "ȷ": "j", "ℓ": "l", "ł": "l", "ß": "ss",
    # punctuation
    "ː": ":", "˸": ":", "꞉": ":", "∶": ":", "׃": ":", "։": ":", "᛫": ".", "·": ".",
    "‧": ".", "٫": ".", "‚": ",", "،": ",", "、": ",",
}
_TABLE = str.maketrans(_CONFUSABLES)


def skeleton(scope: str) -> str:
    """``scope`` with compatibility forms folded (NFKD/NFKC), accents, invisible and space
    characters dropped, look-alike letters mapped to Latin ones and case folded."""
    text = unicodedata.normalize("NFKD", scope)  # accents apart from their letters
    text = "".join(ch for ch in text
                   if unicodedata.category(ch) not in ("Cf", "Cc", "Zs", "Zl", "Zp", "Mn"))
    text = text.lower().translate(_TABLE)
    return unicodedata.normalize("NFKC", text).lower().translate(_TABLE)


def imitated(scope: str, catalog: Catalog) -> list[str]:
    """The catalog scopes ``scope`` imitates; [] when it is one, or imitates none."""
    if scope in catalog:
        return []
    parts = [p for p in skeleton(scope).split(",") if p]
    if not parts or not all(p in catalog for p in parts):
        return []
    return sorted(set(parts))
