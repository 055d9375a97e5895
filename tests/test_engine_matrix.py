"""The engine matrix itself: each inventory test runs on both engines; without PostgreSQL the
PostgreSQL cases skip with one visible reason, except under CI=true, where the run fails."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from tests.conftest import REPO, Cli
from tests.engines import InventoryDb

ONE_TEST = "tests/test_engine_matrix.py::test_the_inventory_is_on_the_engine_of_the_case"


def test_the_inventory_is_on_the_engine_of_the_case(
    cli: Cli, initialized: object, inventory_db: InventoryDb, db_engine: str
) -> None:
    assert os.environ["NHICTL_DB"] == inventory_db.url
    assert inventory_db.engine == db_engine
    assert inventory_db.url.startswith("postgresql://") == (db_engine == "postgresql")
    assert "meta" in inventory_db.tables()  # `nhictl init` wrote to this very database
    assert cli("inventory", "list").code == 0


def _pytest_without_postgres(ci: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_ADDOPTS")}
    if ci is not None:
        env["CI"] = ci
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "tests.no_postgres_plugin", "-p",
         "no:cacheprovider", "-rs", ONE_TEST], cwd=REPO, env=env, capture_output=True,
        text=True, timeout=120, check=False)


@pytest.mark.parametrize("ci", [None, "false"])
def test_without_postgresql_the_cases_skip_with_the_reason(ci: str | None) -> None:
    done = _pytest_without_postgres(ci)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 passed, 1 skipped" in done.stdout, done.stdout
    skipped = [ln for ln in done.stdout.splitlines() if ln.startswith("SKIPPED")]
    assert len(skipped) == 1, done.stdout
    assert "PostgreSQL not available: initdb not found (simulated)" in skipped[0]


def test_without_postgresql_ci_fails_instead_of_skipping() -> None:
    done = _pytest_without_postgres("true")
    assert done.returncode != 0
    assert "CI=true but PostgreSQL is not available: initdb not found (simulated)" in \
        done.stdout + done.stderr
