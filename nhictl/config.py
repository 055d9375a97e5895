"""``nhictl.toml``: loading and validation.

Errors name the file and the key (exit 3). Secrets are only ever referenced by the name of an
environment variable (``api_key_env``, ``secret_key_env``, a ledger's ``token_env``); a
literal secret is refused.
The ``[policy]`` and ``[purposes]`` tables are handed raw to :mod:`nhictl.policy`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nhictl.errors import ConfigError
from nhictl.net import has_credentials
from nhictl.notifiers.config import NotifyTarget, parse_notify
from nhictl.tomlfile import array_of_tables, read_toml

DEFAULT_SLACK_API_URL = "https://slack.com/api/"
ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
SOURCE_KINDS = ("file", "slack-store", "workos", "nango")
# Keys whose presence means someone pasted a secret into the config.
LITERAL_SECRET_KEYS = (
    "api_key",
    "secret_key",
    "token",
    "access_token",
    "client_secret",
    "password",
    "secret",
)
SOURCE_KEYS: dict[str, set[str]] = {
    "file": {"path"},
    "slack-store": {"store", "installations_table_name", "bots_table_name"},
    "workos": {"api_key_env", "base_url"},
    "nango": {"secret_key_env", "base_url", "provider_config_key"},
}
COMMON_SOURCE_KEYS = {"name", "kind", "default_purpose", "tenant"}
LEDGER_KINDS = ("slack-audit", "slack-integration-logs", "slack-directory")
LEDGER_KEYS = {"name", "kind", "token_env", "base_url", "app_ids"}


def canonical_path(value: str, base: Path | None = None) -> str:
    """The real path a file or store location names (``~`` expanded, relative to ``base``,
    symlinks resolved): one identity however the path is spelled."""
    p = Path(value).expanduser()
    if not p.is_absolute() and base is not None:
        p = base / p
    return os.path.realpath(p)


def place_of(kind: str, options: dict[str, Any], base: Path | None = None) -> str:
    """Where a source reads, as one canonical string: ``file:/real/path``,
    ``slack-store:sqlite:/real/path`` (or ``dir:``, or ``sqlalchemy:URL``), or a broker
    account (kind, base URL, key variable, provider config key)."""
    if kind == "file":
        return "file:" + canonical_path(str(options["path"]), base)
    if kind == "slack-store":
        store = str(options["store"]).strip().removeprefix("slack-store:")
        scheme, sep, rest = store.partition(":")
        if sep and scheme in ("sqlite", "dir") and rest.strip():
            place = f"slack-store:{scheme}:{canonical_path(rest.strip(), base)}"
        else:
            place = f"slack-store:{store}"
        # Other options (custom table names) select a different store in the same database.
        extras = sorted((k, str(v)) for k, v in options.items() if k != "store")
        return place + ("#" + ",".join(f"{k}={v}" for k, v in extras) if extras else "")
    defaults = {"workos": "https://api.workos.com", "nango": "https://api.nango.dev"}
    url = str(options.get("base_url") or defaults.get(kind, "")).rstrip("/").lower()
    env = options.get("api_key_env") or options.get("secret_key_env") or ""
    return f"{kind}:{url}#{env}#{options.get('provider_config_key') or ''}"


@dataclass(frozen=True)
class SourceConfig:
    name: str
    kind: str
    options: dict[str, Any]
    default_purpose: list[str] = field(default_factory=list)
    tenant: str | None = None
    index: int = 0

    @property
    def secret_env(self) -> str | None:
        value = self.options.get("api_key_env") or self.options.get("secret_key_env")
        return str(value) if value else None


@dataclass(frozen=True)
class LedgerConfig:
    """One ``[[ledgers]]`` entry: a Slack-side collector and the variable holding its token."""

    name: str
    kind: str  # slack-audit | slack-integration-logs | slack-directory
    token_env: str
    base_url: str | None = None
    app_ids: tuple[str, ...] = ()
    index: int = 0


@dataclass(frozen=True)
class Config:
    path: Path | None = None
    slack_api_url: str | None = None
    slack_concurrency: int | None = None
    slack_rate_limits: dict[str, float] = field(default_factory=dict)
    sources: tuple[SourceConfig, ...] = ()
    policy: dict[str, Any] = field(default_factory=dict)
    purposes: dict[str, Any] = field(default_factory=dict)
    inventory_password_env: str | None = None  # [inventory] password_env (PostgreSQL)
    ledgers: tuple[LedgerConfig, ...] = ()
    notify: tuple[NotifyTarget, ...] = ()

    def ledger(self, name: str) -> LedgerConfig | None:
        return next((c for c in self.ledgers if c.name == name), None)

    def source(self, name: str) -> SourceConfig | None:
        return next((s for s in self.sources if s.name == name), None)

    def place(self, cfg: SourceConfig) -> str:
        """Where a configured source reads (see :func:`place_of`)."""
        return place_of(cfg.kind, cfg.options, self.path.parent if self.path else None)

    def source_at(self, place: str) -> SourceConfig | None:
        """The configured source reading ``place``, if any."""
        return next((s for s in self.sources if self.place(s) == place), None)

    def relative(self, value: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        p = Path(value).expanduser()
        if not p.is_absolute() and self.path is not None:
            p = self.path.parent / p
        return p


# A URL's user:password@ would be sent and shown; the value is never echoed.
_EMBEDDED = "must not embed credentials (user:password@ in the URL)"
_EMBEDDED_HINT = "remove them; keys come only from environment variables (*_env keys)"


_fail = ConfigError.at


def load_config(explicit: str | None) -> Config:
    """Load ``--config``/``NHICTL_CONFIG``, else ``./nhictl.toml`` when present, else defaults."""
    if explicit:
        path = Path(explicit).expanduser()  # read_toml says if it is missing or no file
    else:
        path = Path("nhictl.toml")
        if not path.is_file():
            return Config()
    config = parse_config(read_toml(path, "config file"), path)
    from nhictl.untrusted import register_secret

    for source in config.sources:  # a server that echoes a broker key must not get it stored
        register_secret(secret_from_env(source.secret_env) if source.secret_env else None)
    for ledger in config.ledgers:  # and never the ledger collectors' tokens
        register_secret(secret_from_env(ledger.token_env))
    return config


def parse_config(data: dict[str, Any], path: Path) -> Config:
    known = {"slack", "sources", "policy", "purposes", "ledgers", "notify", "inventory"}
    for key in data:
        if key not in known:
            raise _fail(path, key, f"unknown section (expected one of {', '.join(sorted(known))})")
    slack = data.get("slack", {})
    if not isinstance(slack, dict):
        raise _fail(path, "slack", "must be a table")
    api_url = slack.get("api_url")
    if api_url is not None and (not isinstance(api_url, str) or "://" not in api_url):
        raise _fail(path, "slack.api_url", "must be a URL string")
    if api_url is not None and has_credentials(api_url):
        raise _fail(path, "slack.api_url", _EMBEDDED, hint=_EMBEDDED_HINT)
    concurrency = slack.get("concurrency")
    if concurrency is not None and (
        not isinstance(concurrency, int) or isinstance(concurrency, bool)
        or not 1 <= concurrency <= 256  # as --concurrency
    ):
        raise _fail(path, "slack.concurrency", "must be a whole number from 1 to 256")
    limits = slack.get("rate_limits", {})
    if not isinstance(limits, dict) or not all(
        isinstance(v, int | float) and not isinstance(v, bool) and v > 0 for v in limits.values()
    ):
        raise _fail(path, "slack.rate_limits", "must map method names to calls per minute")
    for key in slack:
        if key not in ("api_url", "concurrency", "rate_limits"):
            raise _fail(path, f"slack.{key}", "unknown key")
    policy = data.get("policy", {})
    if not isinstance(policy, dict):
        raise _fail(path, "policy", "must be a table")
    purposes = data.get("purposes", {})
    if not isinstance(purposes, dict):
        raise _fail(path, "purposes", "must be a table")
    return Config(
        path=path,
        inventory_password_env=_parse_inventory(data.get("inventory", {}), path),
        slack_api_url=api_url,
        slack_concurrency=concurrency,
        slack_rate_limits={str(k): float(v) for k, v in limits.items()},
        sources=_parse_sources(data.get("sources", []), path),
        policy=policy,
        purposes=purposes,
        ledgers=_parse_ledgers(data.get("ledgers", []), path),
        notify=parse_notify(data.get("notify", []), path),
    )


_APP_ID = re.compile(r"A[A-Z0-9]{1,31}")


def _parse_ledgers(raw: Any, path: Path) -> tuple[LedgerConfig, ...]:
    out: list[LedgerConfig] = []
    for i, where, entry in array_of_tables(raw, path, "ledgers"):
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _fail(path, f"{where}.name", "is required (a non-empty string)")
        where = f"{where} ({name})"
        if ":" in name or any(c.name == name for c in out):
            raise _fail(path, f"{where}.name", "must be unique and must not contain ':'")
        kind = entry.get("kind")
        if kind not in LEDGER_KINDS:
            raise _fail(path, f"{where}.kind", f"must be one of {', '.join(LEDGER_KINDS)}")
        for key, value in entry.items():
            if key in LITERAL_SECRET_KEYS and value:
                raise _fail(path, f"{where}.{key}",
                            "literal secrets are not allowed in the config file",
                            hint='export it in an environment variable and set token_env = '
                            '"VAR_NAME"')
            if key not in LEDGER_KEYS:
                raise _fail(path, f"{where}.{key}", f"unknown key for kind {kind!r} (expected "
                            f"{', '.join(sorted(LEDGER_KEYS))})")
        token_env = entry.get("token_env")
        if not isinstance(token_env, str) or not ENV_NAME.fullmatch(token_env):
            # Never echo the value: it may be a token pasted where its variable's name belongs.
            raise _fail(path, f"{where}.token_env", "is required: the NAME of an environment "
                        "variable (upper case, digits, _) holding the token, not the token",
                        hint='token_env = "SLACK_AUDIT_TOKEN" and export that variable')
        base_url = entry.get("base_url")
        if base_url is not None and (not isinstance(base_url, str) or "://" not in base_url):
            raise _fail(path, f"{where}.base_url", "must be a URL string")
        if base_url is not None and has_credentials(base_url):
            raise _fail(path, f"{where}.base_url", _EMBEDDED, hint=_EMBEDDED_HINT)
        app_ids = entry.get("app_ids", [])
        if isinstance(app_ids, str):
            app_ids = [a.strip() for a in app_ids.split(",") if a.strip()]
        if not isinstance(app_ids, list) or not all(
                isinstance(a, str) and _APP_ID.fullmatch(a) for a in app_ids):
            raise _fail(path, f"{where}.app_ids", "must be a list of Slack app ids "
                        "(A followed by upper-case letters and digits)")
        if kind == "slack-integration-logs" and not app_ids:
            raise _fail(path, f"{where}.app_ids", "is required for kind "
                        "'slack-integration-logs' (the apps whose logs to read)")
        out.append(LedgerConfig(name=name, kind=kind, token_env=token_env, base_url=base_url,
                                app_ids=tuple(app_ids), index=i))
    return tuple(out)


def _parse_inventory(raw: Any, path: Path) -> str | None:
    """``[inventory] password_env = "VAR"``: the variable holding a PostgreSQL inventory's
    password (libpq's PGPASSWORD, ~/.pgpass and service files work without it)."""
    if not isinstance(raw, dict):
        raise _fail(path, "inventory", "must be a table")
    for key, value in raw.items():
        if key in LITERAL_SECRET_KEYS and value:
            raise _fail(path, f"inventory.{key}", "literal secrets are not allowed in the "
                        "config file", hint='export it in an environment variable and set '
                        'password_env = "VAR_NAME"')
        if key != "password_env":
            raise _fail(path, f"inventory.{key}", "unknown key (expected password_env)")
    env = raw.get("password_env")
    if env is not None and (not isinstance(env, str) or not ENV_NAME.fullmatch(env)):
        raise _fail(path, "inventory.password_env", "must be the NAME of an environment "
                    "variable (upper case, digits, _), not a password",
                    hint='password_env = "NHICTL_PG_PASSWORD" and export that variable')
    return env


def _parse_sources(raw: Any, path: Path) -> tuple[SourceConfig, ...]:
    out: list[SourceConfig] = []
    names: set[str] = set()
    places: dict[str, str] = {}
    for i, where, entry in array_of_tables(raw, path, "sources"):
        name = entry.get("name")
        if not isinstance(name, str) or not name.strip():
            raise _fail(path, f"{where}.name", "is required (a non-empty string)")
        where = f"{where} ({name})"
        if ":" in name:
            raise _fail(path, f"{where}.name", "must not contain ':' (reserved for specs)")
        if name in names:
            raise _fail(path, f"{where}.name", "duplicate source name")
        if name == "nhictl":
            raise _fail(path, f"{where}.name", "'nhictl' is reserved for the built-in source "
                        "of nhictl's own credentials", hint="choose another name")
        names.add(name)
        kind = entry.get("kind")
        if kind not in SOURCE_KINDS:
            raise _fail(path, f"{where}.kind", f"must be one of {', '.join(SOURCE_KINDS)}")
        for key, value in entry.items():
            if key in LITERAL_SECRET_KEYS and value:
                env_key = "secret_key_env" if kind == "nango" else "api_key_env"
                raise _fail(
                    path,
                    f"{where}.{key}",
                    "literal secrets are not allowed in the config file",
                    hint=f'export it in an environment variable and set {env_key} = "VAR_NAME"',
                )
            if key not in COMMON_SOURCE_KEYS | SOURCE_KEYS[kind]:
                raise _fail(path, f"{where}.{key}", f"unknown key for kind {kind!r}")
            if key != "default_purpose" and not isinstance(value, str):
                raise _fail(path, f"{where}.{key}", "must be a string")
            if key == "base_url" and has_credentials(value):
                raise _fail(path, f"{where}.{key}", _EMBEDDED, hint=_EMBEDDED_HINT)
        for required in {"file": "path", "slack-store": "store", "workos": "api_key_env",
                         "nango": "secret_key_env"}[kind], :
            if not entry.get(required):
                raise _fail(path, f"{where}.{required}", f"is required for kind {kind!r}")
        purpose = entry.get("default_purpose", [])
        if isinstance(purpose, str):
            purpose = [p.strip() for p in purpose.split(",") if p.strip()]
        if not isinstance(purpose, list) or not all(isinstance(p, str) for p in purpose):
            raise _fail(path, f"{where}.default_purpose", "must be a string or list of strings")
        env_key = "api_key_env" if kind == "workos" else "secret_key_env"
        env_name = entry.get(env_key)
        if env_name is not None and not ENV_NAME.fullmatch(str(env_name)):
            # Catches a key pasted where its variable's name belongs (never echo the value).
            raise _fail(path, f"{where}.{env_key}",
                        "must be the NAME of an environment variable (upper case, digits, _), "
                        "not a key", hint=f'{env_key} = "WORKOS_API_KEY" and export that '
                        "variable" if kind == "workos" else f'{env_key} = "NANGO_SECRET_KEY" '
                        "and export that variable")
        options = {k: v for k, v in entry.items() if k not in COMMON_SOURCE_KEYS}
        place = place_of(kind, options, path.parent)
        if place in places:
            # One place read twice gives every connection two bindings (and false
            # token_shared findings): the config must say which source it is.
            raise _fail(path, f"{where}", f"reads the same place as source {places[place]!r} "
                        f"({place.split('#')[0]})",
                        hint=f"keep one of {places[place]!r} and {name!r}")
        places[place] = name
        out.append(
            SourceConfig(
                name=name,
                kind=kind,
                options=options,
                default_purpose=purpose,
                tenant=entry.get("tenant"),
                index=i,
            )
        )
    return tuple(out)


def secret_from_env(var: str) -> str | None:
    value = os.environ.get(var)
    return value if value else None
