"""What the sandbox Slack answers: Web API methods, rate limits and faults over a :class:`World`.

Pure request -> :class:`Reply` logic, no sockets (``slack_server`` does the HTTP). Wire facts
follow ``slack-api.md``: HTTP 200 ``{"ok": false, "error": CODE}`` envelopes, ``x-oauth-scopes``
on ``auth.test``, 429 with an integer ``Retry-After`` per (team, method).
"""

from __future__ import annotations

import base64
import json
import math
import secrets
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from nhictl.sandbox import slack_ledger
from nhictl.sandbox.world import World

HTML_503 = "<html><head><title>503 Service Unavailable</title></head><body>down</body></html>"
HTML_404 = "<html><head><title>404 Not Found</title></head><body>not found</body></html>"
HTML_500 = "<html><head><title>500 Internal Server Error</title></head><body>oops</body></html>"


@dataclass
class Reply:
    status: int = 200
    body: Any = None  # dict -> JSON; str -> HTML
    headers: dict[str, str] = field(default_factory=dict)
    raw: bytes | None = None  # sent verbatim as JSON (a hostile reply: arrays, NaN...)
    close: bool = False  # drop the connection without any response
    delay_s: float = 0.0  # sleep before answering (the "slow" fault)
    fault: str | None = None

    @property
    def error(self) -> str | None:
        if isinstance(self.body, dict) and not self.body.get("ok", True):
            return str(self.body.get("error"))
        return None


def _ok(**fields: Any) -> Reply:
    return Reply(body={"ok": True, **fields})


def _err(code: str, **fields: Any) -> Reply:
    return Reply(body={"ok": False, "error": code, **fields})


def _truthy(value: Any) -> bool:
    return str(value).lower() in {"1", "true", "yes"}


class _Bucket:
    """Server-side token bucket: ``burst`` calls at once, refilled at ``per_minute``."""

    def __init__(self, per_minute: float, burst: float) -> None:
        self.rate = per_minute / 60.0
        self.capacity = max(1.0, burst)
        self.tokens = self.capacity
        self.updated = time.monotonic()

    def take(self) -> float:
        """0.0 when a call is allowed, else seconds until one would be."""
        now = time.monotonic()
        self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
        self.updated = now
        if self.tokens >= 1.0:
            self.tokens -= 1.0
            return 0.0
        return (1.0 - self.tokens) / self.rate if self.rate > 0 else 60.0


class SlackBehaviour:
    """The Slack Web API over one world; thread-safe (state changes go through ``world.lock``)."""

    def __init__(self, world: World) -> None:
        self.world = world
        self._buckets: dict[tuple[str, str], _Bucket] = {}
        self._spent_refresh: set[str] = set()
        self._lock = threading.Lock()
        self._methods: dict[str, Callable[[dict[str, Any], dict[str, Any]], Reply]] = {
            "auth.test": self._auth_test,
            "users.info": self._users_info,
            "team.info": self._team_info,
            "conversations.info": self._conversations_info,
            "conversations.list": self._conversations_list,
            "auth.revoke": self._auth_revoke,
            slack_ledger.AUDIT_METHOD: self._audit_logs,
            "team.integrationLogs": self._integration_logs,
        }
        from nhictl.sandbox.slack_chat import ChatLog  # (imports this module)

        self.chat = ChatLog(world)  # chat.postMessage and incoming webhooks
        self._methods["chat.postMessage"] = self.chat.post_message

    # -- entry point -------------------------------------------------------------------------

    def latency_s(self, method: str) -> float:
        w = self.world
        return (w.latency_ms + w.method_latency_ms.get(method, 0.0)) / 1000.0

    def handle(
        self, method: str, token: str | None, args: dict[str, Any], basic: tuple[str, str] | None
    ) -> Reply:
        entry = self.world.token(token) if token else None
        team_id = str(entry["team_id"]) if entry and entry.get("team_id") else None
        fault = self._take_fault(method, token, team_id, args)
        if fault is not None:
            reply = self._fault_reply(fault)
            if reply is not None:
                return reply
            # "slow": answer normally, late
            real = self._dispatch(method, token, entry, team_id, args, basic)
            real.delay_s = float(fault.get("seconds", self.world.slow_s))
            real.fault = "slow"
            return real
        return self._dispatch(method, token, entry, team_id, args, basic)

    def incoming_webhook(self, path: str, raw: bytes) -> Reply:
        """An incoming webhook POST (faults under the method name ``incoming-webhook``)."""
        fault = self._take_fault("incoming-webhook", None, None, {})
        reply = self._fault_reply(fault) if fault is not None else None
        return reply if reply is not None else self.chat.incoming(path, raw)

    def _dispatch(
        self,
        method: str,
        token: str | None,
        entry: dict[str, Any] | None,
        team_id: str | None,
        args: dict[str, Any],
        basic: tuple[str, str] | None,
    ) -> Reply:
        if team_id is not None:
            limited = self._rate_limit(team_id, method)
            if limited is not None:
                return limited
        if method == "oauth.v2.access":
            return self._oauth_v2_access(args, basic)
        impl = self._methods.get(method)
        if impl is None:
            return Reply(status=404, body={"ok": False, "error": "unknown_method"})
        if not token:
            return _err("not_authed")
        if entry is None:
            return _err("invalid_auth")
        dead = self._dead_code(entry)
        if dead is not None:
            return _err(dead)
        return impl(entry, args)

    # -- faults and limits ---------------------------------------------------------------------

    def _take_fault(
        self, method: str, token: str | None, team: str | None, args: dict[str, Any]
    ) -> dict[str, Any] | None:
        with self.world.lock:
            for fault in self.world.faults:
                if fault.get("method", "*") not in ("*", method):
                    continue
                if "with_arg" in fault and not args.get(str(fault["with_arg"])):
                    continue  # e.g. an expired cursor needs a cursor
                if "token" in fault and fault["token"] != token:
                    continue
                if "team_id" in fault and fault["team_id"] != team:
                    continue
                times = fault.get("times", 1 if fault.get("kind") == "500_once" else None)
                if times is not None:
                    if int(times) <= 0:
                        continue
                    fault["times"] = int(times) - 1
                return dict(fault)
        return None

    def _fault_reply(self, fault: dict[str, Any]) -> Reply | None:
        kind = str(fault.get("kind"))
        if kind == "500_once":
            return Reply(status=500, body=HTML_500, fault=kind)
        if kind == "503_html":
            return Reply(status=503, body=HTML_503, fault=kind)
        if kind == "404_html":
            return Reply(status=404, body=HTML_404, fault=kind)
        if kind == "close":
            return Reply(close=True, fault=kind)
        if kind == "fatal_error":
            return Reply(body={"ok": False, "error": "fatal_error"}, fault=kind)
        if kind == "429":
            after = int(fault.get("retry_after", 1))
            return Reply(
                status=429,
                body={"ok": False, "error": "ratelimited"},
                headers={"retry-after": str(after)},
                fault=kind,
            )
        if kind == "error":  # a given ok:false answer, e.g. {"error": "no_permission"}
            extra = {
                k: v
                for k, v in fault.items()
                if k not in {"method", "token", "team_id", "kind", "times", "error"}
            }
            return Reply(body={"ok": False, "error": str(fault["error"]), **extra}, fault=kind)
        if kind == "raw":
            # A hostile or broken server: this exact body, status and headers (so no
            # x-oauth-scopes unless given). Not something Slack sends; it tests that one
            # strange reply stays one inconclusive validation.
            return Reply(
                status=int(fault.get("status", 200)),
                raw=str(fault.get("body", "")).encode(),
                headers={str(k): str(v) for k, v in dict(fault.get("headers", {})).items()},
                fault=kind,
            )
        if kind == "slow":
            return None
        raise ValueError(f"unknown fault kind {kind!r}")

    def _limit_for(self, team_id: str, method: str) -> tuple[float, float] | None:
        team = self.world.teams.get(team_id, {})
        spec = team.get("rate_limits", {}).get(method, self.world.rate_limits.get(method))
        if spec is None:
            return None
        if isinstance(spec, dict):
            per_minute = float(spec["per_minute"])
            burst = float(spec.get("burst", max(1.0, per_minute / 12.0)))
        else:
            per_minute = float(spec)
            burst = max(1.0, per_minute / 12.0)
        return per_minute, burst

    def _rate_limit(self, team_id: str, method: str) -> Reply | None:
        limit = self._limit_for(team_id, method)
        if limit is None:
            return None
        with self._lock:
            bucket = self._buckets.get((team_id, method))
            if bucket is None:
                bucket = self._buckets[(team_id, method)] = _Bucket(*limit)
            wait = bucket.take()
        if wait <= 0.0:
            return None
        fixed = self.world.retry_after
        header = str(int(fixed)) if fixed is not None else str(max(1, math.ceil(wait)))
        return Reply(
            status=429, body={"ok": False, "error": "ratelimited"}, headers={"retry-after": header}
        )

    # -- token state ---------------------------------------------------------------------------

    def _is_bot(self, entry: dict[str, Any]) -> bool:
        return entry.get("kind") == "bot" or bool(entry.get("bot_id"))

    def _dead_code(self, entry: dict[str, Any]) -> str | None:
        """The dead code Slack answers for this token, per token kind.

        Slack's error table (docs.slack.dev/reference/methods/auth.test, "Errors"):
        ``account_inactive`` is "for a deleted user or workspace when using a bot token",
        ``token_revoked`` "for a deleted user or workspace or the app has been removed when
        using a user token". A bot token's user is its bot user (auth.revoke on a bot token
        deactivates it, docs .../auth.revoke); its installer leaving does not kill it.
        """
        state = entry.get("state", "active")
        bot = self._is_bot(entry)
        gone = "account_inactive" if bot else "token_revoked"
        if state == "revoked":
            return gone
        if state == "inactive":
            return "account_inactive"
        if state == "invalid":
            return "invalid_auth"
        if state == "expired":
            return "token_expired"
        expires = self.world.expires_at(entry)
        if expires is not None and time.time() >= expires:
            return "token_expired"
        team = self.world.teams.get(str(entry.get("team_id")), {})
        if team.get("deleted"):
            return gone
        own_user = (entry.get("bot_user_id") or entry.get("user_id")) if bot else \
            entry.get("user_id")
        user = self.world.users.get(str(own_user), {})
        # dead_when_user_deleted: false is a lab knob, not Slack: a deleted user's user token
        # that still answers, so tests can reach the users.info "deleted" path on it.
        if user.get("deleted") and (bot or entry.get("dead_when_user_deleted", True)):
            return gone
        return None

    def _scopes(self, entry: dict[str, Any]) -> list[str]:
        return [str(s) for s in entry.get("scopes", [])]

    def _missing(self, entry: dict[str, Any], needed: str) -> Reply | None:
        scopes = self._scopes(entry)
        if needed in scopes:
            return None
        return _err("missing_scope", needed=needed, provided=",".join(scopes))

    # -- methods -------------------------------------------------------------------------------

    def _auth_test(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        team = self.world.teams.get(str(entry.get("team_id")), {})
        user = self.world.users.get(str(entry.get("user_id")), {})
        body: dict[str, Any] = {
            "ok": True,
            "url": f"https://{team.get('domain', 'example')}.slack.com/",
            "team": team.get("name", ""),
            "user": user.get("name", entry.get("user_id", "")),
            "team_id": entry.get("team_id"),
            "user_id": entry.get("bot_user_id") or entry.get("user_id"),
        }
        if self._is_bot(entry):
            body["bot_id"] = entry.get("bot_id") or "B" + str(entry.get("user_id", "0"))[1:]
        if team.get("enterprise_id"):
            body["enterprise_id"] = team["enterprise_id"]
            body["is_enterprise_install"] = bool(team.get("is_enterprise_install", False))
        expires = self.world.expires_at(entry)
        if expires is not None:
            body["expires_in"] = max(0, int(expires - time.time()))
        return Reply(body=body, headers={"x-oauth-scopes": ",".join(self._scopes(entry))})

    def _users_info(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        missing = self._missing(entry, "users:read")
        if missing is not None:
            return missing
        user = self.world.users.get(str(args.get("user", "")))
        if user is None or user.get("team_id") != entry.get("team_id"):
            return _err("user_not_found")
        profile: dict[str, Any] = {"real_name": user.get("real_name", user.get("name", ""))}
        if "users:read.email" in self._scopes(entry) and user.get("email"):
            profile["email"] = user["email"]
        return _ok(
            user={
                "id": user["id"],
                "team_id": user.get("team_id"),
                "name": user.get("name", ""),
                "deleted": bool(user.get("deleted", False)),
                # slack-api.md's users.info shape: guests are restricted/ultra-restricted
                "is_restricted": bool(user.get("is_restricted", False)),
                "is_ultra_restricted": bool(user.get("is_ultra_restricted", False)),
                "real_name": profile["real_name"],
                "is_admin": bool(user.get("is_admin", False)),
                "is_owner": bool(user.get("is_owner", False)),
                "is_bot": bool(user.get("is_bot", False)),
                "profile": profile,
            }
        )

    def _audit_logs(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        status, body = slack_ledger.audit_logs(self.world, self._scopes(entry), args)
        return Reply(status=status, body=body)

    def _integration_logs(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        return Reply(body=slack_ledger.integration_logs(
            self.world, str(entry.get("team_id")), self._scopes(entry), args))

    def _team_info(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        missing = self._missing(entry, "team:read")
        if missing is not None:
            return missing
        team = self.world.teams.get(str(args.get("team") or entry.get("team_id")))
        if team is None:
            return _err("team_not_found")
        info = {"id": team["id"], "name": team.get("name", ""), "domain": team.get("domain", "")}
        if team.get("enterprise_id"):
            info["enterprise_id"] = team["enterprise_id"]
        return _ok(team=info)

    def _channel_view(self, channel: dict[str, Any]) -> dict[str, Any]:
        private = bool(channel.get("is_private", False))
        return {
            "id": channel["id"],
            "name": channel.get("name", ""),
            "is_channel": not private,
            "is_private": private,
            "is_archived": bool(channel.get("is_archived", False)),
            "context_team_id": channel.get("team_id"),
        }

    def _conversations_info(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        channel = self.world.channels.get(str(args.get("channel", "")))
        if channel is None or channel.get("team_id") != entry.get("team_id"):
            return _err("channel_not_found")
        needed = "groups:read" if channel.get("is_private") else "channels:read"
        missing = self._missing(entry, needed)
        if missing is not None:
            return missing
        return _ok(channel=self._channel_view(channel))

    def _conversations_list(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        types = {t.strip() for t in str(args.get("types") or "public_channel").split(",")}
        needs = (("public_channel", "channels:read"), ("private_channel", "groups:read"))
        for kind, needed in needs:
            if kind in types:
                missing = self._missing(entry, needed)
                if missing is not None:
                    return missing
        limit = max(1, min(1000, int(args.get("limit") or 100)))
        offset = 0
        cursor = str(args.get("cursor") or "")
        if cursor:
            try:
                offset = int(base64.b64decode(cursor).decode().removeprefix("offset:"))
            except ValueError:
                return _err("invalid_cursor")
        wanted = sorted(
            (
                c
                for c in self.world.channels.values()
                if c.get("team_id") == entry.get("team_id")
                and ("private_channel" if c.get("is_private") else "public_channel") in types
            ),
            key=lambda c: str(c["id"]),
        )
        page = wanted[offset : offset + limit]
        following = offset + limit
        next_cursor = ""
        if following < len(wanted):
            next_cursor = base64.b64encode(f"offset:{following}".encode()).decode()
        return _ok(
            channels=[self._channel_view(c) for c in page],
            response_metadata={"next_cursor": next_cursor},
        )

    def _auth_revoke(self, entry: dict[str, Any], args: dict[str, Any]) -> Reply:
        if _truthy(args.get("test", "")):
            return _ok(revoked=False)
        self.world.set_token_state(str(entry["token"]), "revoked")
        return _ok(revoked=True)

    def _oauth_v2_access(self, args: dict[str, Any], basic: tuple[str, str] | None) -> Reply:
        client_id, client_secret = basic or (
            str(args.get("client_id", "")),
            str(args.get("client_secret", "")),
        )
        if not client_id:
            return _err("invalid_client_id")
        clients = self.world.oauth_clients
        if clients and clients.get(client_id) != client_secret:
            return _err("bad_client_secret" if client_id in clients else "invalid_client_id")
        if args.get("grant_type") != "refresh_token":
            if args.get("code"):
                return self._exchange_code(str(args["code"]))
            return _err("invalid_grant_type")
        refresh = str(args.get("refresh_token", ""))
        with self.world.lock:
            old = self.world.token_by_refresh(refresh) if refresh else None
            if old is None or refresh in self._spent_refresh:
                return _err("invalid_refresh_token")
            self._spent_refresh.add(refresh)
            bot = self._is_bot(old)
            prefix = "xoxe.xoxb-1-" if bot else "xoxe.xoxp-1-"
            new = dict(old)
            new.update(
                token=prefix + "sandbox" + secrets.token_hex(12),
                refresh_token="xoxe-1-sandbox" + secrets.token_hex(12),
                state="active",
                expires_in=None,
                expires_at=time.time() + 43200,
            )
            old["refresh_token"] = None
            self.world.add_token(new)
        team = self.world.teams.get(str(new.get("team_id")), {})
        body: dict[str, Any] = {
            "ok": True,
            "app_id": new.get("app_id", "A0SANDBOX"),
            "access_token": new["token"],
            "expires_in": 43200,
            "refresh_token": new["refresh_token"],
            "token_type": "bot" if bot else "user",
            "scope": ",".join(self._scopes(new)),
            "team": {"name": team.get("name", ""), "id": new.get("team_id")},
        }
        if bot:
            body["bot_user_id"] = new.get("bot_user_id") or new.get("user_id")
        else:
            body["authed_user"] = {"id": new.get("user_id")}
        return Reply(body=body)

    def _exchange_code(self, code: str) -> Reply:
        """An install: the authorization code's tokens, shaped as Slack answers them (and as
        bolt-python's tests/mock_web_api_server/mock_handler.py OAUTH_V2_ACCESS_RESPONSE
        does); a code works once."""
        with self.world.lock:
            grant = self.world.oauth_codes.pop(code, None)
        if grant is None:
            return _err("invalid_code")
        bot = self.world.token(str(grant.get("bot_token") or ""))
        user = self.world.token(str(grant.get("user_token") or ""))
        first = bot or user
        if first is None:
            return _err("invalid_code")
        team = self.world.teams.get(str(first.get("team_id")), {})
        org = bool(grant.get("is_enterprise_install"))
        enterprise = team.get("enterprise_id")
        body: dict[str, Any] = {
            "ok": True,
            "app_id": first.get("app_id", "A0SANDBOX"),
            # An org-wide (Enterprise Grid) install answers without a team.
            "team": None if org else {"id": team.get("id", first.get("team_id")),
                                      "name": team.get("name", "")},
            "enterprise": {"id": enterprise, "name": team.get("enterprise_name", "")}
            if enterprise else None,
            "is_enterprise_install": org,
        }
        if bot is not None:
            body.update({"access_token": bot["token"], "token_type": "bot",
                         "scope": ",".join(self._scopes(bot)),
                         "bot_user_id": bot.get("bot_user_id") or bot.get("user_id"),
                         **self._rotation(bot)})
        installer: dict[str, Any] = {"id": grant.get("user_id") or (user or {}).get("user_id")}
        if user is not None:
            installer.update({"access_token": user["token"], "token_type": "user",
                              "scope": ",".join(self._scopes(user)), **self._rotation(user)})
        body["authed_user"] = installer
        return Reply(body=body)

    def _rotation(self, entry: dict[str, Any]) -> dict[str, Any]:
        """``expires_in``/``refresh_token`` of a rotating (xoxe) token; nothing otherwise."""
        expires = self.world.expires_at(entry)
        if expires is None or not entry.get("refresh_token"):
            return {}
        return {"expires_in": max(0, int(expires - time.time())),
                "refresh_token": entry["refresh_token"]}


def encode_body(reply: Reply) -> tuple[bytes, str]:
    """The bytes and content type of a reply."""
    if reply.raw is not None:
        return reply.raw, "application/json; charset=utf-8"
    if isinstance(reply.body, str):
        return reply.body.encode(), "text/html; charset=utf-8"
    return json.dumps(reply.body or {}).encode(), "application/json; charset=utf-8"
