"""What in an export file is a secret nhictl must not keep.

An export carries its tokens in the known fields (``access_token``, ``refresh_token``), which
live only in memory. Anything else is kept as binding metadata, so a secret there would be
written to the inventory and printed by ``inventory show``. Two rules:

* a field NAMED like a secret (``refresh``, ``auth``, ``credentials``, ``password``,
  ``client_secret``, ...; at any depth) is dropped with a warning: the name says what it is;
* a VALUE SHAPED like a secret (a Slack ``xox``/``xapp`` token, ``Bearer ...``, a JWT, a
  private key, a Slack webhook URL, a ``sk_live_`` key, ...) anywhere else refuses the
  file: it is most likely a shifted column or a field we do not know, and guessing wrong
  would store a credential.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

# Matched against the key with everything but letters and digits removed, lower-cased.
SECRET_NAME_PARTS = (
    "token", "secret", "password", "passwd", "passphrase", "apikey", "accesskey",
    "privatekey", "signingkey", "refresh", "credential", "cookie", "bearer", "session",
)
_AUTH = re.compile(r"auth(?!or)")  # auth, oauth, authorization; not author

SECRET_VALUE_SHAPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("a Slack token", re.compile(r"x(?:ox[a-z.]*|app)-", re.IGNORECASE)),
    ("an HTTP credential (Bearer/Basic)",
     re.compile(r"\b(?:bearer|basic)\s+[A-Za-z0-9._~+/=-]{12,}", re.IGNORECASE)),
    ("a JSON Web Token", re.compile(r"\beyJ[A-Za-z0-9_-]{8,}\.eyJ[A-Za-z0-9_-]{8,}")),
    ("a private key", re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY")),
    ("a Slack webhook URL", re.compile(r"hooks\.slack\.com/(?:services|workflows)/", re.I)),
    ("an API secret key", re.compile(r"\b(?:sk|rk)_(?:live|test|prod)_[A-Za-z0-9]{8,}")),
    ("a GitHub token", re.compile(r"\bgh[pousr]_[A-Za-z0-9]{20,}")),
    ("an AWS access key", re.compile(r"\bAKIA[0-9A-Z]{16}\b")),
)


def secret_named(key: str) -> bool:
    flat = re.sub(r"[^a-z0-9]", "", key.lower())
    return any(part in flat for part in SECRET_NAME_PARTS) or bool(_AUTH.search(flat))


# No shape can match a NUL, and \b sees NUL as a non-word character like a string's end,
# so searching texts joined by NUL finds a shape exactly when one of the texts holds one:
# eight C-level searches per record instead of eight per field.
_JOIN = "\x00"


# Each shape contains one of these literals (lower-cased for the case-blind shapes); in
# ASCII text (where case folding is plain) none of them present means no shape can match.
_NEEDLES_ANY_CASE = ("xox", "xapp", "bearer", "basic", "hooks.slack.com")
_NEEDLES = ("eyJ", "-----BEGIN", "sk_", "rk_", "AKIA")
_GITHUB_PREFIX = re.compile(r"gh[pousr]_")


def any_secret_shape(texts: list[str]) -> bool:
    """Whether any of ``texts`` holds a secret shape (then :func:`secret_shape` says which)."""
    joined = _JOIN.join(texts)
    if joined.isascii():
        low = joined.lower()
        if not (any(n in low for n in _NEEDLES_ANY_CASE) or any(n in joined for n in _NEEDLES)
                or _GITHUB_PREFIX.search(joined)):
            return False
    return any(pattern.search(joined) for _, pattern in SECRET_VALUE_SHAPES)


def secret_shape(text: str) -> str | None:
    """What kind of secret ``text`` looks like, or None."""
    for what, pattern in SECRET_VALUE_SHAPES:
        if pattern.search(text):
            return what
    return None


def _walk(value: Any, path: str) -> Iterator[tuple[str, str | None, Any]]:
    """(dotted path, key name or None, leaf) for every key and leaf under ``value``."""
    if isinstance(value, dict):
        for key, item in value.items():
            sub = f"{path}.{key}"
            yield sub, str(key), item
            yield from _walk(item, sub)
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from _walk(item, f"{path}[{i}]")
    else:
        yield path, None, value


def named_secret_inside(key: str, value: Any) -> str | None:
    """The dotted path of a secret-named key at ``key`` or below it, or None."""
    if secret_named(key):
        return key
    for path, name, _leaf in _walk(value, key):
        if name is not None and secret_named(name):
            return path
    return None


def shaped_secret_inside(key: str, value: Any) -> tuple[str, str] | None:
    """(dotted path, what it looks like) of the first secret-shaped string, or None."""
    for path, name, leaf in ((key, None, value), *_walk(value, key)):
        for text in (name, leaf):
            if isinstance(text, str):
                what = secret_shape(text)
                if what:
                    return path, what
    return None
