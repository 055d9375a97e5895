"""``slack-directory``: ``users.info`` on each binding's Slack user and each bot token's
installer, with a token that has ``users:read`` (a workspace's, or an org-wide one).

The answer's ``deleted``, ``is_restricted``, ``is_ultra_restricted`` and ``is_bot`` (the
users.info shape in slack-api.md) become one ``user_status`` row per (workspace, user),
id ``<collector>:users.info:<team>:<user>``, updated in place each run: the positive
Slack evidence that an owner left even when their own token is already dead. The token's
own ``auth.test`` says which workspace (or org) it can see; subjects elsewhere are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from nhictl.errors import LedgerError
from nhictl.ledgers.base import LedgerContext, LedgerPage, Subject, WebApi
from nhictl.ledgers.model import KIND_DIRECTORY, USER_STATUS, LedgerEntry
from nhictl.secret import Secret
from nhictl.slack.errors import CallFailure

FLAGS = ("deleted", "is_restricted", "is_ultra_restricted", "is_bot")
PAGE = 50
# Answers that say nothing about the person (not visible to this token): skipped, counted.
_UNSEEN = ("user_not_found", "user_not_visible")


class DirectoryCollector:
    kind = KIND_DIRECTORY

    def __init__(self, name: str, web: WebApi, token: Secret) -> None:
        self.name = name
        self.web = web
        self.token = token

    def describe(self) -> str:
        return "users.info on binding owners and bot installers"

    def _call(self, method: str, params: dict[str, Any],
              workspace: str | None) -> dict[str, Any] | CallFailure:
        outcome = self.web.call(method, self.token, params, workspace=workspace)
        if isinstance(outcome, CallFailure):
            return outcome
        return dict(outcome[0])

    def _visible(self, who: dict[str, Any], subject: Subject) -> bool:
        if who.get("is_enterprise_install") and who.get("enterprise_id"):
            return True  # an org-wide token sees the org's users (others: user_not_found)
        return subject.workspace_id == who.get("team_id")

    def collect(self, ctx: LedgerContext) -> Iterator[LedgerPage]:
        who = self._call("auth.test", {}, None)
        if isinstance(who, CallFailure):
            raise LedgerError(f"ledger {self.name!r}: {who.reason}")
        entries: list[LedgerEntry] = []
        calls, skipped = 1, 0
        for subject in sorted(set(ctx.subjects), key=lambda s: (s.workspace_id or "",
                                                                 s.user_id)):
            if not self._visible(who, subject):
                skipped += 1
                continue
            data = self._call("users.info", {"user": subject.user_id}, subject.workspace_id)
            calls += 1
            if isinstance(data, CallFailure):
                if data.kind == "api" and data.code in _UNSEEN:
                    skipped += 1
                    continue
                hint = "the directory token needs users:read" \
                    if data.code == "missing_scope" else None
                raise LedgerError(f"ledger {self.name!r}: {data.reason}", hint=hint)
            raw_user = data.get("user")
            user: dict[str, Any] = raw_user if isinstance(raw_user, dict) else {}
            flags = {k: user[k] for k in FLAGS if isinstance(user.get(k), bool)}
            if "deleted" not in flags:
                skipped += 1  # an answer without the documented shape proves nothing
                continue
            team = subject.workspace_id or (user.get("team_id") if isinstance(
                user.get("team_id"), str) else None) or ""
            flags["call"] = "users.info"
            entries.append(LedgerEntry(
                id=f"{self.name}:users.info:{team}:{subject.user_id}", collector=self.name,
                kind=KIND_DIRECTORY, action=USER_STATUS, at=ctx.now,
                enterprise_id=subject.enterprise_id, workspace_id=team or None,
                user_id=subject.user_id, details=flags))
            if len(entries) >= PAGE:
                yield LedgerPage(entries=entries, calls=calls, skipped=skipped)
                entries, calls, skipped = [], 0, 0
        yield LedgerPage(entries=entries, calls=calls, skipped=skipped, position=ctx.now)
