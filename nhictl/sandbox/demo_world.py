"""The demo's extra sources: a WorkOS Pipes tenant and a slack_sdk (Bolt) installation store,
their tokens added to the same sandbox world as the export's."""

from __future__ import annotations

import os
import secrets
from pathlib import Path
from typing import Any

from nhictl.sandbox.dataset import Dataset, fake_token

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
            app_id="A0DEMOBOLT", enterprise_id=None, team_id=team, team_name=team_name,
            user_id=installer, user_scopes=["chat:write"], user_token=user_token,
            user_refresh_token="xoxe-1-FAKE" + secrets.token_hex(8), user_token_expires_in=43200,
            bot_token=bot_token, bot_id=f"B0DEMO{i:04d}", bot_user_id=bot_user,
            bot_scopes=bot_scopes, bot_refresh_token="xoxe-1-FAKE" + secrets.token_hex(8),
            bot_token_expires_in=43200, installed_at=1764000000.0 + i,
        ))
    os.chmod(path, 0o600)
