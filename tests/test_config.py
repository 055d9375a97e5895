"""nhictl.toml: loading, validation, errors naming file and key."""

from __future__ import annotations

from pathlib import Path

import pytest

from nhictl.config import Config, load_config
from nhictl.errors import ConfigError

FULL = '''
[slack]
api_url = "http://127.0.0.1:9/api/"
concurrency = 4
rate_limits = { "auth.test" = 100 }

[[sources]]
name = "prod-pipes"
kind = "workos"
api_key_env = "WORKOS_API_KEY"
default_purpose = "notifications, channel-selection"

[[sources]]
name = "nango"
kind = "nango"
secret_key_env = "NANGO_SECRET_KEY"
base_url = "http://localhost:3003"
provider_config_key = "slack"

[[sources]]
name = "bolt-app"
kind = "slack-store"
store = "sqlite:/srv/app/installations.db"
tenant = "acme"

[[sources]]
name = "export"
kind = "file"
path = "exports/connections.json"
default_purpose = ["notifications"]

[policy]
max_validation_age_days = 7

[purposes.notifications]
scopes = ["chat:write"]
'''


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "nhictl.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_full_config(tmp_path: Path) -> None:
    cfg = load_config(str(write(tmp_path, FULL)))
    assert cfg.slack_api_url == "http://127.0.0.1:9/api/" and cfg.slack_concurrency == 4
    assert cfg.slack_rate_limits == {"auth.test": 100.0}
    assert [s.name for s in cfg.sources] == ["prod-pipes", "nango", "bolt-app", "export"]
    pipes = cfg.source("prod-pipes")
    assert pipes is not None and pipes.kind == "workos"
    assert pipes.default_purpose == ["notifications", "channel-selection"]
    assert pipes.secret_env == "WORKOS_API_KEY"
    nango = cfg.source("nango")
    assert nango is not None and nango.secret_env == "NANGO_SECRET_KEY"
    bolt = cfg.source("bolt-app")
    assert bolt is not None and bolt.tenant == "acme" and bolt.secret_env is None
    assert cfg.source("missing") is None
    assert cfg.policy == {"max_validation_age_days": 7}
    assert cfg.purposes["notifications"]["scopes"] == ["chat:write"]
    assert cfg.relative("exports/x.json") == tmp_path / "exports" / "x.json"
    assert cfg.relative("/abs/x.json") == Path("/abs/x.json")


def test_no_config_file_means_defaults(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    assert load_config(None) == Config()
    write(tmp_path, '[[sources]]\nname = "e"\nkind = "file"\npath = "e.json"\n')
    cfg = load_config(None)  # ./nhictl.toml when present
    assert [s.name for s in cfg.sources] == ["e"]


def test_explicit_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="config file not found") as err:
        load_config(str(tmp_path / "nope.toml"))
    assert err.value.exit_code == 3


@pytest.mark.parametrize("text,key", [
    ("[slack\n", "invalid TOML"),
    ("[unknown]\n", "unknown: unknown section"),
    ('slack = "x"\n', "slack: must be a table"),
    ('[slack]\napi_url = "not a url"\n', "slack.api_url"),
    ("[slack]\nconcurrency = 0\n", "slack.concurrency"),
    ("[slack]\nconcurrency = true\n", "slack.concurrency"),
    ('[slack]\nrate_limits = { "auth.test" = -1 }\n', "slack.rate_limits"),
    ("[slack]\nretries = 3\n", "slack.retries: unknown key"),
    ('policy = "x"\n', "policy: must be a table"),
    ('purposes = 3\n', "purposes: must be a table"),
    ('sources = "x"\n', "sources: must be an array"),
    ('[[sources]]\nkind = "file"\npath = "x"\n', "sources[0].name"),
    ('[[sources]]\nname = "a:b"\nkind = "file"\npath = "x"\n', "must not contain ':'"),
    ('[[sources]]\nname = "a"\nkind = "ftp"\n', "sources[0] (a).kind"),
    ('[[sources]]\nname = "a"\nkind = "file"\n', "sources[0] (a).path: is required"),
    ('[[sources]]\nname = "a"\nkind = "file"\npath = "x"\nstore = "y"\n',
     "sources[0] (a).store: unknown key"),
    ('[[sources]]\nname = "a"\nkind = "file"\npath = 3\n', "sources[0] (a).path: must be a str"),
    ('[[sources]]\nname = "a"\nkind = "file"\npath = "x"\ndefault_purpose = 3\n',
     "default_purpose"),
    ('[[sources]]\nname = "a"\nkind = "file"\npath = "x"\n'
     '[[sources]]\nname = "a"\nkind = "file"\npath = "y"\n', "duplicate source name"),
    ('[[sources]]\nname = "w"\nkind = "workos"\napi_key_env = "sk_live-abc.def"\n',
     "must be the NAME of an environment variable"),
])
def test_invalid_configs_name_file_and_key(tmp_path: Path, text: str, key: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert err.value.exit_code == 3
    assert str(err.value).startswith(f"{path}:")
    assert key in str(err.value)
    assert "\n" not in err.value.message


@pytest.mark.parametrize("key", ["api_key", "secret_key", "token", "client_secret", "password"])
def test_literal_secrets_are_refused_without_echoing_them(tmp_path: Path, key: str) -> None:
    secret = "sk_test_FAKE0123456789"
    path = write(tmp_path, f'[[sources]]\nname = "w"\nkind = "workos"\n'
                           f'api_key_env = "WORKOS_API_KEY"\n{key} = "{secret}"\n')
    with pytest.raises(ConfigError) as err:
        load_config(str(path))
    assert f"sources[0] (w).{key}" in str(err.value)
    assert secret not in str(err.value) and secret not in (err.value.hint or "")
    assert err.value.hint and "api_key_env" in err.value.hint


def test_non_utf8_config(tmp_path: Path) -> None:
    path = tmp_path / "nhictl.toml"
    path.write_bytes(b'[slack]\napi_url = "http://h\xe9/"\n')
    with pytest.raises(ConfigError, match="not valid UTF-8"):
        load_config(str(path))
