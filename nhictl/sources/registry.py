"""Build sources from command-line specs and from ``[[sources]]`` in the config.

Specs: ``file:PATH``, ``slack-store:sqlite:PATH``, ``slack-store:sqlalchemy:URL``,
``slack-store:dir:PATH``, or the name of a configured source. A spec source is named by the
spec as given (that name is part of every binding id it yields); ``source_spec`` records an
absolute form so later commands (revoke) can reopen it from any directory.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nhictl.config import Config, SourceConfig
from nhictl.errors import ConfigError, UsageError
from nhictl.net import HttpPolicy, check_credentialed_url, has_password
from nhictl.secret import Secret, mask_tokens
from nhictl.sources.base import Source


def _abs_store(store: str) -> str:
    scheme, _, rest = store.partition(":")
    if scheme in ("sqlite", "dir") and rest:
        return f"{scheme}:{os.path.abspath(os.path.expanduser(rest))}"
    return store


def from_spec(spec: str) -> tuple[Source, str]:
    kind, sep, rest = spec.partition(":")
    if kind in ("file", "slack-store") and rest:
        # `file:./a.json` and `file:a.json` are one source: its name is part of every id.
        scheme, colon, location = rest.partition(":")
        if kind == "file":
            rest = os.path.normpath(rest)
        elif colon and scheme in ("sqlite", "dir"):
            rest = f"{scheme}:{os.path.normpath(location)}"
        spec = f"{kind}:{rest}"
    if not sep or not rest:
        raise UsageError(f"source {spec!r}: expected KIND:LOCATION or a configured source name")
    if kind == "file":
        from nhictl.sources.export_file import ExportFileSource

        absolute = "file:" + os.path.abspath(os.path.expanduser(rest))
        return ExportFileSource(spec, Path(rest).expanduser()), absolute
    if kind == "slack-store":
        from nhictl.sources.slack_store import SlackStoreSource

        if has_password(rest):
            # A spec names its source: it is recorded in every binding id and run.
            raise UsageError(
                f"source {mask_tokens(spec)}: the URL embeds a password, which would be "
                "recorded with every binding", hint="configure the store as a [[sources]] entry "
                "in nhictl.toml (its name is recorded, not the URL), or use a URL without a "
                "password (e.g. PGPASSFILE)")
        absolute = "slack-store:" + _abs_store(rest)
        return SlackStoreSource(spec, rest, spec=absolute), absolute
    raise UsageError(
        f"source {spec!r}: unknown kind {kind!r}",
        hint="use file:PATH, slack-store:sqlite:PATH|sqlalchemy:URL|dir:PATH, or a source name",
    )


def _secret(cfg: SourceConfig, config: Config) -> tuple[Secret | None, str]:
    var = cfg.secret_env or ""
    value = os.environ.get(var) if var else None
    return (Secret(value) if value else None), var


def from_config(cfg: SourceConfig, config: Config, http: HttpPolicy | None = None) -> Source:
    """The configured source; brokers get the run's network policy (``http``)."""
    opts = cfg.options
    if cfg.kind == "file":
        from nhictl.sources.export_file import ExportFileSource

        return ExportFileSource(cfg.name, config.relative(str(opts["path"])), tenant=cfg.tenant,
                                default_purpose=cfg.default_purpose)
    if cfg.kind == "slack-store":
        from nhictl.sources.slack_store import SlackStoreSource

        store = str(opts["store"])
        scheme, _, rest = store.partition(":")
        if scheme in ("sqlite", "dir") and rest:
            store = f"{scheme}:{config.relative(rest)}"
        return SlackStoreSource(cfg.name, store, tenant=cfg.tenant,
                                default_purpose=cfg.default_purpose)
    http = http or HttpPolicy()
    default_url = "https://api.workos.com" if cfg.kind == "workos" else "https://api.nango.dev"
    base_url = str(opts.get("base_url") or default_url)
    where = f"{config.path or 'config'}: sources[{cfg.index}] ({cfg.name}).base_url"
    check_credentialed_url(base_url, where=where, allow_insecure_http=http.allow_insecure_http)
    secret, var = _secret(cfg, config)
    if secret is None:
        raise ConfigError(
            f"source {cfg.name!r}: environment variable {var} is not set",
            hint=f"export {var}=... (the {cfg.kind} key); `nhictl sources list` shows status",
        )
    if cfg.kind == "workos":
        from nhictl.sources.workos import WorkOSSource

        return WorkOSSource(
            cfg.name,
            base_url=base_url,
            api_key=secret,
            api_key_env=var,
            default_purpose=cfg.default_purpose,
            tenant=cfg.tenant,
            policy=http,
        )
    if cfg.kind == "nango":
        from nhictl.sources.nango import NangoSource

        return NangoSource(
            cfg.name,
            base_url=base_url,
            secret_key=secret,
            secret_key_env=var,
            provider_config_key=str(opts.get("provider_config_key") or "slack"),
            default_purpose=cfg.default_purpose,
            tenant=cfg.tenant,
            policy=http,
        )
    raise ConfigError(f"source {cfg.name!r}: unknown kind {cfg.kind!r}")


def resolve(
    specs: Sequence[str], config: Config, http: HttpPolicy | None = None
) -> list[tuple[Source, str | None]]:
    """Sources for ``reconcile --source ...``; every configured source when none is given."""
    if not specs:
        if not config.sources:
            raise UsageError(
                "no sources: pass --source file:PATH (or another spec) or configure "
                "[[sources]] in nhictl.toml"
            )
        return [(from_config(cfg, config, http), cfg.name) for cfg in config.sources]
    out: list[tuple[Source, str | None]] = []
    for spec in specs:
        cfg = config.source(spec)
        if cfg is not None:
            out.append((from_config(cfg, config, http), cfg.name))
        elif ":" in spec:
            out.append(from_spec(spec))
        else:
            known = ", ".join(s.name for s in config.sources) or "none configured"
            hint = f"did you mean file:{spec}?" if os.path.exists(spec) else (
                "a source is file:PATH, slack-store:sqlite:PATH|sqlalchemy:URL|dir:PATH, "
                "or the name of a [[sources]] entry in nhictl.toml")
            raise UsageError(f"unknown source {spec!r} (configured: {known})", hint=hint)
    return out


def reopen(
    source_name: str, source_spec: str | None, config: Config, http: HttpPolicy | None = None
) -> Source:
    """The source a stored binding came from, for revoke: by config name or stored spec."""
    cfg = config.source(source_name)
    if cfg is not None:
        return from_config(cfg, config, http)
    spec = source_spec if source_spec and source_spec != source_name else source_name
    if ":" not in spec:
        raise UsageError(f"source {source_name!r} is no longer configured")
    source, _ = from_spec(spec)
    source.name = source_name  # keep the binding's source name (its id depends on it)
    return source
