"""``[[notify]]`` entries of ``nhictl.toml``: where notifications go.

Three shapes (secrets only by the NAME of an environment variable)::

    [[notify]]                     # a bot token with chat:write, to a channel id
    name = "secops"
    kind = "slack"
    token_env = "NHICTL_NOTIFY_SLACK_TOKEN"
    channel = "C0123456789"

    [[notify]]                     # a Slack incoming webhook (its URL is the secret)
    name = "secops-hook"
    kind = "slack"
    webhook_url_env = "NHICTL_NOTIFY_SLACK_WEBHOOK"

    [[notify]]                     # any HTTPS endpoint, JSON signed with HMAC-SHA256
    name = "siem"
    kind = "webhook"
    url_env = "NHICTL_NOTIFY_WEBHOOK_URL"
    secret_env = "NHICTL_NOTIFY_WEBHOOK_SECRET"

Optional on every entry: ``min_severity`` (findings below it are not announced; default
``low``) and ``top`` (how many new findings are named, 1..20, default 5). Errors name the file
and key (exit 3); a value never echoes what may be a pasted secret.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nhictl.errors import ConfigError
from nhictl.models import Severity
from nhictl.tomlfile import array_of_tables

NOTIFY_KINDS = ("slack", "webhook")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]{0,63}")
_CHANNEL_ID = re.compile(r"[CGD][A-Z0-9]{1,20}")
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_COMMON = {"name", "kind", "min_severity", "top"}
_KEYS = {"slack": {"token_env", "channel", "webhook_url_env"},
         "webhook": {"url_env", "secret_env"}}
_LITERAL = ("token", "url", "webhook_url", "secret", "signing_secret", "password")


@dataclass(frozen=True)
class NotifyTarget:
    """One configured notification target."""

    name: str
    kind: str  # slack | webhook
    token_env: str | None = None  # slack via chat.postMessage
    channel: str | None = None
    webhook_url_env: str | None = None  # slack via an incoming webhook
    url_env: str | None = None  # generic webhook
    secret_env: str | None = None
    min_severity: Severity = Severity.LOW
    top: int = 5

    @property
    def transport(self) -> str:
        """``slack-chat``, ``slack-webhook`` or ``webhook``."""
        if self.kind == "webhook":
            return "webhook"
        return "slack-chat" if self.token_env else "slack-webhook"

    @property
    def env_names(self) -> tuple[str, ...]:
        names = (self.token_env, self.webhook_url_env, self.url_env, self.secret_env)
        return tuple(n for n in names if n)


_fail = ConfigError.at


def parse_notify(raw: Any, path: Path) -> tuple[NotifyTarget, ...]:
    """Validate the ``[[notify]]`` array (env variables are read later, when sending)."""
    out: list[NotifyTarget] = []
    for _, where, entry in array_of_tables(raw, path, "notify"):
        name = entry.get("name")
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise _fail(path, f"{where}.name", "is required: letters, digits, '.', '_' or '-' "
                        "(at most 64)")
        where = f"{where} ({name})"
        if any(t.name == name for t in out):
            raise _fail(path, f"{where}.name", "duplicate notify target name")
        kind = entry.get("kind")
        if kind not in NOTIFY_KINDS:
            raise _fail(path, f"{where}.kind", f"must be one of {', '.join(NOTIFY_KINDS)}")
        for key in entry:
            if key in _LITERAL:
                raise _fail(path, f"{where}.{key}", "literal secrets are not allowed in the "
                            "config file", hint=f"export it in an environment variable and "
                            f'set {key.removesuffix("_url")}_env = "VAR_NAME"'
                            if key != "webhook_url" else 'set webhook_url_env = "VAR_NAME"')
            if key not in _COMMON | _KEYS[kind]:
                raise _fail(path, f"{where}.{key}", f"unknown key for kind {kind!r}")
        values = {k: entry.get(k) for k in _KEYS[kind]}
        for key, value in values.items():
            if value is None or key == "channel":
                continue
            if not isinstance(value, str) or not _ENV_NAME.fullmatch(value):
                raise _fail(path, f"{where}.{key}", "must be the NAME of an environment "
                            "variable (upper case, digits, _), not its value",
                            hint=f'{key} = "NHICTL_NOTIFY_SECRET" and export that variable')
        if kind == "slack":
            if bool(values["token_env"]) == bool(values["webhook_url_env"]):
                raise _fail(path, where, "needs exactly one of token_env (chat.postMessage "
                            "with a bot token) or webhook_url_env (an incoming webhook)")
            channel = values["channel"]
            if values["token_env"] and not (isinstance(channel, str)
                                            and _CHANNEL_ID.fullmatch(channel)):
                raise _fail(path, f"{where}.channel", "is required with token_env: a channel "
                            "id such as C0123456789 (not a #name)")
            if values["webhook_url_env"] and channel is not None:
                raise _fail(path, f"{where}.channel", "is not used with webhook_url_env (an "
                            "incoming webhook posts to the channel it was created for)")
        else:
            for key in ("url_env", "secret_env"):
                if not values[key]:
                    raise _fail(path, f"{where}.{key}", "is required for kind 'webhook'")
        severity = entry.get("min_severity", "low")
        if severity not in {s.value for s in Severity}:
            raise _fail(path, f"{where}.min_severity",
                        f"must be one of {', '.join(s.value for s in Severity)}")
        top = entry.get("top", 5)
        if not isinstance(top, int) or isinstance(top, bool) or not 1 <= top <= 20:
            raise _fail(path, f"{where}.top", "must be a whole number from 1 to 20")
        out.append(NotifyTarget(name=name, kind=kind, min_severity=Severity(severity), top=top,
                                **{k: v for k, v in values.items() if v is not None}))
    return tuple(out)


def env_value(var: str) -> str | None:
    value = os.environ.get(var)
    return value if value else None
