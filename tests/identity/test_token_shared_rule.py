"""Issue 10.5: `token_shared` fires when one token is held under different owners, Slack
identities or tenants; never for one connection seen through sources that agree."""

from __future__ import annotations

from typing import Any

import pytest

from nhictl.checks.rules_identity import holder_differences
from tests.checks.helpers import clean, run

SECOND: dict[str, Any] = {"id": "b-0000000002", "connection_id": "c1", "source": "bolt-app"}


@pytest.mark.parametrize(("change", "differs"), [
    ({"owner_id": "u9"}, "owner_id"),
    ({"owner_email": "mallory@example.com"}, "owner_email"),
    ({"tenant": "globex"}, "tenant"),
    ({"source_slack_user_id": "U9", "slack_user_id": None}, "slack_user_id"),
    ({"source_team_id": "T9", "workspace_id": None}, "workspace_id"),
])
def test_fires_when_holders_disagree(change: dict[str, Any], differs: str) -> None:
    found = run("token_shared", clean(), clean(**SECOND, **change))
    assert sorted(f.binding_id or "" for f in found) == ["b-0000000001", "b-0000000002"]
    assert list(found[0].evidence["differs"]) == [differs]
    assert found[0].evidence["sources"] == ["bolt-app", "export"]


@pytest.mark.parametrize("change", [
    {},  # the same connection through a second source
    {"owner_email": "GRACE@example.com "},  # spelled differently, same person
    {"owner_id": None, "owner_email": None, "tenant": None},  # the store knows no owner
])
def test_silent_when_sources_agree(change: dict[str, Any]) -> None:
    assert run("token_shared", clean(), clean(**SECOND, **change)) == []


def test_a_third_holder_that_disagrees_makes_the_whole_group_shared() -> None:
    third = clean(id="b-0000000003", connection_id="c7", owner_id="u9")
    found = run("token_shared", clean(), clean(**SECOND), third)
    assert len(found) == 3


def test_revoked_holders_are_not_counted() -> None:
    gone = clean(**SECOND, owner_id="u9", status="revoked", revoked_at="2026-05-30T00:00:00Z")
    assert run("token_shared", clean(), gone) == []


def test_holder_differences_compares_known_values_only() -> None:
    assert holder_differences([clean(), clean(**SECOND, owner_id=None)]) == {}
    assert holder_differences([clean(), clean(**SECOND, owner_id="u2")]) == {
        "owner_id": ["u1", "u2"]}
