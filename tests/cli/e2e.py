"""Helpers for end-to-end tests: run the real CLI entry point in-process."""

from __future__ import annotations

import io
import json
import os
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nhictl.cli.main import run


@dataclass
class Result:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return json.loads(self.out)


def nhictl(
    *args: str, env: dict[str, str] | None = None, stdin: str | bytes | None = None
) -> Result:
    """Run ``nhictl ARGS`` in-process with extra environment; never raises SystemExit."""
    import sys

    out, err = io.StringIO(), io.StringIO()
    saved = {k: os.environ.get(k) for k in (env or {})}
    os.environ.update(env or {})
    old_stdin = sys.stdin
    if isinstance(stdin, bytes):  # a byte stream like a real pipe (may not be UTF-8)
        sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    elif stdin is not None:
        sys.stdin = io.StringIO(stdin)
    try:
        with redirect_stdout(out), redirect_stderr(err):
            try:
                run(list(args))
                code = 0
            except SystemExit as exc:
                code = int(exc.code or 0)
    finally:
        sys.stdin = old_stdin
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
    return Result(code, out.getvalue(), err.getvalue())


def write_private(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data))
    path.chmod(0o600)
    return path
