"""Tokens in memory only.

A :class:`Secret` wraps a token so that ``repr``, ``str``, f-strings, logging and exception
messages can never print it; the only way to the bytes is :meth:`Secret.reveal`, called at the
moment a token is sent to Slack or hashed.
"""

from __future__ import annotations

import hashlib
import hmac


class Secret:
    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('***')"

    __str__ = __repr__

    def __format__(self, spec: str) -> str:
        return repr(self)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and hmac.compare_digest(self._value, other._value)

    def __hash__(self) -> int:
        return hash(("Secret", hashlib.sha256(self._value.encode()).digest()))

    def __reduce__(self) -> tuple[object, ...]:
        raise TypeError("a Secret cannot be pickled")


FINGERPRINT_PREFIX = "hmac-sha256:"


def fingerprint(key: bytes, token: Secret | str) -> str:
    """HMAC-SHA256 of the token under the inventory key, shown as ``hmac-sha256:`` + 16 hex."""
    raw = token.reveal() if isinstance(token, Secret) else token
    digest = hmac.new(key, raw.encode("utf-8"), hashlib.sha256).hexdigest()
    return FINGERPRINT_PREFIX + digest[:16]


def token_kind_of(token: str) -> str | None:
    """``user`` or ``bot`` from a Slack token prefix (rotating ``xoxe.`` forms too)."""
    body = token[5:] if token.startswith("xoxe.") else token
    if body.startswith("xoxp-"):
        return "user"
    if body.startswith("xoxb-"):
        return "bot"
    return None


def mask_tokens(text: str) -> str:
    """Secrets masked in text that may quote what a user typed (command lines, paths, error
    messages): the one masking function, :func:`nhictl.untrusted.mask` (Slack tokens become
    ``xox…``, a URL's ``user:pass@`` becomes ``***@``, keys ``***``)."""
    from nhictl.untrusted import mask

    return mask(text)
