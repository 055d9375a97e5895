"""Collectors from ``[[ledgers]]``: each token read from its environment variable (never the
config), each URL checked like every other credentialed URL."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from nhictl.config import DEFAULT_SLACK_API_URL, Config, LedgerConfig
from nhictl.errors import ConfigError, UsageError
from nhictl.ledgers.audit import (
    AUDIT_LIMIT,
    AUDIT_METHOD,
    DEFAULT_AUDIT_URL,
    AuditLogCollector,
    RateLimitRetry,
    make_client,
)
from nhictl.ledgers.base import LedgerCollector
from nhictl.ledgers.directory import DirectoryCollector
from nhictl.ledgers.integration_logs import IntegrationLogCollector
from nhictl.net import HttpPolicy, check_credentialed_url
from nhictl.secret import Secret

# Slack tiers per method (calls per minute): team.integrationLogs Tier 2, users.info Tier 4.
RATE_LIMITS = {"team.integrationLogs": 20.0, "users.info": 100.0, "auth.test": 600.0}


def audit_url(cfg: LedgerConfig, api_url: str) -> str:
    """``base_url``, else api.slack.com's; against another Web API URL (a sandbox, a proxy)
    the same host's ``/audit/v1/``."""
    if cfg.base_url:
        return cfg.base_url if cfg.base_url.endswith("/") else cfg.base_url + "/"
    if api_url.rstrip("/") == DEFAULT_SLACK_API_URL.rstrip("/"):
        return DEFAULT_AUDIT_URL
    parts = urlsplit(api_url)
    return f"{parts.scheme}://{parts.netloc}/audit/v1/"


def selected(config: Config, names: Sequence[str]) -> list[LedgerConfig]:
    if not config.ledgers:
        raise UsageError("no ledgers configured",
                         hint="add a [[ledgers]] entry (name, kind, token_env) to nhictl.toml")
    if not names:
        return list(config.ledgers)
    out = []
    for name in dict.fromkeys(names):
        cfg = config.ledger(name)
        if cfg is None:
            known = ", ".join(c.name for c in config.ledgers)
            raise UsageError(f"unknown ledger {name!r} (configured: {known})")
        out.append(cfg)
    return out


def token_of(cfg: LedgerConfig) -> Secret | None:
    value = os.environ.get(cfg.token_env)
    return Secret(value) if value else None


def build(
    cfg: LedgerConfig, config: Config, *, api_url: str, http: HttpPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> LedgerCollector:
    token = token_of(cfg)
    if token is None:
        raise ConfigError(f"ledger {cfg.name!r}: environment variable {cfg.token_env} is not set",
                          hint=f"export {cfg.token_env}=... (the {cfg.kind} token)")
    where = f"{config.path or 'config'}: ledgers[{cfg.index}] ({cfg.name}).base_url"
    if cfg.kind == "slack-audit":
        url = audit_url(cfg, api_url)
        check_credentialed_url(url, where=where, allow_insecure_http=http.allow_insecure_http)
        retry = RateLimitRetry(sleep)
        client = make_client(token.reveal(), url, retry, http.limits.request_timeout_s)
        from nhictl.slack.ratelimit import RateLimiter

        pace = RateLimiter({AUDIT_METHOD: AUDIT_LIMIT}, sleep=sleep)
        return AuditLogCollector(cfg.name, client, app_ids=cfg.app_ids, retry=retry,
                                 limiter=pace)
    from nhictl.slack.client import SlackClient

    url = cfg.base_url or api_url
    check_credentialed_url(url, where=where, allow_insecure_http=http.allow_insecure_http)
    web = SlackClient(url, rate_limits=RATE_LIMITS, sleep=sleep, limits=http.limits,
                      allow_insecure_http=http.allow_insecure_http)
    if cfg.kind == "slack-integration-logs":
        return IntegrationLogCollector(cfg.name, web, token, app_ids=cfg.app_ids)
    return DirectoryCollector(cfg.name, web, token)


def build_all(
    config: Config, names: Sequence[str], *, api_url: str, http: HttpPolicy,
    sleep: Callable[[float], None] = time.sleep,
) -> list[LedgerCollector]:
    return [build(cfg, config, api_url=api_url, http=http, sleep=sleep)
            for cfg in selected(config, names)]
