"""Send one target its news: compute the digest, deliver it, record what it said.

The caller holds the inventory's write lock for the whole exchange, so two nhictl processes
never announce the same news twice. What a target was told is recorded only after its
transport confirmed the delivery (in one transaction); a run with nothing new sends nothing
(it only moves the target's run cursor); ``dry_run`` sends and records nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from nhictl.errors import ConfigError
from nhictl.net import HttpPolicy
from nhictl.notifiers.base import Delivery, Transport
from nhictl.notifiers.config import NotifyTarget, env_value
from nhictl.notifiers.digest import Digest, compute, record
from nhictl.secret import Secret
from nhictl.store.engine import Inventory
from nhictl.untrusted import register_secret

# How transports wait between attempts; tests replace it (attribute) so nothing sleeps.
sleep: Callable[[float], None] = time.sleep


@dataclass
class Outcome:
    target: NotifyTarget
    transport: str
    digest: Digest
    payload: dict[str, Any] | None  # None when there was nothing to send
    delivery: Delivery | None = None


def _secret(target: NotifyTarget, var: str, what: str) -> Secret:
    value = env_value(var)
    if value is None:
        raise ConfigError(f"notify target {target.name!r}: environment variable {var} "
                          f"({what}) is not set or empty",
                          hint=f"export {var} before running; the config names it, never "
                          "the value")
    register_secret(value)  # masked wherever a server might echo it
    return Secret(value)


def build_transport(target: NotifyTarget, *, api_url: str, policy: HttpPolicy,
                    http_transport: Any = None) -> Transport:
    """The target's transport, with its secrets read from the environment (exit 3 when one
    is missing or a URL is not allowed; nothing is sent or written)."""
    from nhictl.notifiers.slack import SlackChatTransport, SlackWebhookTransport
    from nhictl.notifiers.webhook import WebhookTransport

    def wait(seconds: float) -> None:
        sleep(seconds)  # looked up at call time: tests swap the module attribute

    if target.transport == "slack-chat":
        assert target.token_env and target.channel
        return SlackChatTransport(target=target.name, api_url=api_url,
                                  token=_secret(target, target.token_env, "the bot token"),
                                  token_env=target.token_env, channel=target.channel,
                                  policy=policy, sleep=wait)
    if target.transport == "slack-webhook":
        assert target.webhook_url_env
        return SlackWebhookTransport(
            target=target.name, url=_secret(target, target.webhook_url_env,
                                             "the incoming webhook URL"),
            policy=policy, sleep=wait, http_transport=http_transport)
    assert target.url_env and target.secret_env
    return WebhookTransport(target=target.name,
                            url=_secret(target, target.url_env, "the webhook URL"),
                            secret=_secret(target, target.secret_env, "the signing secret"),
                            policy=policy, sleep=wait, http_transport=http_transport)


def notify(inv: Inventory, target: NotifyTarget, transport: Transport, *, now: str,
           dry_run: bool = False) -> Outcome:
    """Deliver ``target``'s news (raises NotifyFailedError; then nothing is recorded)."""
    with inv.engine.connect() as conn:
        digest = compute(conn, target, now)
    outcome = Outcome(target, transport.description, digest, None)
    if not digest.empty:
        outcome.payload = transport.payload(digest, target.top)
    if dry_run:
        return outcome
    if outcome.payload is not None:
        outcome.delivery = transport.send(outcome.payload)
    with inv.engine.begin() as conn:
        record(conn, digest, now)
    return outcome
