"""Shared helpers of the bad-input property tests (``test_bad_input_props*.py``).

* :func:`cli` runs the CLI in-process (``nhictl.cli.main.run``), catching ``SystemExit``.
* :class:`Inventory` is one initialised inventory in a private temp dir, reused across
  hypothesis examples; :meth:`Inventory.check` asserts the bad-input contract (exit 0 or 3,
  one clear ``nhictl: error:`` line naming the file, nothing written on failure).
* :func:`write_private` writes bytes to a 0600 file; :func:`encode` keeps lone surrogates.
"""

from __future__ import annotations

import contextlib
import io
import json
import sqlite3
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, event, settings

from nhictl.cli.main import run

SETTINGS = settings(max_examples=60, deadline=None, derandomize=False,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
TABLES = ("bindings", "events", "runs")


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            run(list(argv))
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
        else:  # pragma: no cover - run() always exits
            code = 0
    return code, out.getvalue(), err.getvalue()


def note_exit(code: int) -> None:
    with contextlib.suppress(Exception):  # outside @given (sanity tests)
        event(f"exit {code}")


def assert_clear_error(err: str, name: str) -> list[str]:
    """The stderr of an exit-3 run: one ``nhictl: error:`` line naming ``name`` (+ a hint)."""
    lines = err.strip().split("\n")  # real line breaks only (U+2028 in a key is one line)
    assert lines and lines[0].startswith("nhictl: error: "), err
    assert len(lines) <= 2 and all(line.startswith(("nhictl: error:", "hint:"))
                                   for line in lines), err
    assert name in lines[0], f"the error does not name {name}: {lines[0]}"
    return lines


class Inventory:
    """One initialised inventory in a private temp dir, reused across examples."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.db = root / "inv.db"
        code, _, err = cli("--db", str(self.db), "init")
        assert code == 0, err
        self.n = 0

    def path(self, suffix: str) -> Path:
        self.n += 1
        return self.root / f"input-{self.n}{suffix}"

    def query(self, sql: str) -> list[tuple[Any, ...]]:
        conn = sqlite3.connect(self.db)
        try:
            return list(conn.execute(sql).fetchall())
        finally:
            conn.close()

    def counts(self, tables: tuple[str, ...] = TABLES) -> tuple[int, ...]:
        return tuple(self.query(f"SELECT count(*) FROM {t}")[0][0] for t in tables)

    def check(self, *argv: str, name: str) -> int:
        before = self.counts()
        code, out, err = cli("-q", "--db", str(self.db), *argv)
        note_exit(code)
        assert "Traceback" not in err and "Traceback" not in out
        assert code in (0, 3), f"exit {code}: {err}"
        if code == 3:
            assert_clear_error(err, name)
            assert self.counts() == before, "a failed run wrote to the inventory"
        return code


def write_private(path: Path, data: bytes) -> None:
    import os

    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as fh:
        fh.write(data)


def dump(value: Any) -> str:
    return json.dumps(value, allow_nan=True, ensure_ascii=False)


def encode(text: str) -> bytes:
    return text.encode("utf-8", "surrogatepass")
