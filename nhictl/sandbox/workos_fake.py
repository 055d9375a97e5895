"""Fake WorkOS Pipes (see :mod:`nhictl.sandbox.brokers` for its world section).

Endpoints and parameters as the official SDKs call them (workos-python
``src/workos/pipes/_resource.py``, ``src/workos/organization_membership/_resource.py``,
``src/workos/user_management``; workos-node ``src/pipes``). A connected account is scoped to
one organization (or none): ``organization_id`` selects it on every call, as a query
parameter (data_providers, get, delete) or in the JSON body (token).
"""

from __future__ import annotations

from typing import Any

from nhictl.sandbox.broker_base import BrokerSandbox, Reply, _reply

EPOCH = "2026-01-01T00:00:00.000Z"


class WorkOSSandbox(BrokerSandbox):
    """Fake WorkOS Pipes: users, memberships, data providers, tokens, account deletion."""

    section = "workos"
    key_field = "api_key"

    def _users(self) -> list[dict[str, Any]]:
        users: list[dict[str, Any]] = self.world.workos.setdefault("users", [])
        return users

    def _user(self, user_id: str) -> dict[str, Any] | None:
        return next((u for u in self._users() if u.get("id") == user_id), None)

    @staticmethod
    def _accounts(user: dict[str, Any]) -> list[dict[str, Any]]:
        slack = user.get("slack")
        if isinstance(slack, dict):
            return [slack]
        return [a for a in slack if isinstance(a, dict)] if isinstance(slack, list) else []

    @staticmethod
    def _org_of(user: dict[str, Any], account: dict[str, Any]) -> str | None:
        org = account.get("organization_id", user.get("organization_id"))
        return str(org) if org else None

    @staticmethod
    def _memberships(user: dict[str, Any]) -> list[dict[str, Any]]:
        listed = user.get("memberships")
        if isinstance(listed, list):
            return [m for m in listed if isinstance(m, dict)]
        org = user.get("organization_id")
        return [{"organization_id": org, "status": "active"}] if org else []

    def _account(self, user: dict[str, Any], org: str | None) -> dict[str, Any] | None:
        return next((a for a in self._accounts(user) if self._org_of(user, a) == org), None)

    def _drop(self, user: dict[str, Any], account: dict[str, Any]) -> None:
        rest = [a for a in self._accounts(user) if a is not account]
        user["slack"] = rest if isinstance(user.get("slack"), list) else None

    def _check_world(self) -> None:
        for user in self._users():
            for account in self._accounts(user):
                self._world_token(account.get("token"), f"user {user.get('id')}")

    def set_state(self, user_id: str, state: str, organization_id: str | None = None) -> None:
        """connected | needs_reauthorization | disconnected | not_installed (no account).
        ``organization_id`` picks the account (default: the user's first one)."""
        with self.world.lock:
            user = self._user(user_id)
            if user is None:
                raise KeyError(user_id)
            accounts = self._accounts(user)
            account = (self._account(user, organization_id) if organization_id
                       else (accounts[0] if accounts else None))
            if account is None:
                return
            if state == "not_installed":
                self._drop(user, account)
            else:
                account["state"] = state

    def set_membership(self, user_id: str, organization_id: str, status: str) -> None:
        """active | inactive | pending."""
        with self.world.lock:
            user = self._user(user_id)
            if user is None:
                raise KeyError(user_id)
            memberships = self._memberships(user)
            for m in memberships:
                if m.get("organization_id") == organization_id:
                    m["status"] = status
            user["memberships"] = memberships

    # -- routes ----------------------------------------------------------------------------
    def route(self, method: str, parts: list[str], query: dict[str, str], body: Any) -> Reply:
        org = query.get("organization_id") or None
        if method == "GET" and parts == ["user_management", "users"]:
            return self._list_users(query)
        if method == "GET" and parts == ["user_management", "organization_memberships"]:
            return self._list_memberships(query)
        if len(parts) >= 4 and parts[:2] == ["user_management", "users"]:
            user = self._user(parts[2])
            if user is None:
                return _reply(404, self._error("entity_not_found", "user not found"))
            if method == "GET" and parts[3:] == ["data_providers"]:
                return _reply(200, self._providers(user, org))
            if parts[3:] == ["connected_accounts", "slack"]:
                account = self._account(user, org)
                if method == "GET":
                    if account is None:
                        return _reply(404, self._error("entity_not_found", "not connected"))
                    return _reply(200, self._account_body(user, account))
                if method == "DELETE":
                    if self.world.workos.pop("delete_404_once", False) or account is None:
                        return _reply(404, self._error("entity_not_found", "not connected"))
                    self._drop(user, account)
                    return _reply(204, {})
        if method == "POST" and parts == ["data-integrations", "slack", "token"]:
            return self._token(body if isinstance(body, dict) else {})
        return _reply(404, self._error("not_found", "no such endpoint"))

    def _page(self, items: list[dict[str, Any]], query: dict[str, str]) -> Reply:
        """Cursor paging by object id (``limit`` 1-100, default 10; ``after``)."""
        limit = max(1, min(100, int(query.get("limit") or 10)))
        start = 0
        after = query.get("after")
        if after:
            ids = [i.get("id") for i in items]
            if after not in ids:
                return _reply(422, self._error("invalid_cursor", "unknown cursor"))
            start = ids.index(after) + 1
        page = items[start : start + limit]
        more = start + limit < len(items)
        meta = {"before": None, "after": page[-1]["id"] if more and page else None}
        return _reply(200, {"object": "list", "data": page, "list_metadata": meta})

    def _list_users(self, query: dict[str, str]) -> Reply:
        # A user has no organization and no status (workos-python common/models/user.py).
        data = [{"object": "user", "email_verified": True, "created_at": EPOCH,
                 "updated_at": EPOCH,
                 **{k: v for k, v in u.items()
                    if k not in ("slack", "memberships", "organization_id")}}
                for u in self._users()]
        return self._page(data, query)

    def _list_memberships(self, query: dict[str, str]) -> Reply:
        # "At least one of user_id or organization_id must be provided. By default only
        # active memberships are returned." (organization_membership/_resource.py)
        user_id, org = query.get("user_id"), query.get("organization_id")
        if not user_id and not org:
            return _reply(400, self._error("invalid_request", "user_id or organization_id"))
        statuses = (query.get("statuses") or "active").split(",")
        data: list[dict[str, Any]] = []
        for user in self._users():
            if user_id and user.get("id") != user_id:
                continue
            for m in self._memberships(user):
                status = m.get("status", "active")
                if (org and m.get("organization_id") != org) or status not in statuses:
                    continue
                data.append({"object": "organization_membership",
                             "id": f"om_{user['id']}_{m['organization_id']}",
                             "user_id": user["id"], "organization_id": m["organization_id"],
                             "status": status, "role": {"slug": "member"},
                             "directory_managed": False, "created_at": EPOCH,
                             "updated_at": EPOCH})
        return self._page(data, query)

    def _account_scopes(self, account: dict[str, Any]) -> list[str]:
        if account.get("scopes") is not None:
            return list(account["scopes"])
        entry = self.world.token(account.get("token", "")) or {}
        return list(entry.get("scopes", []))

    def _account_body(self, user: dict[str, Any], account: dict[str, Any]) -> dict[str, Any]:
        # common/models/connected_account.py
        return {
            "object": "connected_account",
            "id": account["id"],
            "user_id": user["id"],
            "organization_id": self._org_of(user, account),
            "scopes": self._account_scopes(account),
            "state": account.get("state", "connected"),
            "created_at": account.get("created_at", EPOCH),
            "updated_at": account.get("updated_at", EPOCH),
        }

    def _providers(self, user: dict[str, Any], org: str | None) -> dict[str, Any]:
        # list_user_data_providers: organization_id filters to that organization's account
        account = self._account(user, org)
        provider: dict[str, Any] = {
            "object": "data_provider",
            "id": "data_provider_slack",
            "slug": "slack",
            "name": "Slack",
            "scopes": [],
            "connected_account": None,
        }
        if account is not None:
            scopes = self._account_scopes(account)
            provider["scopes"] = list(account.get("requested_scopes") or scopes)
            provider["connected_account"] = self._account_body(user, account)
        return {"object": "list", "data": [provider]}

    def _token(self, body: dict[str, Any]) -> Reply:
        # get_access_token: POST data-integrations/{provider}/token {user_id, organization_id?}
        user = self._user(str(body.get("user_id", "")))
        if user is None:
            return _reply(404, self._error("entity_not_found", "user not found"))
        account = self._account(user, body.get("organization_id") or None)
        if account is None:
            return _reply(200, {"active": False, "error": "not_installed"})
        if account.get("token_error"):
            return _reply(200, {"active": False, "error": account["token_error"]})
        state = account.get("state", "connected")
        if state == "needs_reauthorization":
            return _reply(200, {"active": False, "error": "needs_reauthorization"})
        if state != "connected":
            return _reply(200, {"active": False, "error": "not_installed"})
        granted = self._account_scopes(account)
        requested = list(account.get("requested_scopes") or granted)
        token = {
            "object": "access_token",
            "access_token": account["token"],
            "expires_at": account.get("expires_at"),
            "scopes": granted,
            "missing_scopes": [s for s in requested if s not in granted],
        }
        return _reply(200, {"active": True, "access_token": token})
