"""Build sources from command-line specs and from ``[[sources]]`` in the config.

Specs: ``file:PATH``, ``slack-store:sqlite:PATH``, ``slack-store:sqlalchemy:URL``,
``slack-store:dir:PATH``, or the name of a configured source.

One place, one source: a spec is identified by the place it reads (its real path, see
:func:`nhictl.config.place_of`), so ``file:x.json``, ``file:./x.json`` and ``file:/abs/x.json``
are one source. A new ad-hoc source is named by that place (``file:/real/path/x.json``), so
its binding ids do not depend on the working directory or the spelling. An inventory may
already hold bindings of the same place under a name an older nhictl derived from the
spelling: that recorded name is kept (:func:`recorded_names`), so binding ids already printed
in review packets and revoke commands stay valid; no migration renames them. A spec naming
the place of a configured source is that configured source.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nhictl.config import Config, SourceConfig, canonical_path, place_of
from nhictl.errors import ConfigError, UsageError
from nhictl.net import HttpPolicy, check_credentialed_url, has_password
from nhictl.secret import Secret, mask_tokens
from nhictl.sources.base import Source

SPEC_HINT = "use file:PATH, slack-store:sqlite:PATH|sqlalchemy:URL|dir:PATH, or a source name"


def place_of_spec(spec: str) -> str:
    """The canonical place a ``file:``/``slack-store:`` spec reads (relative to the cwd)."""
    kind, sep, rest = spec.partition(":")
    if not sep or not rest.strip():
        raise UsageError(f"source {spec!r}: expected KIND:LOCATION or a configured source name")
    if kind == "file":
        return "file:" + canonical_path(rest)
    if kind == "slack-store":
        if has_password(rest):
            # A spec names its source: it is recorded in every binding id and run.
            raise UsageError(
                f"source {mask_tokens(spec)}: the URL embeds a password, which would be "
                "recorded with every binding", hint="configure the store as a [[sources]] entry "
                "in nhictl.toml (its name is recorded, not the URL), or use a URL without a "
                "password (e.g. PGPASSFILE)")
        return place_of("slack-store", {"store": rest})
    raise UsageError(f"source {spec!r}: unknown kind {kind!r}", hint=SPEC_HINT)


def from_spec(spec: str) -> tuple[Source, str]:
    """A source for an ad-hoc spec, named by its place; also returns that place (recorded as
    the binding's ``source_spec``, so revoke can reopen it from any directory)."""
    place = place_of_spec(spec)
    rest = spec.partition(":")[2]  # as typed: errors name the file the way the operator did
    if place.startswith("file:"):
        from nhictl.sources.export_file import ExportFileSource

        return ExportFileSource(place, Path(rest).expanduser()), place
    from nhictl.sources.slack_store import SlackStoreSource

    return SlackStoreSource(place, rest, spec=place), place


def names_by_place(conn: Any) -> dict[str, list[str]]:
    """Place -> the ad-hoc source names an inventory holds for it, the one to keep first:
    most live bindings, then the oldest. More than one only where an older nhictl recorded
    one place under several spellings."""
    from sqlalchemy import case, func, select

    from nhictl.store.tables import BINDINGS

    live = func.sum(case((BINDINGS.c.status.notin_(["removed", "revoked"]), 1), else_=0))
    rows = conn.execute(
        select(BINDINGS.c.source, BINDINGS.c.source_spec, live,
               func.min(BINDINGS.c.first_seen_at))
        .where(BINDINGS.c.source.contains(":"))
        .group_by(BINDINGS.c.source, BINDINGS.c.source_spec))
    ranked: dict[str, dict[str, tuple[int, str, str]]] = {}
    for name, spec, n_live, first in rows:
        try:
            place = place_of_spec(spec if spec and ":" in spec else name)
        except UsageError:
            continue
        rank = (-int(n_live or 0), str(first or ""), name)
        names = ranked.setdefault(place, {})
        if name not in names or rank < names[name]:
            names[name] = rank
    return {place: [r[2] for r in sorted(names.values())] for place, names in ranked.items()}


def recorded_names(conn: Any) -> dict[str, str]:
    """Place -> the name an inventory already uses for the ad-hoc source reading it (the
    others, if any, are left to go stale and be retired with ``nhictl sources forget``)."""
    return {place: names[0] for place, names in names_by_place(conn).items()}


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
                                default_purpose=cfg.default_purpose,
                                installations_table_name=opts.get("installations_table_name"),
                                bots_table_name=opts.get("bots_table_name"))
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


def keep_recorded_names(inv: Any, sources: Sequence[tuple[Source, str | None]]) -> None:
    """Rename ad-hoc sources to the names ``inv`` already records for their places."""
    if not any(spec and spec == source.name for source, spec in sources):
        return
    with inv.engine.connect() as conn:
        recorded = recorded_names(conn)
    for source, spec in sources:
        if spec and spec == source.name and spec in recorded:
            source.name = recorded[spec]


def resolve(
    specs: Sequence[str], config: Config, http: HttpPolicy | None = None
) -> list[tuple[Source, str | None]]:
    """Sources for ``reconcile --source ...``; every configured source when none is given.
    A place given twice (under two spellings, or as a spec and a configured name) is read
    once. Brokers get the run's network policy (``http``)."""
    from nhictl.sources.own_credentials import SOURCE_NAME, own_source

    own = own_source(config)  # nhictl's own tokens ([[ledgers]]) are bindings too
    if not specs:
        if not config.sources and own is None:
            raise UsageError(
                "no sources: pass --source file:PATH (or another spec) or configure "
                "[[sources]] in nhictl.toml"
            )
        configured: list[tuple[Source, str | None]] = [
            (from_config(cfg, config, http), cfg.name) for cfg in config.sources]
        return configured + ([(own, SOURCE_NAME)] if own is not None else [])
    out: list[tuple[Source, str | None]] = []
    places: set[str] = set()
    for spec in specs:
        if spec == SOURCE_NAME and own is not None and config.source(spec) is None:
            if SOURCE_NAME not in places:
                places.add(SOURCE_NAME)
                out.append((own, SOURCE_NAME))
            continue
        cfg = config.source(spec)
        if cfg is None and ":" in spec:
            place = place_of_spec(spec)
            cfg = config.source_at(place)
        elif cfg is not None:
            place = config.place(cfg)
        else:
            names = ", ".join(s.name for s in config.sources)
            known = f"configured: {names}" if names else "no source is configured"
            hint = f"did you mean file:{spec}?" if os.path.exists(spec) else (
                "a source is file:PATH, slack-store:sqlite:PATH|sqlalchemy:URL|dir:PATH, "
                "or the name of a [[sources]] entry in nhictl.toml")
            raise UsageError(f"unknown source {spec!r} ({known})", hint=hint)
        if place in places:
            continue
        places.add(place)
        if cfg is not None:
            out.append((from_config(cfg, config, http), cfg.name))
            continue
        out.append(from_spec(spec))
    return out


def reopen(
    source_name: str, source_spec: str | None, config: Config, http: HttpPolicy | None = None
) -> Source:
    """The source a stored binding came from, for revoke: by config name or stored spec."""
    cfg = config.source(source_name)
    if cfg is not None:
        return from_config(cfg, config, http)
    from nhictl.sources.own_credentials import SOURCE_NAME, own_source

    own = own_source(config) if source_name == SOURCE_NAME else None
    if own is not None:
        return own
    spec = source_spec if source_spec and source_spec != source_name else source_name
    if ":" not in spec:
        raise UsageError(f"source {source_name!r} is no longer configured")
    source, _ = from_spec(spec)
    source.name = source_name  # keep the binding's source name (its id depends on it)
    return source
