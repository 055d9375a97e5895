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
                  "refresh_token": null}],
      "latency_ms": 0,
      "faults": [{"method": "auth.test", "token": "xoxp-...", "kind": "500_once"}],
      "workos": {"api_key": "sk_test_...", "users": [...]},
      "nango": {"secret_key": "...", "connections": [...]}
    }
"""

from __future__ import annotations

import json
import threading
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
        )

    @classmethod
    def load(cls, path: str | Path) -> World:
        return cls.from_dict(json.loads(Path(path).read_text(encoding="utf-8")))

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
