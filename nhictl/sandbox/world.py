"""The token world shared by the sandbox Slack and the sandbox brokers.

A scenario (JSON) describes workspaces, users, channels and tokens; the Slack fake answers
from it, and the broker fakes hand out tokens that live in it, so a broker-issued token
validates against the Slack fake. All state changes (a revoke, a refresh) happen here under
one lock, so every server sees them.

Scenario shape (every key optional except ``tokens``)::

    {
      "teams": [{"id": "T1", "name": "Acme", "domain": "acme", "enterprise_id": null,
                 "rate_limits": {"auth.test": 600}}],       # calls per minute, per method
      "users": [{"id": "U1", "team_id": "T1", "name": "grace", "deleted": false,
                 "email": "grace@example.com", "is_bot": false}],
      "channels": [{"id": "C1", "team_id": "T1", "name": "alerts", "is_private": false}],
      "tokens": [{"token": "xoxp-...", "team_id": "T1", "user_id": "U1", "kind": "user",
                  "scopes": ["chat:write"], "state": "active",        # active|revoked|expired|
                  "bot_id": null, "expires_in": null,                 #  invalid|inactive
                  "refresh_token": null,
                  "dead_when_user_deleted": true}],   # false (lab knob, not Slack): a
                            # deleted user's user token still answers, users.info deleted: true
      # Dead tokens answer as Slack does (scenario.SlackBehaviour._dead_code): a deleted user
      # or team -> token_revoked for user tokens, account_inactive for bot tokens (whose user
      # is the bot user: an installer's deletion leaves a bot token working).
      # A team may carry "deleted": true.
      "latency_ms": 0,
      "method_latency_ms": {"users.info": 20},                # added to latency_ms
      "rate_limits": {"auth.test": 600},                      # default per team, per method:
                                        # calls/min, or {"per_minute": 120, "burst": 10}
      "retry_after": null,              # fixed Retry-After header (tests: 0 or 1)
      "slow_s": 5,                      # how long a "slow" fault sleeps
      "oauth_clients": {"123.456": "secret"},   # client_id -> secret for oauth.v2.access
      "oauth_codes": {"code-1": {"bot_token": "xoxb-...", "user_token": "xoxp-..." | null,
                                 "user_id": "U1", "is_enterprise_install": false}},
                 # authorization codes oauth.v2.access exchanges (once) for tokens above
      "faults": [{"method": "auth.test", "token": "xoxp-...", "kind": "500_once"}],
                 # kinds: 500_once 503_html 404_html close fatal_error slow 429 error
                 # ("error": CODE plus extra fields) raw ("body": verbatim JSON text,
                 # "status", "headers": a hostile reply); optional
                 # "team_id" instead of "token", "times": N (default 1 for 500_once)
      "audit_log": [{"id": "...", "date_create": 1700000000, "action": "app_installed",
                     "actor": {...}, "entity": {...}, "context": {...}, "details": {...}}],
                 # Enterprise Grid audit log entries as GET /audit/v1/logs returns them
                 # (shape: slack_sdk/audit_logs/v1/logs.py), served newest first to a
                 # token with auditlogs:read; faults on method "audit/v1/logs"
      "integration_logs": {"T1": [{"app_id": "A1", "user_id": "U1", "date": "1700000000",
                                   "change_type": "added", "scope": "chat:write"}]},
                 # team.integrationLogs lines per workspace, for an admin-scoped token
      "workos": {"api_key": "sk_test_...", "users": [...]},     # broker fakes, below
      "nango": {"secret_key": "...", "connections": [...]}
    }

The ``workos`` and ``nango`` sections (served by ``nhictl.sandbox.brokers``; every token they
name must be in ``tokens``; faults in each: ``outage``, ``outage_after`` N calls,
``rate_limit_once`` Retry-After seconds)::

    "workos": {"api_key": "...", "users": [{"id": "user_01", "email": "...",
               "first_name": "...", "last_name": "...",
               "memberships": [{"organization_id": "org_1", "status": "active"}],
               "slack": null | [...] | {"id": "data_installation_01", "token": "xoxp-...",
                                "state": "connected|needs_reauthorization|disconnected",
                                "scopes": [...], "requested_scopes": [...],
                                "organization_id": null, "created_at": "...",
                                "expires_at": null, "token_error": null}}]}
    "nango": {"secret_key": "...", "ignore_paging": false,
              "connections": [{"id": 1, "connection_id": "c-1", "provider": "slack",
                               "provider_config_key": "slack", "created": "...",
                               "tags": {"end_user_id": "...", "end_user_email": "..."},
                               "end_user": null, "token": "xoxp-...|xoxb-...",
                               "bot_token": null, "state": "ok|refresh_failed|refresh_exhausted",
                               "expires_at": null, "refresh": false}]}
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class World:
    teams: dict[str, dict[str, Any]] = field(default_factory=dict)
    users: dict[str, dict[str, Any]] = field(default_factory=dict)
    channels: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    latency_ms: float = 0.0
    faults: list[dict[str, Any]] = field(default_factory=list)
    workos: dict[str, Any] = field(default_factory=dict)
    nango: dict[str, Any] = field(default_factory=dict)
    method_latency_ms: dict[str, float] = field(default_factory=dict)
    rate_limits: dict[str, Any] = field(default_factory=dict)
    retry_after: float | None = None
    slow_s: float = 5.0
    oauth_clients: dict[str, str] = field(default_factory=dict)
    oauth_codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    audit_log: list[dict[str, Any]] = field(default_factory=list)
    integration_logs: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    started_at: float = field(default_factory=time.time)
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> World:
        return cls(
            teams={t["id"]: dict(t) for t in data.get("teams", [])},
            users={u["id"]: dict(u) for u in data.get("users", [])},
            channels={c["id"]: dict(c) for c in data.get("channels", [])},
            tokens={t["token"]: dict(t) for t in data.get("tokens", [])},
            latency_ms=float(data.get("latency_ms", 0) or 0),
            faults=[dict(f) for f in data.get("faults", [])],
            workos=dict(data.get("workos", {})),
            nango=dict(data.get("nango", {})),
            method_latency_ms={
                str(k): float(v) for k, v in data.get("method_latency_ms", {}).items()
            },
            rate_limits=dict(data.get("rate_limits", {})),
            retry_after=(
                None if data.get("retry_after") is None else float(data["retry_after"])
            ),
            slow_s=float(data.get("slow_s", 5.0)),
            oauth_clients={str(k): str(v) for k, v in data.get("oauth_clients", {}).items()},
            oauth_codes={str(k): dict(v) for k, v in data.get("oauth_codes", {}).items()},
            audit_log=[dict(e) for e in data.get("audit_log", [])],
            integration_logs={str(k): [dict(x) for x in v]
                              for k, v in data.get("integration_logs", {}).items()},
        )

    @classmethod
    def load(cls, path: str | Path) -> World:
        """A scenario file; ValueError (or KeyError/TypeError) when it is not one."""
        from nhictl.fsutil import MAX_SCENARIO_BYTES, read_input_bytes
        from nhictl.jsonin import loads_strict

        # A regular file of bounded size (InputFileError otherwise); UTF-8 and strict JSON
        # (UnicodeDecodeError and JsonProblem are ValueErrors).
        raw = read_input_bytes(path, "scenario", MAX_SCENARIO_BYTES)
        data = loads_strict(raw.decode("utf-8"))
        if not isinstance(data, dict):
            raise ValueError("a scenario must be a JSON object")
        try:
            return cls.from_dict(data)
        except (AttributeError, OverflowError) as exc:  # a section of the wrong type/size
            raise ValueError(f"wrong shape: {exc}") from None

    def add_audit_entry(self, entry: dict[str, Any]) -> None:
        """Append an audit log entry (a plant, or an event happening while a test runs)."""
        with self.lock:
            self.audit_log.append(dict(entry))

    def add_integration_log(self, team_id: str, line: dict[str, Any]) -> None:
        with self.lock:
            self.integration_logs.setdefault(team_id, []).append(dict(line))

    def token(self, value: str) -> dict[str, Any] | None:
        with self.lock:
            return self.tokens.get(value)

    def add_token(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self.tokens[entry["token"]] = dict(entry)

    def set_token_state(self, value: str, state: str) -> None:
        with self.lock:
            if value in self.tokens:
                self.tokens[value]["state"] = state

    def token_by_refresh(self, refresh_token: str) -> dict[str, Any] | None:
        """The token entry whose (unspent) refresh token this is, if any."""
        with self.lock:
            for entry in self.tokens.values():
                if entry.get("refresh_token") == refresh_token:
                    return entry
            return None

    def expires_at(self, entry: dict[str, Any]) -> float | None:
        """Epoch seconds a rotating token expires at (``expires_at`` or start + ``expires_in``)."""
        if entry.get("expires_at") is not None:
            return float(entry["expires_at"])
        if entry.get("expires_in") is not None:
            return self.started_at + float(entry["expires_in"])
        return None
