"""Issue 10.5: two configured sources reading the same place are a config error."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from nhictl.config import parse_config
from nhictl.errors import ConfigError


def _sources(*entries: dict[str, Any]) -> dict[str, Any]:
    return {"sources": [dict(e, name=f"s{i}") for i, e in enumerate(entries)]}


@pytest.mark.parametrize("pair", [
    ({"kind": "file", "path": "x.json"}, {"kind": "file", "path": "sub/../x.json"}),
    ({"kind": "slack-store", "store": "sqlite:a.db"}, {"kind": "slack-store",
                                                       "store": "sqlite:./a.db"}),
    ({"kind": "slack-store", "store": "dir:store"}, {"kind": "slack-store",
                                                     "store": "dir:store/"}),
    ({"kind": "workos", "api_key_env": "K"},
     {"kind": "workos", "api_key_env": "K", "base_url": "https://api.workos.com/"}),
    ({"kind": "nango", "secret_key_env": "K"}, {"kind": "nango", "secret_key_env": "K"}),
])
def test_same_place_twice_is_refused_naming_both(tmp_path: Path,
                                                 pair: tuple[dict[str, Any], ...]) -> None:
    with pytest.raises(ConfigError) as err:
        parse_config(_sources(*pair), tmp_path / "nhictl.toml")
    assert "'s0'" in err.value.message and "s1" in err.value.message
    assert "same place" in err.value.message
    assert err.value.exit_code == 3


def test_absolute_and_relative_to_the_config_are_one_place(tmp_path: Path) -> None:
    (tmp_path / "cfg").mkdir()
    with pytest.raises(ConfigError, match="same place"):
        parse_config(_sources({"kind": "file", "path": "x.json"},
                              {"kind": "file", "path": str(tmp_path / "cfg" / "x.json")}),
                     tmp_path / "cfg" / "nhictl.toml")


@pytest.mark.parametrize("pair", [
    ({"kind": "file", "path": "x.json"}, {"kind": "file", "path": "y.json"}),
    ({"kind": "workos", "api_key_env": "K1"}, {"kind": "workos", "api_key_env": "K2"}),
    ({"kind": "nango", "secret_key_env": "K", "provider_config_key": "slack"},
     {"kind": "nango", "secret_key_env": "K", "provider_config_key": "slack-bot"}),
])
def test_different_places_are_accepted(tmp_path: Path, pair: tuple[dict[str, Any], ...]) -> None:
    config = parse_config(_sources(*pair), tmp_path / "nhictl.toml")
    assert len(config.sources) == 2
