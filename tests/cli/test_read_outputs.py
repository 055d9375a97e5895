"""`inventory list` and `report access-review` at scale write the same bytes as the general
path: on the demo inventory and on a varied one (hostile strings, every value type, more
rows than a batch), CSV cells are what per-cell inert + neutralise give, JSON rows what
mask_any on every value gives, and the streamed packet what the buffered one writes."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from nhictl.catalog.loader import load_catalog
from nhictl.cli.columns import BINDING_CSV, binding_json
from nhictl.exporters.formats import neutralise
from nhictl.policy import Policy
from nhictl.review.packet import stream_packet
from nhictl.sightings import corroborations
from nhictl.store import open_inventory, repo
from nhictl.untrusted import inert, mask_any
from tests.checks.store_helpers import add_binding, make_inventory

NOW = "2026-06-01T12:00:00Z"
HOSTILE = ["=HYPERLINK(\"https://evil\")", "-2+3", "@SUM(1)", "\t=1", "line\nbreak",
           "bell\x07\x1b[31mred", "admin\u202egnp.exe", "zero\u200bwidth", "caf\u00e9 \u5c71",
           "a,b \"quoted\"", "K\u212aey=1", "\u0130stanbul", "plain", "",
           "Qw3rTy7uI9oP1aS5dF8gH2jK4lZ6xC0vB", "/a/very/long/lowercase/path/to/some/file.json"]


def _varied(root: Path) -> Path:
    inv = make_inventory(root)
    for i in range(1203):  # more than two batches of 500
        word = HOSTILE[i % len(HOSTILE)]
        add_binding(
            inv, f"b-{i:010x}", connection_id=f"conn-{i}", tenant=["acme", word, None][i % 3],
            owner_name=word, owner_email=None if i % 7 == 0 else f"u{i}@example.com",
            workspace_name=HOSTILE[(i * 5) % len(HOSTILE)], status_reason=word or None,
            granted_scopes=None if i % 4 == 0 else ["chat:write", word or "x"],
            declared_scopes=["chat:write"], has_refresh_token=bool(i % 2),
            slack_user_deleted=None if i % 3 else bool(i % 2),
            token_fingerprint=f"hmac-sha256:{i % 50:016x}",  # shared tokens: findings
            status=["active", "needs_reconnect", "revoked", "unvalidated"][i % 4])
    inv.dispose()
    (root / "nhictl.toml").write_text("")  # no config: the defaults
    return root / "inv.db"


@pytest.fixture(scope="module")
def inventories(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    varied = _varied(tmp_path_factory.mktemp("varied"))
    demo = tmp_path_factory.mktemp("demo") / "demo"
    env = {k: v for k, v in os.environ.items()
           if k not in ("NHICTL_DB", "NHICTL_CONFIG", "NHICTL_NOW", "NHICTL_KEY_FILE")}
    done = subprocess.run([sys.executable, "-m", "nhictl", "-q", "demo", "--out", str(demo)],
                          env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode in (0, 4), done.stderr
    return {"varied": varied, "demo": demo / "inventory.db"}


def _nhictl(db: Path, *args: str) -> str:
    env = {**os.environ, "NHICTL_DB": str(db), "NHICTL_NOW": NOW, "NO_COLOR": "1",
           "NHICTL_CONFIG": str(db.parent / "nhictl.toml")}
    env.pop("NHICTL_KEY_FILE", None)
    done = subprocess.run([sys.executable, "-m", "nhictl", *args], env=env,
                          capture_output=True, timeout=300, check=False, cwd=db.parent)
    assert done.returncode in (0, 1), done.stderr
    return done.stdout.decode("utf-8")  # CRLF kept (CSV)


def _bindings(db: Path) -> list[dict[str, Any]]:
    inv, _ = open_inventory(str(db))
    try:
        with inv.engine.connect() as conn:
            return list(repo.iter_bindings(conn))
    finally:
        inv.dispose()


@pytest.mark.parametrize("which", ["varied", "demo"])
def test_inventory_list_csv_is_the_per_cell_path(inventories: dict[str, Path],
                                                 which: str) -> None:
    db = inventories[which]
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in BINDING_CSV])
    for row in _bindings(db):
        writer.writerow([neutralise(inert(c.text(row), "keep")) for c in BINDING_CSV])
    got = _nhictl(db, "inventory", "list", "-o", "csv")
    assert got.count("\n") > 5
    assert got == out.getvalue()


@pytest.mark.parametrize("which", ["varied", "demo"])
def test_inventory_list_json_is_mask_any_on_every_value(inventories: dict[str, Path],
                                                        which: str) -> None:
    db = inventories[which]
    inv, _ = open_inventory(str(db))
    try:
        with inv.engine.connect() as conn:
            seen = corroborations(conn)
    finally:
        inv.dispose()
    wanted = [{k: mask_any(v) for k, v in
               {**binding_json(r), "corroborated_by": seen.get(r["id"], [])}.items()}
              for r in _bindings(db)]
    got = json.loads(_nhictl(db, "inventory", "list", "-o", "json"))["bindings"]
    assert got == json.loads(json.dumps(wanted, default=str))


@pytest.mark.parametrize("which", ["varied", "demo"])
@pytest.mark.parametrize("fmt", ["csv", "json"])
def test_streamed_packet_is_the_buffered_one(inventories: dict[str, Path], which: str,
                                             fmt: str, tmp_path: Path) -> None:
    db = inventories[which]
    streamed = _nhictl(db, "report", "access-review", "-o", fmt)
    # --out FILE takes the buffered path (build_packet, the whole text, atomic write)
    _nhictl(db, "report", "access-review", "-o", fmt, "--out", str(tmp_path / f"p.{fmt}"))
    buffered = (tmp_path / f"p.{fmt}").read_bytes().decode("utf-8")
    assert streamed.count("\n") > 5
    assert streamed == buffered


def test_packet_rows_are_built_as_they_are_read(tmp_path: Path) -> None:
    inv = make_inventory(tmp_path)
    for i in range(5):
        add_binding(inv, f"b-{i:010x}", owner_email=f"u{4 - i}@example.com")
    stream = stream_packet(inv, Policy(), load_catalog(), now=datetime(2026, 6, 1, tzinfo=UTC))
    first = next(stream.rows)
    assert stream.tally.bindings == 1  # one row built, not the packet
    assert first["binding_id"] == "b-0000000004"  # packet order: by owner
    rest = list(stream.rows)
    assert stream.tally.summary()["bindings"] == 5 == 1 + len(rest)
    inv.dispose()
