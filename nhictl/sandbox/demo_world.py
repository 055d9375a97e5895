"""The demo's extra sources: a WorkOS Pipes tenant and a slack_sdk (Bolt) installation store,
their tokens added to the same sandbox world as the export's."""

from __future__ import annotations

import os
import secrets
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nhictl.sandbox.dataset import Dataset, fake_token
from nhictl.sandbox.world import World

WORKOS_USERS = (
    ("user_01DEMO", "nadia", "okafor", "globex", "T0GLOBX01", "connected"),
    ("user_02DEMO", "omar", "haddad", "globex", "T0GLOBX01", "connected"),
    ("user_03DEMO", "priya", "raman", "initech", "T0INITC01", "connected"),
    ("user_04DEMO", "quinn", "moreau", "initech", "T0INITC01", "needs_reauthorization"),
    ("user_05DEMO", "rosa", "lindqvist", "acme", "T0ACME001", "connected"),
    ("user_06DEMO", "sam", "adeyemi", "acme", "T0ACME002", "connected"),
)
STORE_INSTALLS = (
    ("T0ACME001", "Acme Corp", "U0BOLT0001"),
    ("T0INITC01", "Initech", "U0BOLT0002"),
    ("T0INITC02", "Initech Support", "U0BOLT0003"),
)
WORKOS_KEY_ENV = "NHICTL_DEMO_WORKOS_KEY"
AUDIT_TOKEN_ENV = "NHICTL_DEMO_AUDIT_TOKEN"  # noqa: S105 (a variable name)
BOLT_APP = "A0DEMOBOLT"
SHADOW_USER = ("T0INITC01", "U0SHADOW01")  # installed the bolt app; no holder has the grant
UNINSTALLED_TEAM = "T0INITC02"  # the bolt app was uninstalled there; the store kept it
DEPARTED = (("T0ACME001", "U0BOLT0001"),  # the bolt store's first installer (see above)
            ("", "U00000011"))  # conn-0011's user: deleted, their token already dead
ADMIN = "U0ORGADMIN"
_DAY = 86400
EXPORT_APP = "A0DEMOEXPT"  # the app behind the export's connections (not recorded there)
# What Slack's side shows that the holders do not (binding connection id, or
# ``grant:APP:WORKSPACE:USER`` for a grant no binding has) -> the problem and its rule.
LEDGER_PLANTED: dict[str, str] = {
    f"grant:{BOLT_APP}:{SHADOW_USER[0]}:{SHADOW_USER[1]}":
        "audit log: installed by a user no holder knows (grant_unaccounted)",
    f"{BOLT_APP}:-:{UNINSTALLED_TEAM}:U0BOLT0003:user":
        "uninstalled between runs, the store still lists it (uninstalled_still_held)",
    f"{BOLT_APP}:-:{UNINSTALLED_TEAM}:bot":
        "uninstalled between runs, the store still lists it (uninstalled_still_held)",
    f"{BOLT_APP}:-:T0ACME001:bot":
        "bot whose installer was deactivated: audit log and users.info (installer_departed)",
}


def add_workos(ds: Dataset) -> str:
    """Add WorkOS users with Slack connections; returns the sandbox API key (a fake)."""
    api_key = "sk_test_FAKE" + secrets.token_hex(8)
    users: list[dict[str, Any]] = []
    for i, (uid, first, last, org, team, state) in enumerate(WORKOS_USERS):
        token = fake_token("user")
        slack_user = f"U0PIPES{i:03d}"
        ds.scenario["users"].append({"id": slack_user, "team_id": team, "name": first,
                                     "deleted": False, "email": f"{first}@{org}.example"})
        ds.scenario["tokens"].append({"token": token, "team_id": team, "user_id": slack_user,
                                      "kind": "user", "scopes": ["chat:write"],
                                      "state": "active", "expires_in": 43200})
        # WorkOS scopes a connected account to an organization the user is a member of.
        users.append({"id": uid, "email": f"{first}.{last}@{org}.example",
                      "first_name": first.title(), "last_name": last.title(),
                      "memberships": [{"organization_id": org, "status": "active"}],
                      "slack": {"id": f"data_installation_{i:02d}DEMO", "token": token,
                                "state": state, "scopes": ["chat:write"],
                                "organization_id": org,
                                "created_at": "2026-10-01T10:00:00Z"}})
    ds.scenario["workos"] = {"api_key": api_key, "users": users}
    return api_key


def write_bolt_store(ds: Dataset, path: Path) -> None:
    """A real slack_sdk SQLite3InstallationStore with user and bot tokens (mode 0600)."""
    from slack_sdk.oauth.installation_store import Installation
    from slack_sdk.oauth.installation_store.sqlite3 import SQLite3InstallationStore

    store = SQLite3InstallationStore(database=str(path), client_id="demo-bolt-app")
    for i, (team, team_name, installer) in enumerate(STORE_INSTALLS):
        user_token = fake_token("user")
        bot_token = fake_token("bot")
        bot_user = f"U0BOTUSR{i:02d}"
        # The first installer has left: their user token is dead (token_revoked), while the
        # bot they installed works on, and users.info (users:read) shows them deleted.
        departed = i == 0
        bot_scopes = ["chat:write", "users:read"] if departed else ["chat:write"]
        ds.scenario["users"].append({"id": installer, "team_id": team, "name": f"installer{i}",
                                     "deleted": departed})
        ds.scenario["tokens"].append({"token": user_token, "team_id": team,
                                      "user_id": installer, "kind": "user",
                                      "scopes": ["chat:write"], "state": "active",
                                      "expires_in": 43200})
        ds.scenario["tokens"].append({"token": bot_token, "team_id": team, "user_id": bot_user,
                                      "kind": "bot", "bot_id": f"B0DEMO{i:04d}",
                                      "scopes": bot_scopes, "state": "active",
                                      "expires_in": 43200})
        store.save(Installation(
            app_id=BOLT_APP, enterprise_id=None, team_id=team, team_name=team_name,
            user_id=installer, user_scopes=["chat:write"], user_token=user_token,
            user_refresh_token="xoxe-1-FAKE" + secrets.token_hex(8), user_token_expires_in=43200,
            bot_token=bot_token, bot_id=f"B0DEMO{i:04d}", bot_user_id=bot_user,
            bot_scopes=bot_scopes, bot_refresh_token="xoxe-1-FAKE" + secrets.token_hex(8),
            bot_token_expires_in=43200, installed_at=1764000000.0 + i,
        ))
    os.chmod(path, 0o600)


# -- Slack's side: the org audit log the demo's [[ledgers]] collects ---------------------------



def audit_entry(n: int, action: str, at: float, *, team: str, user: str, actor: str,
                app: str | None = None, scopes: Sequence[str] = ()) -> dict[str, Any]:
    """An audit log entry as ``GET /audit/v1/logs`` returns one (fields as slack_sdk's
    tests/slack_sdk/audit_logs/test_response.py spells them)."""
    entity: dict[str, Any] = (
        {"type": "app", "app": {"id": app, "name": "Demo app", "is_distributed": True,
                                "scopes": list(scopes)}} if app
        else {"type": "user", "user": {"id": user, "name": user.lower(), "team": "E0DEMO"}})
    location = ({"type": "workspace", "id": team, "name": team, "domain": team.lower()}
                if team else {"type": "enterprise", "id": "E0DEMO", "name": "Demo org",
                              "domain": "demo-org"})
    details: dict[str, Any] = {}
    if app:
        details = {"installer_user_id": user, "scopes": list(scopes), "bot_scopes": []}
        if action == "app_scopes_expanded":
            details = {"installer_user_id": user, "new_scopes": list(scopes)}
    return {"id": f"d3m0{n:04d}-0000-4000-8000-{n:012d}", "date_create": int(at),
            "action": action,
            "actor": {"type": "user", "user": {"id": actor, "name": actor.lower(),
                                               "email": f"{actor.lower()}@example.com",
                                               "team": "E0DEMO"}},
            "entity": entity, "context": {"location": location, "ua": "demo",
                                          "ip_address": "192.0.2.10"},
            "details": details}


def add_audit_log(ds: Dataset, now: float) -> str:
    """Plant Slack's side of the story before the demo's first run (a week ago): a shadow
    grant nobody holds, and two people leaving. Returns the audit token (a fake)."""
    token = fake_token("user", rotating=False)
    ds.scenario["users"].append({"id": "U0AUDIT01", "team_id": "T0GLOBX01", "name": "audit"})
    ds.scenario["tokens"].append({"token": token, "team_id": "T0GLOBX01",
                                  "user_id": "U0AUDIT01", "kind": "user",
                                  "scopes": ["auditlogs:read"], "state": "active"})
    team, shadow = SHADOW_USER
    start = now - 30 * _DAY
    log = [audit_entry(1, "app_installed", start, team=team, user=shadow, actor=shadow,
                       app=BOLT_APP, scopes=("chat:write", "channels:history"))]
    log += [audit_entry(3 + i, "user_deactivated", start + (15 + i) * _DAY, team=ws,
                        user=user, actor=ADMIN) for i, (ws, user) in enumerate(DEPARTED)]
    ds.scenario["audit_log"] = log
    return token


def uninstall_between_runs(world: World, now: float) -> None:
    """A workspace admin uninstalls the bolt app from one workspace: Slack revokes its
    tokens there and logs app_uninstalled; the installation store never hears of it."""
    with world.lock:
        for entry in world.tokens.values():
            if entry.get("team_id") == UNINSTALLED_TEAM and str(entry.get("user_id")) \
                    .startswith(("U0BOLT", "U0BOTUSR")):
                entry["state"] = "revoked"
    world.add_audit_entry(audit_entry(2, "app_uninstalled", now, team=UNINSTALLED_TEAM,
                                      user=ADMIN, actor=ADMIN, app=BOLT_APP,
                                      scopes=("chat:write",)))


def save_world(ds: Dataset, world: World) -> None:
    """Carry what changed in the served world (token states, new log entries) into the
    scenario, so `nhictl sandbox slack` serves the demo's world as it ended."""
    with world.lock:
        for entry in ds.scenario["tokens"]:
            live = world.tokens.get(entry["token"])
            if live is not None:
                entry["state"] = live.get("state", "active")
        ds.scenario["audit_log"] = [dict(e) for e in world.audit_log]


def scope_expansion_entry(ds: Dataset, now: float, team: str, user: str,
                          scope: str) -> dict[str, Any]:
    """The audit log's record of the planted scope expansion (between the demo's runs)."""
    return audit_entry(10, "app_scopes_expanded", now, team=team, user=user, actor=user,
                       app=EXPORT_APP, scopes=(scope,))

