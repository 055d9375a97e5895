"""Issue 11, class 4: every input file is a regular file of sane size and shape.

Driven through the real CLI (in-process). Each case checks the bad-input contract: exit 3,
one ``nhictl: error:`` line naming the file (and the place), no traceback, nothing written.
"""

from __future__ import annotations

import json
import os
import secrets
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from nhictl.fsutil import MAX_REVIEW_CSV_BYTES, MAX_TOML_BYTES, MAX_USAGE_BYTES
from tests.cli.e2e import nhictl
from tests.conftest import Cli, CliResult
from tests.engines import InventoryDb

pytestmark = pytest.mark.engine_neutral("hostile input files refused before the store")

GOOD = [{"id": "c1", "owner_id": "U1", "tenant": "acme", "scopes": ["chat:write"]}]


def private(path: Path, text: str | bytes) -> Path:
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    path.chmod(0o600)
    return path


def counts(inventory: InventoryDb) -> tuple[int, ...]:
    return tuple(inventory.scalar(f"SELECT count(*) FROM {t}")
                 for t in ("bindings", "events", "runs", "usage"))


def assert_refused(result: CliResult, *needles: str) -> str:
    """Exit 3, one error line (plus an optional hint) holding every needle, no traceback."""
    assert result.code == 3, result
    lines = result.err.strip().splitlines()
    errors = [line for line in lines if line.startswith("nhictl: error: ")]
    assert len(errors) == 1 and "Traceback" not in result.err, result.err
    for needle in needles:
        assert needle in errors[0], (needle, errors[0])
    return errors[0]


# -- not a regular file: refused before opening, never blocking on a FIFO ---------------------

# Each command reads one input file; {p} is where the hostile file is.
READERS: dict[str, Callable[[Path], list[str]]] = {
    "export": lambda p: ["reconcile", "-s", f"file:{p}", "--no-validate"],
    "usage": lambda p: ["usage", "ingest", str(p)],
    "review": lambda p: ["review", "apply", str(p)],
    "config": lambda p: ["--config", str(p), "inventory", "list"],
    "policy": lambda p: ["check", "--policy", str(p)],
    "scenario": lambda p: ["sandbox", "slack", "--scenario", str(p)],
}


def run_with_watchdog(cli: Cli, argv: list[str], fifo: Path) -> CliResult:
    """Run the CLI in a thread; should it block on the FIFO (the bug), unblock it by opening
    the write end, so the test fails instead of hanging."""
    box: dict[str, CliResult] = {}
    thread = threading.Thread(target=lambda: box.setdefault("r", cli(*argv)), daemon=True)
    thread.start()
    thread.join(timeout=30)
    if thread.is_alive():
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        os.close(fd)
        thread.join(timeout=30)
        pytest.fail(f"{argv[0]} blocked on a FIFO")
    return box["r"]


@pytest.mark.parametrize("kind", sorted(READERS))
def test_a_fifo_is_refused_without_blocking(cli: Cli, initialized: Path, tmp_path: Path,
                                            kind: str, inventory_db: InventoryDb) -> None:
    fifo = tmp_path / f"{kind}.pipe"
    os.mkfifo(fifo, 0o600)
    before = counts(inventory_db)
    result = run_with_watchdog(cli, READERS[kind](fifo), fifo)
    assert_refused(result, str(fifo), "named pipe (FIFO)")
    assert counts(inventory_db) == before


@pytest.mark.parametrize("kind", ["export", "usage", "review", "config", "policy"])
def test_a_device_is_refused(cli: Cli, initialized: Path, kind: str) -> None:
    assert_refused(cli(*READERS[kind](Path("/dev/null"))), "/dev/null", "is a device")


@pytest.mark.parametrize("kind", ["export", "usage", "review", "policy"])
def test_a_directory_is_refused(cli: Cli, initialized: Path, tmp_path: Path, kind: str) -> None:
    directory = tmp_path / "a-dir"
    directory.mkdir()
    result = cli(*READERS[kind](directory))
    if result.code == 2:  # the option's own check (typer dir_okay=False): a usage error
        assert "is a directory" in result.err and "Traceback" not in result.err
        return
    assert_refused(result, str(directory), "is a directory")


@pytest.mark.both_engines
def test_the_fingerprint_key_as_a_fifo_does_not_block(cli: Cli, initialized: Path) -> None:
    key = Path(f"{initialized}.key")
    key.unlink()
    os.mkfifo(key, 0o600)
    result = run_with_watchdog(cli, ["inventory", "list"], key)
    assert_refused(result, str(key), "named pipe")


# -- size caps (sparse files: the size is refused before a byte is read) ----------------------

@pytest.mark.parametrize(("kind", "name", "limit"), [
    ("config", "nhictl.toml", MAX_TOML_BYTES),
    ("policy", "policy.toml", MAX_TOML_BYTES),
    ("review", "review.csv", MAX_REVIEW_CSV_BYTES),
    ("usage", "usage.jsonl", MAX_USAGE_BYTES),
])
def test_inputs_over_their_size_cap_are_refused(cli: Cli, initialized: Path, tmp_path: Path,
                                                kind: str, name: str, limit: int,
                                                inventory_db: InventoryDb) -> None:
    path = tmp_path / name
    with path.open("wb") as fh:
        fh.truncate(limit + 1)
    path.chmod(0o600)
    before = counts(inventory_db)
    assert_refused(cli(*READERS[kind](path)), str(path), f"the limit is {limit}")
    assert counts(inventory_db) == before


# -- JSON shape: NaN, Infinity, overflow, depth, string length, lone surrogates --------------

def nested(depth: int) -> Any:
    value: Any = "x"
    for _ in range(depth):
        value = {"d": value}
    return value


EXPORT_SHAPES: dict[str, tuple[str, str]] = {
    # name: (JSON text of the export, what the error says)
    "nan": ('[{"id": "c1", "plan": NaN}]', "NaN is not a JSON number"),
    "infinity": ('[{"id": "c1", "limits": {"rate": -Infinity}}]', "Infinity"),
    "overflow": ('[{"id": "c1", "weight": 1e400}]', "out of range"),
    "deep": (json.dumps([{"id": "c1", "extra": nested(40)}]), "nested too deeply"),
    "long-nested-string": (json.dumps([{"id": "c1", "extra": {"note": "n" * 70_000}}]),
                           "longer than 65536"),
    "lone-surrogate": ('[{"id": "c1", "extra": {"note": "\\ud800"}}]', "lone surrogate"),
    "long-id": (json.dumps([{"id": "i" * 60_000}]), 'field "id": longer than 512'),
}


@pytest.mark.parametrize("name", sorted(EXPORT_SHAPES))
def test_export_json_of_hostile_shape_is_refused(cli: Cli, initialized: Path, tmp_path: Path,
                                                 name: str, inventory_db: InventoryDb) -> None:
    text, needle = EXPORT_SHAPES[name]
    path = private(tmp_path / "export.json", text)
    before = counts(inventory_db)
    error = assert_refused(cli(*READERS["export"](path)), str(path), needle)
    assert len(error) < 700
    assert counts(inventory_db) == before


@pytest.mark.parametrize(("line", "needle"), [
    ('{"time": "2026-11-01T00:00:00Z", "connection_id": "c1", "action": "x", "n": NaN}',
     "NaN"),
    ('{"time": "2026-11-01T00:00:00Z", "connection_id": "c1", "action": "x", "n": 1e999}',
     "out of range"),
    (json.dumps({"time": "2026-11-01T00:00:00Z", "connection_id": "c" * 60_000,
                 "action": "x"}), "longer than 512"),
    (json.dumps({"time": "2026-11-01T00:00:00Z", "connection_id": "c1", "action": "x",
                 "extra": nested(40)}), "nested too deeply"),
])
def test_usage_lines_of_hostile_shape_are_refused(cli: Cli, initialized: Path, tmp_path: Path,
                                                  line: str, needle: str) -> None:
    path = private(tmp_path / "usage.jsonl", line + "\n")
    assert_refused(cli("usage", "ingest", str(path)), f"{path}:line 1", needle)


def test_toml_nan_and_inf_are_refused(cli: Cli, initialized: Path, tmp_path: Path) -> None:
    for value in ("nan", "inf", "-inf"):
        path = private(tmp_path / "nhictl.toml", f"[slack.rate_limits]\n'auth.test' = {value}\n")
        assert_refused(cli(*READERS["config"](path)), str(path), "not a usable number")


# -- CSV: an unterminated quote or a duplicated column never merges or drops data -------------

def test_export_csv_with_an_unterminated_quote_is_refused(cli: Cli, initialized: Path,
                                                          tmp_path: Path,
                                                          inventory_db: InventoryDb) -> None:
    path = private(tmp_path / "export.csv",
                   'id,owner_id,tenant\nc1,U1,acme\nc2,"U2,acme\nc3,U3,acme\nc4,U4,acme\n')
    before = counts(inventory_db)
    assert_refused(cli(*READERS["export"](path)), f"{path}:line 3", "unterminated quote")
    assert counts(inventory_db) == before


def test_export_csv_with_a_duplicated_column_is_refused(cli: Cli, initialized: Path,
                                                        tmp_path: Path) -> None:
    path = private(tmp_path / "export.csv",
                   "id,owner_id,tenant,owner_id\nc1,U1,acme,U9\n")
    assert_refused(cli(*READERS["export"](path)), f"{path}:line 1",
                   "duplicate CSV column(s): owner_id")


def test_review_csv_unterminated_quote_names_the_row_it_opens(cli: Cli, initialized: Path,
                                                              tmp_path: Path) -> None:
    path = private(tmp_path / "review.csv",
                   'binding_id,decision,reviewer\nb-1,keep,a@x\nb-2,"keep,a@x\nb-3,keep,a@x\n')
    assert_refused(cli(*READERS["review"](path)), f"{path}:line 3", "unterminated quote")


# -- secrets in fields nhictl does not know -------------------------------------------------

def test_secret_named_fields_are_dropped_with_a_warning(cli: Cli, initialized: Path,
                                                        tmp_path: Path,
                                                        inventory_db: InventoryDb) -> None:
    opaque = "opaque-" + secrets.token_hex(8)
    record = {**GOOD[0], "refresh": opaque, "auth": {"v": opaque},
              "credentials": {"client_id": "x", "client_secret": opaque},
              "password": opaque, "client_secret": opaque, "plan": "pro"}
    path = private(tmp_path / "export.json", json.dumps([record]))
    result = cli(*READERS["export"](path))
    assert result.code == 0, result
    assert "secret-named field(s) not kept" in result.err and opaque not in result.err
    shown = cli("inventory", "list", "-o", "json")
    (binding,) = json.loads(shown.out)["bindings"]
    detail = cli("inventory", "show", binding["id"], "-o", "json")
    assert '"plan"' in detail.out and opaque not in detail.out
    dump = "\n".join(inventory_db.dump())
    assert opaque not in dump and "client_secret" not in dump


@pytest.mark.parametrize("value", [
    "Bearer {s}", "basic {s}", {"headers": ["Bearer {s}"]}, "xoxe-1-{s}", "xapp-1-A-{s}",
    "https://hooks.slack.com/services/T0/B0/{s}",
])
def test_secret_shaped_values_refuse_the_export(cli: Cli, initialized: Path, tmp_path: Path,
                                                value: Any, inventory_db: InventoryDb) -> None:
    fake = "fake" + secrets.token_hex(10)
    filled = json.loads(json.dumps(value).replace("{s}", fake))
    path = private(tmp_path / "export.json", json.dumps([{**GOOD[0], "notes": filled}]))
    before = counts(inventory_db)
    result = cli(*READERS["export"](path))
    assert_refused(result, f"{path}:record 0", 'field "notes', "nothing was stored")
    assert fake not in result.err + result.out
    assert counts(inventory_db) == before


def test_secret_shaped_value_in_a_known_field_is_refused(cli: Cli, initialized: Path,
                                                         tmp_path: Path) -> None:
    fake = "fake" + secrets.token_hex(10)
    path = private(tmp_path / "export.json",
                   json.dumps([{**GOOD[0], "owner_name": f"Bearer {fake}"}]))
    result = cli(*READERS["export"](path))
    assert_refused(result, 'field "owner_name"', "HTTP credential")
    assert fake not in result.err


# -- stdin -----------------------------------------------------------------------------------

@pytest.mark.parametrize("data", [b"\xff\xfe\n", b"xoxp-1-\xff-fake\n", b"x" * 70_000])
def test_hash_refuses_non_utf8_or_huge_stdin(initialized: Path, data: bytes) -> None:
    result = nhictl("hash", stdin=data)
    assert result.code == 3, result
    assert result.err.startswith("nhictl: error: stdin: ") and "Traceback" not in result.err
    assert "xoxp" not in result.err


@pytest.mark.parametrize("kind", ["fifo", "device", "directory"])
def test_an_inventory_that_is_not_a_regular_file_is_refused(cli: Cli, tmp_path: Path,
                                                            kind: str) -> None:
    path = tmp_path / "inventory.db"
    if kind == "fifo":
        os.mkfifo(path, 0o600)
    elif kind == "directory":
        path.mkdir()
    else:
        path = Path("/dev/null")
    result = run_with_watchdog(cli, ["--db", str(path), "inventory", "list"], path)
    assert_refused(result, f"inventory {path}", "not a")
