"""The built-in source ``nhictl``: nhictl's own Slack credentials, governed like any other.

Every token nhictl itself is configured with (a ``[[ledgers]]`` collector's ``token_env``, a
``[[notify]]`` Slack target's ``token_env``) is one binding here, with the purpose of its
job, so reconcile validates it (auth.test tells its real scopes) and the usual rules apply:
a collector or notifier token holding more than its job needs is ``scope_exceeds_purpose``.
The token is read from its environment variable when collected and never stored (only its
fingerprint, as always).

Other config sections add their credentials by extending :data:`CREDENTIAL_FINDERS`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from nhictl.config import Config
from nhictl.models import SourceRecord
from nhictl.secret import Secret, token_kind_of
from nhictl.sources.base import InMemoryTokenMixin

SOURCE_NAME = "nhictl"
OWNER = "nhictl"  # accountable: whoever runs this nhictl (the config's owner)

# The job of each ledger kind -> the purpose its token is held for (nhictl/policy.py).
LEDGER_PURPOSES = {
    "slack-audit": "nhictl-audit-logs",
    "slack-integration-logs": "nhictl-integration-logs",
    "slack-directory": "nhictl-directory",
}


@dataclass(frozen=True)
class OwnCredential:
    connection_id: str  # stable: "<section>:<name>", e.g. "ledger:org-audit"
    purpose: str  # a key of the policy's purposes, e.g. "nhictl-audit-logs"
    token_env: str
    described_as: str  # where it is configured, e.g. "[[ledgers]] org-audit (slack-audit)"


def ledger_credentials(config: Config) -> list[OwnCredential]:
    return [OwnCredential(f"ledger:{c.name}", LEDGER_PURPOSES[c.kind], c.token_env,
                          f"[[ledgers]] {c.name} ({c.kind})") for c in config.ledgers]


def notify_credentials(config: Config) -> list[OwnCredential]:
    """A ``[[notify]]`` Slack target's bot token: posting alerts needs ``chat:write`` only
    (an incoming webhook URL is no token: nothing to validate)."""
    return [OwnCredential(f"notify:{t.name}", "nhictl-notify", t.token_env,
                          f"[[notify]] {t.name} (slack, channel {t.channel})")
            for t in config.notify if t.token_env]


CREDENTIAL_FINDERS: list[Callable[[Config], list[OwnCredential]]] = [
    ledger_credentials, notify_credentials]


def own_credentials(config: Config) -> list[OwnCredential]:
    return [c for finder in CREDENTIAL_FINDERS for c in finder(config)]


class OwnCredentialsSource(InMemoryTokenMixin):
    """One binding per credential nhictl is configured with."""

    kind = "nhictl"

    def __init__(self, credentials: list[OwnCredential], name: str = SOURCE_NAME) -> None:
        self.name = name
        self.credentials = credentials

    def describe(self) -> str:
        return f"nhictl's own credentials ({len(self.credentials)})"

    def collect(self) -> Iterator[SourceRecord]:
        for cred in self.credentials:
            value = os.environ.get(cred.token_env)
            token = Secret(value) if value else None
            yield SourceRecord(
                connection_id=cred.connection_id,
                tenant=OWNER,
                owner_id=OWNER,
                owner_name=f"nhictl: {cred.described_as}",
                purpose=[cred.purpose],
                token_kind=token_kind_of(value) if value else None,
                metadata={"configured_as": cred.described_as, "token_env": cred.token_env},
                token=token,
            )


def own_source(config: Config) -> OwnCredentialsSource | None:
    """The built-in source, when nhictl holds any credential of its own."""
    credentials = own_credentials(config)
    return OwnCredentialsSource(credentials) if credentials else None
