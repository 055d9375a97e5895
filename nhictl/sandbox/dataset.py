"""A realistic generated dataset: an app's export of Slack connections plus the matching
sandbox world (workspaces, users, tokens), with planted problems.

Structure is deterministic (seeded); tokens are fresh random fakes on every call, so no
token is ever committed. ``fixtures/sample-export.json`` is this export with tokens removed.

Planted problems (connection id -> what is wrong), see ``PLANTED``.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass, field
from typing import Any

TENANTS = ("acme", "globex", "initech")
WORKSPACES = (
    ("T0ACME001", "Acme Corp", "acme", None),
    ("T0ACME002", "Acme Labs", "acme-labs", None),
    ("T0GLOBX01", "Globex", "globex", "E0GLOBEX1"),
    ("T0INITC01", "Initech", "initech", None),
    ("T0INITC02", "Initech Support", "initech-support", None),
)
TENANT_WORKSPACES = {
    "acme": ("T0ACME001", "T0ACME002"),
    "globex": ("T0GLOBX01",),
    "initech": ("T0INITC01", "T0INITC02"),
}
FIRST = ("grace", "alan", "ada", "linus", "barbara", "ken", "margaret", "dennis", "radia",
         "edsger", "frances", "john", "katherine", "tim", "hedy", "claude", "donald", "sophie",
         "guido", "anita", "bjarne", "shafi", "whitfield", "leslie")
LAST = ("hopper", "turing", "lovelace", "torvalds", "liskov", "thompson", "hamilton",
        "ritchie", "perlman", "dijkstra", "allen", "mccarthy", "johnson", "berners-lee",
        "lamarr", "shannon", "knuth", "wilson", "rossum", "borg", "stroustrup", "goldwasser",
        "diffie", "lamport")

NOTIFY = ["chat:write"]
PICK = ["channels:read"]

# connection id -> the problem planted there (and the rule that should find it).
PLANTED: dict[str, str] = {
    "conn-0003": "revoked token (needs_reconnect; dead_token_retained after grace)",
    "conn-0007": "expired rotating token (expired)",
    # Slack answers a deleted user's user token token_revoked, which is ambiguous (revoked?
    # uninstalled?): no owner_offboarded from that alone. The demo's org audit log says the
    # user was deactivated (demo_world.add_audit_log): positive evidence, token dead or not.
    "conn-0011": "Slack user deactivated per the audit log, token already dead "
                 "(owner_offboarded)",
    "conn-0015": "app owner deactivated (owner_offboarded)",
    "conn-0019": "scope expansion between runs (scope_expanded)",
    "conn-0023": "identity mismatch: token acts for another user (identity_mismatch)",
    "conn-0027": "shares its token with conn-0028 (token_shared)",
    "conn-0028": "shares its token with conn-0027 (token_shared)",
    "conn-0031": "excess scopes for notifications (scope_exceeds_purpose)",
    "conn-0035": "flaky: Slack answers 500 once (inconclusive on first try, then retried)",
    "conn-0039": "channel picked but channels:read kept (discovery_scope_retained)",
    "conn-0043": "no owner recorded (owner_missing)",
    "conn-0047": "undeclared purpose (purpose_undeclared)",
    "conn-0051": "legacy scope granted (legacy_scope)",
    "conn-0055": "admin scope granted (privileged_scope)",
    "conn-0059": "token rotation off: never expires (token_never_expires)",
}
RATE_LIMITED_WORKSPACE = "T0INITC02"  # tight auth.test limit: paced, 429s are the exception
SCOPE_EXPANSION = ("conn-0019", "channels:history")


def fake_token(kind: str = "user", rotating: bool = True) -> str:
    """An obviously fake token of the right shape for prefix checks (never a real one)."""
    body = "xoxp" if kind == "user" else "xoxb"
    tail = "FAKE" + secrets.token_hex(12)
    return f"xoxe.{body}-1-{tail}" if rotating else f"{body}-FAKE-{secrets.token_hex(12)}"


@dataclass
class Dataset:
    connections: list[dict[str, Any]]
    scenario: dict[str, Any]
    planted: dict[str, str] = field(default_factory=lambda: dict(PLANTED))

    def export(self, with_tokens: bool = True) -> list[dict[str, Any]]:
        if with_tokens:
            return [dict(c) for c in self.connections]
        return [{k: v for k, v in c.items() if k not in ("access_token", "refresh_token")}
                for c in self.connections]

    def expand_scopes(self) -> None:
        """The planted scope expansion: the user re-authorised with a wider grant."""
        conn_id, scope = SCOPE_EXPANSION
        token = next(c["access_token"] for c in self.connections if c["id"] == conn_id)
        for entry in self.scenario["tokens"]:
            if entry["token"] == token and scope not in entry["scopes"]:
                entry["scopes"] = [*entry["scopes"], scope]


def generate(count: int = 64, seed: int = 7, now: str = "2026-11-29T12:00:00Z") -> Dataset:
    rng = random.Random(seed)
    teams: list[dict[str, Any]] = [
        {"id": t, "name": n, "domain": d, "enterprise_id": e} for t, n, d, e in WORKSPACES
    ]
    for team in teams:
        team["rate_limits"] = {"auth.test": (
            {"per_minute": 120, "burst": 4} if team["id"] == RATE_LIMITED_WORKSPACE else 600)}
    users: list[dict[str, Any]] = []
    tokens: list[dict[str, Any]] = []
    connections: list[dict[str, Any]] = []
    faults: list[dict[str, Any]] = []
    for i in range(1, count + 1):
        cid = f"conn-{i:04d}"
        tenant = TENANTS[i % 3]
        team_id = rng.choice(TENANT_WORKSPACES[tenant])
        first, last = FIRST[i % len(FIRST)], LAST[(i * 7) % len(LAST)]
        slack_user = f"U{i:08d}"
        users.append({"id": slack_user, "team_id": team_id, "name": first,
                      "real_name": f"{first.title()} {last.title()}", "deleted": False,
                      "email": f"{first}.{last}@{tenant}.example"})
        purpose = ["notifications"] if i % 4 else ["notifications", "channel-selection"]
        scopes = list(NOTIFY) + (PICK if "channel-selection" in purpose else [])
        channel = f"C{i:08d}" if i % 2 else None
        if "channel-selection" in purpose:
            channel = None  # still choosing: channels:read is legitimately held
        record: dict[str, Any] = {
            "id": cid, "provider": "slack", "tenant": tenant,
            "owner_id": f"usr_{tenant}_{i:04d}", "owner_email": f"{first}.{last}@{tenant}.example",
            "owner_name": f"{first.title()} {last.title()}", "owner_status": "active",
            "purpose": ",".join(purpose), "team_id": team_id, "slack_user_id": slack_user,
            "channel_id": channel,
            "created_at": f"2026-{(i % 9) + 1:02d}-{(i % 27) + 1:02d}T09:00:00Z",
            "expires_at": "2026-11-30T00:00:00Z",
        }
        state = "active"
        rotating = True
        token_scopes = list(scopes)
        token_user = slack_user
        if cid == "conn-0003":
            state = "revoked"
        elif cid == "conn-0007":
            state = "expired"
            record["expires_at"] = "2026-11-28T21:00:00Z"
        elif cid == "conn-0011":
            users[-1]["deleted"] = True
            token_scopes.append("users:read")
            record["purpose"] = "notifications,sign-in"
        elif cid == "conn-0015":
            record["owner_status"] = "deactivated"
        elif cid == "conn-0023":
            token_user = f"U{i + 500:08d}"
            users.append({"id": token_user, "team_id": team_id, "name": "mallory",
                          "deleted": False, "email": f"mallory@{tenant}.example"})
        elif cid == "conn-0031":
            token_scopes += ["channels:history", "users:read.email", "files:read"]
        elif cid == "conn-0035":
            pass
        elif cid == "conn-0039":
            record["purpose"] = "notifications,channel-selection"
            record["channel_id"] = f"C{i:08d}"
            token_scopes = ["chat:write", "channels:read"]
        elif cid == "conn-0043":
            record["owner_id"] = None
            record["owner_email"] = None
            record["owner_name"] = None
        elif cid == "conn-0047":
            record["purpose"] = None
        elif cid == "conn-0051":
            token_scopes += ["chat:write:user"]
            record["purpose"] = "notifications"
        elif cid == "conn-0055":
            token_scopes += ["admin"]
        elif cid == "conn-0059":
            rotating = False
            record["expires_at"] = None
        record["scopes"] = " ".join(token_scopes) if cid not in ("conn-0019",) else "chat:write"
        token = fake_token("user", rotating=rotating)
        if cid == "conn-0028":
            prev = connections[-1]
            token = prev["access_token"]
            team_id = prev["team_id"]
            record["tenant"] = prev["tenant"]
            record["team_id"] = team_id
            record["slack_user_id"] = prev["slack_user_id"]
            token_user = prev["slack_user_id"]
        else:
            tokens.append({"token": token, "team_id": team_id, "user_id": token_user,
                           "kind": "user", "scopes": sorted(set(token_scopes)), "state": state,
                           "expires_in": 43200 if rotating else None})
        if cid == "conn-0035":
            faults.append({"method": "auth.test", "token": token, "kind": "500_once"})
        record["access_token"] = token
        if rotating:
            record["refresh_token"] = "xoxe-1-FAKE" + secrets.token_hex(12)
        connections.append({k: v for k, v in record.items() if v is not None})
    scenario = {"teams": teams, "users": users, "channels": [], "tokens": tokens,
                "latency_ms": 0, "faults": faults, "now": now}
    return Dataset(connections=connections, scenario=scenario)
