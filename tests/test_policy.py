from __future__ import annotations

from pathlib import Path

import pytest

from nhictl.errors import ConfigError
from nhictl.policy import DEFAULT_PURPOSES, Policy, build_policy, load_policy_file


def test_defaults() -> None:
    p = Policy()
    assert set(p.purposes) == {"notifications", "channel-selection", "sign-in",
                               "direct-messages", "custom-identity", "nhictl-audit-logs",
                               "nhictl-integration-logs", "nhictl-directory", "nhictl-notify"}
    assert p.purposes["channel-selection"].transient
    assert p.allowed_scopes(["notifications"]) == {"chat:write", "incoming-webhook"}
    assert (p.max_validation_age_days, p.review_interval_days, p.dead_credential_grace_days,
            p.dormant_after_days) == (7, 90, 7, 45)
    assert p.purposes_allowing("chat:write") == ["custom-identity", "direct-messages",
                                                 "nhictl-notify", "notifications"]


def test_config_tables_override_and_merge(tmp_path: Path) -> None:
    cfg = tmp_path / "nhictl.toml"
    policy, warnings = build_policy(
        {"dormant_after_days": 30, "suppressions": "accepted.toml"},
        {"channel-selection": {"scopes": ["channels:read"], "transient": True},
         "digest": {"scopes": ["chat:write", "users:read"], "description": "weekly"}},
        path=cfg,
    )
    assert warnings == []
    assert policy.dormant_after_days == 30 and policy.review_interval_days == 90
    assert policy.suppressions_path == tmp_path / "accepted.toml"
    assert policy.purposes["channel-selection"].scopes == {"channels:read"}
    assert policy.purposes["digest"].scopes == {"chat:write", "users:read"}
    assert policy.purposes["sign-in"] == DEFAULT_PURPOSES["sign-in"]
    assert policy.origin == str(cfg)


def test_unknown_scope_is_a_warning_with_suggestion() -> None:
    policy, warnings = build_policy(None, {"notifications": {"scopes": ["chat:wirte"]}},
                                    path="nhictl.toml")
    assert policy.purposes["notifications"].scopes == {"chat:wirte"}
    (w,) = warnings
    assert "purposes.notifications.scopes" in w and "'chat:write'" in w


@pytest.mark.parametrize(("policy_t", "purposes_t", "key"), [
    ({"dormant_after_days": "45"}, None, "policy.dormant_after_days"),
    ({"review_interval_days": -1}, None, "policy.review_interval_days"),
    ({"max_validation_age_days": True}, None, "policy.max_validation_age_days"),
    ({"dormant_days": 4}, None, "policy.dormant_days"),
    ({"suppressions": 3}, None, "policy.suppressions"),
    (None, {"notifications": ["chat:write"]}, "purposes.notifications"),
    (None, {"notifications": {"scopes": "chat:write"}}, "purposes.notifications.scopes"),
    (None, {"notifications": {}}, "purposes.notifications.scopes"),
    (None, {"notifications": {"scopes": [], "transient": "yes"}},
     "purposes.notifications.transient"),
    (None, {"notifications": {"scopes": [], "scope": []}}, "purposes.notifications.scope"),
])
def test_malformed_names_file_and_key(policy_t: object, purposes_t: object, key: str) -> None:
    with pytest.raises(ConfigError) as err:
        build_policy(policy_t, purposes_t, path="conf/nhictl.toml")  # type: ignore[arg-type]
    assert str(err.value).startswith("conf/nhictl.toml: ")
    assert key in str(err.value)
    assert err.value.exit_code == 3


def test_policy_file(tmp_path: Path) -> None:
    f = tmp_path / "policy.toml"
    f.write_text('[policy]\nreview_interval_days = 30\n[purposes.alerts]\nscopes = ["chat:write"]'
                 "\n", encoding="utf-8")
    policy, _ = load_policy_file(f)
    assert policy.review_interval_days == 30 and "alerts" in policy.purposes
    f.write_text("[policy\n", encoding="utf-8")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_policy_file(f)
    f.write_text("[slack]\napi_url = 'x'\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"\[slack\]"):
        load_policy_file(f)
    with pytest.raises(ConfigError, match="not found"):
        load_policy_file(tmp_path / "missing.toml")
