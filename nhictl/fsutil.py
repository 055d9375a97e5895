"""Writing files safely: atomic replace, mode 0600, parent directories 0700."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename, so readers never see half."""
    path = Path(path)
    private_dirs(path.parent)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def private_dirs(path: Path) -> None:
    """Create ``path`` and every missing parent with mode 0700 (``mkdir -p`` would give the
    parents the umask's mode)."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    if not current.is_dir():
        import errno

        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(current))
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)
