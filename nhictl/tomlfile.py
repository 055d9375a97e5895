"""Reading a TOML file nhictl was pointed at (config, policy, suppressions): one place for
the errors, each naming the file (exit 3). The file must be a regular file of at most
:data:`~nhictl.fsutil.MAX_TOML_BYTES`; TOML's ``nan`` and ``inf`` are refused (no setting
takes them, and they defeat range checks)."""

from __future__ import annotations

import math
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from nhictl.errors import ConfigError, InputFileError
from nhictl.fsutil import MAX_TOML_BYTES, read_input_text


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is not a usable number")
    return value


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    p = Path(path)
    try:
        text = read_input_text(p, what, MAX_TOML_BYTES)
    except InputFileError as exc:
        raise ConfigError(exc.message, hint=exc.hint) from None
    try:
        return tomllib.loads(text, parse_float=_float)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
    except ValueError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None


def array_of_tables(
    raw: Any, path: Path, key: str
) -> Iterator[tuple[int, str, dict[str, Any]]]:
    """The tables of a ``[[key]]`` array as (i, ``key[i]``, table); anything else is exit 3
    naming the file and the key."""
    if not isinstance(raw, list):
        raise ConfigError.at(path, key, f"must be an array of tables ([[{key}]])")
    for i, entry in enumerate(raw):
        where = f"{key}[{i}]"
        if not isinstance(entry, dict):
            raise ConfigError.at(path, where, "must be a table")
        yield i, where, entry
