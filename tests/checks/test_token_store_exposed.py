"""token_store_exposed: one finding per installation store whose token files others can read."""

from __future__ import annotations

import os
import stat
from typing import Any

from nhictl.catalog import load_catalog
from nhictl.checks import Snapshot, evaluate, get_rule
from nhictl.checks.model import ObservationView
from nhictl.models import Severity
from nhictl.policy import Policy
from nhictl.sources.fileperm import exposure
from tests.checks.helpers import NOW, clean


def details(**changes: Any) -> dict[str, Any]:
    base = {"store": "sqlite", "path": "/srv/app/installations.db", "files_exposed": 1,
            "modes": {"0644": 1}, "examples": ["/srv/app/installations.db"],
            "readable_by": ["group", "others"], "writable_by": [], "reachable": True,
            "blocked_by": None}
    return {**base, **changes}


def findings(*observations: ObservationView) -> list[Any]:
    snap = Snapshot(
        bindings=(clean(source="bolt"), clean(id="b-0000000002", source="bolt",
                                               status="revoked"), clean(id="b-3", source="x")),
        observations=observations)
    return evaluate(snap, Policy(), load_catalog(), NOW, rules=[get_rule("token_store_exposed")])


def test_exposed_store_is_one_high_finding_with_path_and_mode() -> None:
    obs = ObservationView("bolt", "store_file_exposed", "/srv/app/installations.db", details(),
                          "2026-06-01T11:00:00Z")
    (f,) = findings(obs)
    assert (f.rule_id, f.severity, f.binding_id) == ("token_store_exposed", Severity.HIGH, None)
    assert f.evidence["path"] == "/srv/app/installations.db" and f.evidence["modes"] == {
        "0644": 1}
    assert f.evidence["live_bindings"] == 1 and f.evidence["source"] == "bolt"
    assert "/srv/app/installations.db" in f.message and "mode 0644" in f.message
    assert "group and others" in f.message
    assert "chmod 600" in f.remediation and "umask 077" in f.remediation
    assert f.frameworks["owasp_nhi"] == ["NHI2:2025"]
    assert f.fingerprint == "token_store_exposed:-:bolt:/srv/app/installations.db"


def test_a_closed_parent_directory_lowers_it_to_medium() -> None:
    obs = ObservationView("bolt", "store_file_exposed", "/home/app/store", details(
        reachable=False, blocked_by="/home/app"))
    (f,) = findings(obs)
    assert f.severity == Severity.MEDIUM and "/home/app" in f.message


def test_no_observation_no_finding() -> None:
    assert findings() == []
    assert findings(ObservationView("bolt", "something_else", "x", {})) == []


def _stat(modes: dict[str, tuple[int, int]]) -> Any:
    """A stat over a made-up tree: path -> (mode, gid)."""
    def fake(path: str) -> os.stat_result:
        mode, gid = modes[path]
        kind = stat.S_IFREG if path.endswith(".db") else stat.S_IFDIR
        return os.stat_result((kind | mode, 0, 0, 1, 0, gid, 0, 0, 0, 0))
    return fake


def test_exposure_follows_the_parent_directories() -> None:
    tree = {"/": (0o755, 0), "/srv": (0o755, 0), "/srv/app": (0o755, 50),
            "/srv/app/s.db": (0o644, 50)}
    found = exposure("/srv/app/s.db", _stat(tree))
    assert found is not None and found.mode == "0644" and found.reachable
    assert found.readable_by == ("group", "others") and found.blocked == ()

    closed = {**tree, "/srv/app": (0o750, 50)}  # the app's group may enter, others may not
    found = exposure("/srv/app/s.db", _stat(closed))
    assert found is not None and found.reachable
    assert found.blocked == ("others",) and found.blocked_by == "/srv/app"

    shut = {**tree, "/srv/app": (0o700, 50)}
    found = exposure("/srv/app/s.db", _stat(shut))
    assert found is not None and not found.reachable and found.blocked_by == "/srv/app"

    assert exposure("/srv/app/s.db", _stat({**tree, "/srv/app/s.db": (0o600, 50)})) is None


def test_a_store_finding_can_be_suppressed_by_source() -> None:
    from datetime import date

    from nhictl.checks import Suppression

    obs = ObservationView("bolt", "store_file_exposed", "/srv/app/installations.db", details())
    snap = Snapshot(bindings=(clean(source="bolt"),), observations=(obs,))
    accepted = Suppression(1, "token_store_exposed", "source", "bolt", "app fix in Q1",
                           "SEC-1", "ciso@example.com", date(2026, 12, 31))
    other = Suppression(2, "token_store_exposed", "source", "elsewhere", "r", "t", "a",
                        date(2026, 12, 31))
    (f,) = evaluate(snap, Policy(), load_catalog(), NOW, rules=[get_rule("token_store_exposed")],
                    suppressions=[other, accepted])
    assert f.suppressed and f.suppression is not None and f.suppression["source"] == "bolt"
