"""Refuse secret-bearing files that group or others can read, as ssh refuses a loose key."""

from __future__ import annotations

import os
import stat
from pathlib import Path

from nhictl.errors import InsecureFileError


def ensure_private(path: Path | str, what: str = "file") -> None:
    mode = os.stat(path).st_mode
    if mode & (stat.S_IRGRP | stat.S_IROTH | stat.S_IWGRP | stat.S_IWOTH):
        raise InsecureFileError(
            f"{path}: {what} contains tokens and is readable by group or others "
            f"(mode {stat.S_IMODE(mode):04o})",
            hint=f"chmod 600 {path}",
        )
