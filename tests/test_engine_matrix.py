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


# The store-facing modules: every inventory test in them has its PostgreSQL twin (CI runs the
# store, reconcile, lock, crash, shard and concurrency tests against a real server).
TWINNED = ("tests/test_reconcile.py", "tests/test_lock_scopes.py", "tests/test_crash_safety.py",
           "tests/test_concurrency.py", "tests/store/test_repo.py", "tests/perf/test_shard.py")
NEUTRAL = "tests/test_hostile_files.py"  # engine_neutral, with one both_engines test


def _collected(*args: str) -> list[str]:
    env = {k: v for k, v in os.environ.items() if k != "PYTEST_ADDOPTS"}
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:cacheprovider",
         *args], cwd=REPO, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return [ln for ln in done.stdout.splitlines() if "::" in ln]


def _twins(ids: list[str]) -> tuple[set[str], set[str]]:
    """(tests with a [sqlite] case, tests with a [postgresql] case), as engine-free ids."""
    on_sqlite = {i.replace("sqlite", "<engine>") for i in ids if "[sqlite" in i
                 or "-sqlite" in i}
    on_pg = {i.replace("postgresql", "<engine>") for i in ids if "[postgresql" in i
             or "-postgresql" in i}
    return on_sqlite, on_pg


@pytest.fixture(scope="module")
def collected() -> list[str]:
    """The test ids of TWINNED and NEUTRAL (one child collection for both tests)."""
    return _collected(*TWINNED, NEUTRAL)


def test_store_facing_tests_keep_their_postgresql_twin(collected: list[str]) -> None:
    on_sqlite, on_pg = _twins([i for i in collected if not i.startswith(NEUTRAL)])
    assert len(on_sqlite) > 40
    assert on_sqlite <= on_pg, sorted(on_sqlite - on_pg)  # (a few run on PostgreSQL only)


def test_engine_neutral_tests_run_on_sqlite_unless_all_engines(collected: list[str]) -> None:
    on_sqlite, on_pg = _twins([i for i in collected if i.startswith(NEUTRAL)])
    both = {i for i in on_sqlite if "fingerprint_key_as_a_fifo" in i}
    assert len(on_sqlite) > 20 and len(both) == 1
    assert on_pg == both  # both_engines keeps its twin; the rest run once
    all_sqlite, all_pg = _twins(_collected("--all-engines", NEUTRAL))
    assert all_sqlite == all_pg == on_sqlite
