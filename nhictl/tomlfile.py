"""Reading a TOML file nhictl was pointed at (config, policy, suppressions): one place for
the errors, each naming the file (exit 3)."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

from nhictl.errors import ConfigError


def read_toml(path: str | Path, what: str) -> dict[str, Any]:
    p = Path(path)
    try:
        return tomllib.loads(p.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{p}: {what} not found") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{p}: not valid UTF-8 text") from None
    except OSError as exc:
        raise ConfigError(f"{p}: cannot read {what}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: invalid TOML: {exc}") from None
