"""nhictl's own purposes and the ``privileged`` purpose key."""

from __future__ import annotations

import pytest

from nhictl.errors import ConfigError
from nhictl.policy import DEFAULT_PURPOSES, build_policy


def test_each_collector_job_has_a_purpose_with_the_one_scope_it_needs() -> None:
    jobs = {name: (sorted(p.scopes), p.privileged) for name, p in DEFAULT_PURPOSES.items()
            if name.startswith("nhictl-")}
    assert jobs == {"nhictl-audit-logs": (["auditlogs:read"], True),
                    "nhictl-integration-logs": (["admin"], True),
                    "nhictl-directory": (["users:read"], False),
                    "nhictl-notify": (["chat:write"], False)}


def test_a_config_purpose_may_be_privileged_and_must_say_so_as_a_boolean() -> None:
    policy, _ = build_policy(None, {"siem": {"scopes": ["auditlogs:read"], "privileged": True}})
    assert policy.expected_privileged(["siem", "notifications"]) == frozenset({"auditlogs:read"})
    assert policy.expected_privileged(["notifications"]) == frozenset()
    with pytest.raises(ConfigError, match=r"purposes.siem.privileged must be true or false"):
        build_policy(None, {"siem": {"scopes": ["auditlogs:read"], "privileged": "yes"}})
