"""The interface every Slack-side ledger collector implements.

A collector reads what Slack itself says (audit logs, integration logs, users.info) and
yields :class:`LedgerPage` s of :class:`~nhictl.ledgers.model.LedgerEntry`. The runner
stores each page as it comes (a crash keeps what was read; ids make a re-read harmless) and
moves the collector's checkpoint only when a page carries ``position``: the collector read
everything up to there. A collector that cannot finish raises
:class:`nhictl.errors.LedgerError` (exit 4) and its checkpoint stays where it was.

Each kind talks to Slack through a narrow client Protocol (:class:`AuditLogsApi`,
:class:`WebApi`) so a test can hand it the real slack_sdk client on the loopback sandbox.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from nhictl.ledgers.model import LedgerEntry


@dataclass(frozen=True)
class Subject:
    """A Slack user the inventory cares about: a binding's token user or a bot's installer."""

    workspace_id: str | None
    user_id: str
    enterprise_id: str | None = None


@dataclass(frozen=True)
class LedgerContext:
    """What a run hands a collector: its checkpoint, the subjects to look up, the clock."""

    position: str | None = None
    subjects: tuple[Subject, ...] = ()
    now: str = ""  # ISO 8601 UTC: when this run looked (directory rows)


@dataclass(frozen=True)
class LedgerPage:
    entries: list[LedgerEntry] = field(default_factory=list)
    position: str | None = None  # set on the last page of a complete read
    calls: int = 0  # API calls behind this page (429 retries included)
    skipped: int = 0  # entries read but not about the configured apps/actions


@runtime_checkable
class LedgerCollector(Protocol):
    name: str
    kind: str

    def collect(self, ctx: LedgerContext) -> Iterator[LedgerPage]:
        """Pages of entries; raises LedgerError when the read cannot be completed."""
        ...

    def describe(self) -> str:
        """One line for humans (never a secret)."""
        ...


class AuditLogsResponseLike(Protocol):
    """What slack_sdk's ``AuditLogsResponse`` carries (slack_sdk/audit_logs/v1/response.py)."""

    status_code: int
    headers: Mapping[str, Any]
    body: dict[str, Any] | None


class AuditLogsApi(Protocol):
    """slack_sdk's ``AuditLogsClient.logs`` (slack_sdk/audit_logs/v1/client.py)."""

    def logs(
        self,
        *,
        latest: int | None = None,
        oldest: int | None = None,
        limit: int | None = None,
        action: str | None = None,
        actor: str | None = None,
        entity: str | None = None,
        cursor: str | None = None,
        additional_query_params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any: ...


class WebApi(Protocol):
    """One Web API call with retries and rate limiting: :meth:`nhictl.slack.client.
    SlackClient.call` (``(data, headers)`` or a ``CallFailure``)."""

    def call(self, method: str, token: Any, params: Mapping[str, Any] | None = None, *,
             workspace: str | None = None, deadline: float | None = None,
             acquired: bool = False) -> Any: ...
