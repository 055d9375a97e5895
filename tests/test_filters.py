"""The one filter behind every list-like command (nhictl/filters.py)."""

from __future__ import annotations

import pytest

from nhictl.errors import UsageError
from nhictl.filters import Filters, sort_rows

B = {"id": "b-1", "tenant": "Acme", "source": "prod-pipes", "status": "active",
     "owner_id": "u1", "owner_email": "Grace@Example.com", "slack_user_id": "U1",
     "workspace_id": "T1", "workspace_name": "Acme HQ", "granted_scopes": ["chat:write"],
     "declared_scopes": ["chat:write", "users:read"]}


@pytest.mark.parametrize(("kwargs", "matches"), [
    ({"tenant": ["acme"]}, True),                       # case-insensitive
    ({"tenant": ["ac"]}, False),                        # whole value, no substring
    ({"tenant": ["globex", "ACME"]}, True),             # repeated = any
    ({"tenant": ["acme"], "source": ["other"]}, False),  # different = all
    ({"owner": ["grace@example.com"]}, True),
    ({"owner": ["u1"]}, True),
    ({"workspace": ["acme hq"]}, True),
    ({"status": ["ACTIVE"]}, True),
    ({"scope": ["users:read"]}, False),                 # granted wins over declared
    ({"scope": ["CHAT:WRITE"]}, True),
    ({"source": [" prod-pipes "]}, True),
])
def test_binding_matching(kwargs: dict[str, list[str]], matches: bool) -> None:
    assert Filters.of(**kwargs).binding_matches(B) is matches  # type: ignore[arg-type]


def test_unknown_status_and_sort_field_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="not a status"):
        Filters.of(status=["alive"])
    with pytest.raises(UsageError, match="not a field"):
        list(sort_rows([B], "colour", ["tenant"]))


def test_sort_descending_missing_last_and_severity_by_rank() -> None:
    rows = [{"s": "low"}, {"s": None}, {"s": "critical"}, {"s": "medium"}]
    assert [r["s"] for r in sort_rows(rows, "-s", ["s"])] == [
        "medium", "low", "critical", None]  # plain text order for a plain field
    sev = [{"severity": v} for v in ("low", "critical", "medium")]
    assert [r["severity"] for r in sort_rows(sev, "-severity", ["severity"])] == [
        "critical", "medium", "low"]


def test_absurdly_long_values_are_usage_errors() -> None:
    with pytest.raises(UsageError, match="--owner: longer than 512"):
        Filters.of(owner=["x" * 513])
