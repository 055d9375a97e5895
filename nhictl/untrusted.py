"""The one seam for untrusted text: what servers, stores, sources and people say.

* :func:`mask` removes secrets from any text before it is stored or shown: Slack tokens
  (``xox*-``), ``Bearer``/``Basic`` credentials, ``key=value`` secrets, credentials in URLs,
  the configured broker API keys (:func:`register_secret`) and long random-looking strings.
* :func:`code` accepts an error code from a server only when it is code-shaped
  (``^[a-z][a-z0-9_.]{0,63}$``) and not itself secret-shaped.
* :func:`inert` is what reaches a terminal or a document: :func:`mask` plus control
  characters, escape sequences, bidi overrides and invisible formatting characters shown as
  ``\\xNN``/``\\uNNNN`` escapes.
* :func:`md` / :func:`md_code` make text inert inside Markdown (no HTML, links or emphasis).
* :func:`ascii_escaped` shows every non-ASCII character as an escape (look-alike scopes).

The inventory's write path applies :func:`mask` to every string it stores (see
``nhictl/store/engine.py``); exporters and the CLI apply :func:`inert` to every cell and message.
"""

from __future__ import annotations

import bisect
import itertools
import json
import re
import threading
import unicodedata
from typing import Any

MASK = "***"

_KNOWN: set[str] = set()
_KNOWN_LOCK = threading.Lock()
_MIN_KNOWN = 8  # shorter values would mask ordinary words


def register_secret(value: str | None) -> None:
    """Mask this exact value wherever it appears from now on (a configured API key)."""
    if value and len(value) >= _MIN_KNOWN:
        with _KNOWN_LOCK:
            _KNOWN.add(value)


def forget_secrets() -> None:
    """Drop registered values (tests)."""
    with _KNOWN_LOCK:
        _KNOWN.clear()


# Words and shapes that could carry a secret; text without any skips the regexes (the
# inventory stores 100,000 rows at a time, so this check must stay a few C-level scans).
# "key"/"token" count only next to a separator (what _KEY_VALUE needs): as plain words
# they fill titles and remediation texts.
_WORDS = ("xox", "xapp", "bearer", "basic", "authoriz", "secret", "passw", "credential", "sk_",
          "://", "key=", "key =", 'key"', "key'", "key:", "token=", "token =", 'token"',
          "token'", "token:")
# _WORDS as searched in a batch: "key" and "token" once each, then what must follow them.
_TAILS = {stem: tuple(w[len(stem):] for w in _WORDS if w.startswith(stem) and w != stem)
          for stem in ("key", "token")}
_SCAN_WORDS = tuple(w for w in _WORDS if not w.startswith(tuple(_TAILS))) + tuple(_TAILS)
_RUN_CHARS = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=_.~-"
_RUN_TABLE = bytes((ord("a") if bytes([i]) in _RUN_CHARS else ord(" ")) for i in range(256))
_RUN_MIN = 32
_RUN_PROBE = b"a" * _RUN_MIN


def _has_random_run(text: str) -> bool:
    """Whether ``text`` holds a long random-looking run (paths and ids are long, not random)."""
    if len(text) < _RUN_MIN:
        return False
    if _RUN_PROBE not in text.encode("utf-8", "surrogatepass").translate(_RUN_TABLE):
        return False
    return any(_random_looking(run) for run in _LONG_RUN.findall(text))


def _suspect(text: str) -> bool:
    low = text.lower()
    for word in _WORDS:
        if word in low:
            return True
    return _has_random_run(text)


_SLACK_TOKEN = re.compile(r"(?:xox[a-zA-Z.]*|xapp)-[A-Za-z0-9._~+/=-]*", re.IGNORECASE)
# A secret value: never a quote or a backslash (masking inside JSON text must keep it JSON),
# never a bracket (``"has_refresh_token": [false, true]`` is not a secret).
_VALUE = r"[^\s\"'\\,;&()\[\]{}<>]"
_AUTH_SCHEME = re.compile(
    r"(?i)\b(bearer|basic)(?:\s+|%20|\+)(?=" + _VALUE + "{8})" + _VALUE + "+")
_KEY_VALUE = re.compile(
    r"(?i)\b([a-z_-]*(?:secret|passw(?:or)?d|api[_-]?key|access[_-]?key|authorization|"
    r"private[_-]?key|(?:access|refresh|id|auth|bot|user)[_-]?token|credentials?)"
    # key=value, key = "value", "key": "value" (quoted values only: JSON's true, 3600 or
    # [..] stay), key:value
    r"[a-z_-]*)(\s*=\s*[\"']?|[\"']\s*=\s*[\"']?|[\"']\s*:\s*[\"']|:(?=" + _VALUE + "))"
    r"(" + _VALUE + "+)"
)
_URL_USERINFO = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@\"'\\]*@")
_LONG_RUN = re.compile(r"[A-Za-z0-9+/=_.~-]{32,}")
_DIGIT = re.compile(r"[0-9]")


def _random_looking(run: str) -> bool:
    """A long run with upper case, lower case and digits that changes character class
    often (random keys do ~60% of the time; words, CamelCase and ids rarely)."""
    if run.lower() == run or run.upper() == run or not _DIGIT.search(run):
        return False  # C-level rejections first: most long runs are paths or ids
    classes = [("d" if c.isdigit() else "u" if c.isupper() else "l" if c.islower() else "o")
               for c in run]
    if not {"d", "u", "l"} <= set(classes):
        return False
    changes = sum(1 for a, b in itertools.pairwise(classes) if a != b)
    return changes >= 0.3 * len(run)


def _mask_long(match: re.Match[str]) -> str:
    run = match.group(0)
    return MASK if _random_looking(run) else run


_ENV_NAME = re.compile(r"[A-Z][A-Z0-9_]*")


def _mask_value(match: re.Match[str]) -> str:
    name, sep, value = match.groups()
    if name.lower().endswith("_env") or _ENV_NAME.fullmatch(value):
        return match.group(0)  # the NAME of a variable holding a key is not the key
    return name + sep + MASK


def mask(text: str) -> str:
    """``text`` with every secret replaced by ``***`` (Slack tokens by ``xox…``)."""
    known = _KNOWN
    if known:
        for value in tuple(known):
            if value in text:
                text = text.replace(value, MASK)
    if not _suspect(text):
        return text
    text = _SLACK_TOKEN.sub("xox…", text)
    text = _AUTH_SCHEME.sub(lambda m: m.group(1) + " " + MASK, text)
    text = _KEY_VALUE.sub(_mask_value, text)
    text = _URL_USERINFO.sub(lambda m: m.group(1) + MASK + "@", text)
    return _LONG_RUN.sub(_mask_long, text)


def mask_row(values: tuple[Any, ...]) -> tuple[Any, ...]:
    """:func:`mask` over a row of driver values; rows with nothing suspect pass unchanged."""
    strings = [v for v in values if type(v) is str]
    if not strings:
        return values
    joined = "\x1f".join(strings)
    if not _suspect(joined) and not (_KNOWN and any(k in joined for k in tuple(_KNOWN))):
        return values
    return tuple(mask(v) if type(v) is str else v for v in values)


# Texts are joined with this before one scan of them all: no word, run or registered value
# (below 32 characters of run, ``register_secret``) holds it, so no hit spans two texts
# unnoticed; a hit can only flag a text too many (which then takes the exact path).
_SEP = "\x1f"


def flagged(texts: list[str]) -> list[int]:
    """Indices of the ``texts`` that hold a suspect word, a random-looking run or a
    registered value, i.e. every text :func:`mask` could change (and maybe a few more),
    found with a few C-level scans of all of them joined instead of one per text."""
    if not texts:
        return []
    joined = _SEP.join(texts)
    hits: list[int] = []  # positions in ``joined``
    if joined.isascii():
        low = joined.lower()
    else:
        low = joined.lower()
        if len(low) != len(joined):  # a lower case of another length: one by one (rare)
            return [i for i, t in enumerate(texts) if _suspect(t) or _known_in(t)]
    for word in _SCAN_WORDS:  # every _WORDS hit, with one search for all the key... ones
        at = low.find(word)
        tails = _TAILS.get(word)
        while at >= 0:
            if tails is None or low[at + len(word):at + len(word) + 2].startswith(tails):
                hits.append(at)
            at = low.find(word, at + 1)
    if len(joined) >= _RUN_MIN:
        hits.extend(_random_runs(joined))
    for known in tuple(_KNOWN):
        at = joined.find(known)
        while at >= 0:
            hits.append(at)
            at = joined.find(known, at + 1)
    if not hits:
        return []
    starts = list(itertools.accumulate((len(t) + 1 for t in texts), initial=0))
    return sorted({bisect.bisect_right(starts, at) - 1 for at in hits})


def _random_runs(joined: str) -> list[int]:
    """Where ``joined`` has a random-looking run (what ``_LONG_RUN`` and ``_random_looking``
    find), located in its run-character map by C-level searches (a regex retries every
    start of every shorter run: slow over a megabyte of paths and ids)."""
    if not joined.isascii():  # byte offsets would not be character offsets
        return [m.start() for m in _LONG_RUN.finditer(joined) if _random_looking(m.group(0))]
    runs = joined.encode("ascii").translate(_RUN_TABLE)
    found: list[int] = []
    at = runs.find(_RUN_PROBE)
    while at >= 0:
        end = runs.find(b" ", at + _RUN_MIN)
        if end < 0:
            end = len(runs)
        if _random_looking(joined[at:end]):
            found.append(at)
        at = runs.find(_RUN_PROBE, end)
    return found


def _known_in(text: str) -> bool:
    return bool(_KNOWN) and any(k in text for k in tuple(_KNOWN))


def _row_text(values: Any) -> str:
    return _SEP.join(map(str, values))


def mask_rows(rows: list[Any]) -> list[Any]:
    """:func:`mask_row` over a batch of driver rows (tuples, lists or dicts): the rows that
    cannot hold anything :func:`mask` changes pass as they are, found by one scan of the
    whole batch; ``rows`` itself when nothing is masked."""
    texts = [_row_text(r.values() if isinstance(r, dict) else r) for r in rows]
    at = flagged(texts)
    if not at:
        return rows
    out = list(rows)
    for i in at:
        out[i] = _masked(rows[i])
    return out


def _masked(params: Any) -> Any:
    if isinstance(params, tuple):
        return mask_row(params)
    if isinstance(params, list):
        return list(mask_row(tuple(params)))
    if isinstance(params, dict):
        return dict(zip(params, mask_row(tuple(params.values())), strict=True))
    return params


def masked_params(params: Any) -> Any:
    """The parameters of one statement (a row) with every string masked."""
    return _masked(params)


def suspect_rows(rows: list[Any]) -> bool:
    """Whether any row of a batch (tuples, lists or dicts of driver values) may hold
    something :func:`mask_row` would mask (False: the whole batch can be stored as it is)."""
    return bool(flagged([_row_text(r.values() if isinstance(r, dict) else r) for r in rows]))


def mask_any(value: Any) -> Any:
    """:func:`mask` applied to every string inside lists and dicts (keys too)."""
    if isinstance(value, str):
        return mask(value)
    if isinstance(value, list | tuple):
        return type(value)(mask_any(v) for v in value)
    if isinstance(value, dict):
        return {mask_any(k): mask_any(v) for k, v in value.items()}
    return value


_CODE = re.compile(r"[a-z][a-z0-9_.]{0,63}")
UNRECOGNISED = "unrecognised_error"


def code(value: object, default: str | None = None) -> str | None:
    """``value`` when it is a code-shaped string (``invalid_auth``), else ``default``.

    Free text, anything with upper case, spaces or dashes, and code-shaped strings that are
    really keys (a long segment with digits, a registered secret) are refused: a server's
    error field never carries its words into the inventory or onto a terminal.
    """
    if not isinstance(value, str) or not _CODE.fullmatch(value):
        return default
    if mask(value) != value or value.startswith(("sk_", "pk_", "xox")):
        return default
    for part in re.split(r"[_.]", value):
        if len(part) > 24 or (len(part) > 12 and sum(c.isdigit() for c in part) >= 3):
            return default
    return value


def _is_active(ch: str) -> bool:
    """Characters that act on a terminal or reorder, hide or fake text."""
    cat = unicodedata.category(ch)
    # Cc: C0/C1 controls (ESC starts CSI/OSC; 0x9B is a one-byte CSI); Cf: bidi overrides,
    # isolates, zero-width joiners, soft hyphen...; Zl/Zp: line breaks by another name;
    # Cs: lone surrogates; Co/Cn: private and unassigned code points (no agreed glyph).
    return cat in ("Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn")


_SHORT_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def _escape_char(ch: str) -> str:
    if ch in _SHORT_ESCAPES:
        return _SHORT_ESCAPES[ch]
    point = ord(ch)
    if point < 0x100:
        return f"\\x{point:02x}"
    if point < 0x10000:
        return f"\\u{point:04x}"
    return f"\\U{point:08x}"


_FAST_SAFE = re.compile(r"[ -~]*")  # printable ASCII: nothing to escape


_LINE_BREAKS = frozenset("\n\t")


def escape_controls(text: str, keep: frozenset[str] = frozenset()) -> str:
    """Control, bidi, invisible and unassigned characters as visible escapes (but ``keep``)."""
    if text.isprintable():  # C-level: no Cc, Cf, Zl, Zp, Cs, Co or Cn character
        return text
    return "".join(_escape_char(ch) if _is_active(ch) and ch not in keep else ch
                   for ch in text)


def inert(value: Any, lines: str = "escape") -> str:
    """``value`` as text that is safe on a terminal or in a document: no secrets, no
    control characters, escape sequences, bidi overrides or invisible characters.

    ``lines``: line breaks and tabs are escaped (``escape``: one-line messages), become a
    space (``space``: table cells) or are kept (``keep``: quoted CSV cells).
    """
    text = "" if value is None else value if isinstance(value, str) else str(value)
    text = mask(text)
    if lines == "space":
        text = text.replace("\r\n", " ").replace("\r", " ").replace("\n", " ").replace("\t", " ")
    elif lines == "keep":  # a bare CR would let a cell overwrite its line on a terminal
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return escape_controls(text, _LINE_BREAKS if lines == "keep" else frozenset())


def inert_row(cells: list[str], lines: str = "space") -> list[str]:
    """:func:`inert` over the cells of one table row; plain rows pass unchanged (fast)."""
    joined = " ".join(cells)
    if (joined.isprintable() and not _suspect(joined)
            and not (_KNOWN and any(k in joined for k in tuple(_KNOWN)))):
        return cells
    return [inert(c, lines) for c in cells]


def mask_record(row: dict[str, Any]) -> dict[str, Any]:
    """:func:`mask_any` over a JSON row's values; rows with nothing suspect pass unchanged."""
    # One C-level encoding of every value (nested keys too) to look at, instead of a walk.
    joined = _check_dumps(list(row.values()))
    if "\\" not in joined and not _suspect(joined) and not _known_in(joined):
        return row
    return {k: mask_any(v) for k, v in row.items()}


# The look at JSON rows: strings as they are (no \uXXXX) so a text without a backslash holds
# every string verbatim between quotes (words and runs found as in the strings themselves);
# a backslash (an escaped quote, backslash or control character) takes the exact walk.
_check_dumps = json.JSONEncoder(ensure_ascii=False, default=str).encode


def mask_records(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """:func:`mask_record` over a batch: one C-level encoding of each row and one scan of
    them all; only the rows that may hold something to mask are walked."""
    texts = [_check_dumps(list(r.values())) for r in rows]
    at = set(flagged(texts))
    if any("\\" in t for t in texts):
        at.update(i for i, t in enumerate(texts) if "\\" in t)
    if not at:
        return rows
    return [{k: mask_any(v) for k, v in r.items()} if i in at else r
            for i, r in enumerate(rows)]


def inert_rows(rows: list[list[str]], lines: str = "space") -> list[list[str]]:
    """:func:`inert_row` over a batch of table rows: one scan of the whole batch; only rows
    with a cell to mask or escape are looked at one by one."""
    texts = list(map(" ".join, rows))
    at = set(flagged(texts))
    if not all(map(str.isprintable, texts)):
        at.update(i for i, t in enumerate(texts) if not t.isprintable())
    if not at:
        return rows
    return [[inert(c, lines) for c in cells] if i in at else cells
            for i, cells in enumerate(rows)]


def ascii_escaped(text: str) -> str:
    """Every character outside printable ASCII as an escape (``chat:wr\\u0456te``)."""
    if _FAST_SAFE.fullmatch(text):
        return text
    return "".join(ch if " " <= ch <= "~" else _escape_char(ch) for ch in text)


_MD_SPECIAL = frozenset("\\|*_`<>[]()!#&~")


def md(value: Any) -> str:
    """Inert text inside Markdown: one line, no HTML, links, images, emphasis or entities."""
    text = inert(value, "space")
    return "".join("\\" + ch if ch in _MD_SPECIAL else ch for ch in text)


def md_code(value: Any) -> str:
    """Inert text for a Markdown code span (backticks cannot close it, pipes stay in cell)."""
    return inert(value, "space").replace("`", "'").replace("|", "\\|")
