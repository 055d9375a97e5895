"""Validate many tokens concurrently under per-workspace limits.

Workers pull from a scheduler that keeps one queue per workspace hint and hands out the next
item (round robin) whose workspace may make an ``auth.test`` call now, so a throttled
workspace never holds up the others. Items without a hint are not throttled before the call.
Each result depends only on what Slack answers for that token, so results are the same
whatever the concurrency.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from nhictl.models import TokenKind, ValidationResult
from nhictl.secret import Secret
from nhictl.slack.client import ClientStats, SlackClient
from nhictl.slack.errors import CallFailure
from nhictl.slack.replies import SLACK_ID, ReplyShapeError, parse_users_info

ProgressCallback = Callable[[str, ValidationResult, ClientStats], None]

_MAX_IDLE_S = 0.05  # a worker waiting for a throttled workspace re-checks at least this often


class ValidationItem(NamedTuple):
    key: str
    token: Secret
    workspace_hint: str | None = None
    # The Slack user behind the token as last known: a user token's user, a bot token's
    # installer. Asked about with users.info (never taken as the token's identity).
    person_id: str | None = None


class _Scheduler:
    def __init__(self, client: SlackClient, items: list[ValidationItem]) -> None:
        self._client = client
        self._queues: dict[str | None, deque[ValidationItem]] = {}
        for item in items:
            self._queues.setdefault(item.workspace_hint, deque()).append(item)
        self._order = list(self._queues)
        self._next = 0
        self._lock = threading.Lock()

    def take(self, deadline: float | None) -> tuple[ValidationItem | None, bool]:
        """The next item and whether it may go (False: deadline reached); (None, _) when done."""
        limiter = self._client.limiter
        waited = 0.0
        while True:
            with self._lock:
                if not self._order:
                    return None, True
                if deadline is not None and self._client.monotonic() >= deadline:
                    return self._pop(0), False
                soonest = float("inf")
                count = len(self._order)
                for step in range(count):
                    index = (self._next + step) % count
                    wait = limiter.try_acquire(self._order[index], "auth.test")
                    if wait <= 0.0:
                        item = self._pop(index)
                        if waited:
                            self._client.stats.add(rate_limit_wait_s=waited,
                                                   rate_limit_waits=1)
                        return item, True
                    soonest = min(soonest, wait)
            pause = min(soonest, _MAX_IDLE_S)
            self._client.sleep(pause)
            waited += pause

    def _pop(self, index: int) -> ValidationItem:
        workspace = self._order[index]
        queue = self._queues[workspace]
        item = queue.popleft()
        if queue:
            self._next = (index + 1) % len(self._order)
        else:
            del self._order[index]
            del self._queues[workspace]
            self._next = index % len(self._order) if self._order else 0
        return item


def validate_many(
    client: SlackClient,
    items: Iterable[ValidationItem | tuple[str, Secret, str | None]
                    | tuple[str, Secret, str | None, str | None]],
    *,
    concurrency: int = 16,
    deadline_s: float | None = None,
    on_progress: ProgressCallback | None = None,
) -> dict[str, ValidationResult]:
    """Validate every item; keys must be unique. Results for items not started before the
    deadline are inconclusive (``detail``: run deadline reached)."""
    work = [ValidationItem(*item) for item in items]
    if len({item.key for item in work}) != len(work):
        raise ValueError("validation keys must be unique")
    stats = client.stats
    stats.add(total=len(work))
    deadline = None if deadline_s is None else client.monotonic() + deadline_s
    scheduler = _Scheduler(client, work)
    results: dict[str, ValidationResult] = {}
    results_lock = threading.Lock()

    def finish(key: str, result: ValidationResult) -> None:
        counter = {"ok": "ok", "dead": "dead"}.get(result.outcome, "inconclusive")
        stats.add(done=1, **{counter: 1})
        with results_lock:
            results[key] = result
        if on_progress is not None:
            on_progress(key, result, stats.snapshot())

    def worker() -> None:
        while True:
            item, go = scheduler.take(deadline)
            if item is None:
                return
            if not go:
                finish(
                    item.key,
                    ValidationResult(outcome="inconclusive", detail="run deadline reached"),
                )
                continue
            finish(
                item.key,
                client.validate(item.token, item.workspace_hint, deadline=deadline,
                                acquired=True, installer_user_id=item.person_id),
            )

    workers = max(1, min(concurrency, len(work)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="nhictl-validate") as pool:
        futures = [pool.submit(worker) for _ in range(workers)]
        for future in futures:
            future.result()
    _ask_the_directory(client, work, results, deadline)
    return {item.key: results[item.key] for item in work}


# Dead codes that may mean "the user was deleted", among other things
# (docs.slack.dev/reference/methods/auth.test, "Errors").
_MAYBE_USER_DELETED = frozenset({"token_revoked", "account_inactive"})


def _ask_the_directory(
    client: SlackClient,
    work: list[ValidationItem],
    results: dict[str, ValidationResult],
    deadline: float | None,
) -> None:
    """Turn an ambiguous dead user token into evidence where the workspace allows it.

    A dead user token cannot ask about its own user; a live bot token of the same workspace
    holding ``users:read`` can. Only bot tokens are used: they are the app's own identity, so
    no person's token is used to look up another person. No such token: the result stays
    as ambiguous as Slack's code.
    """
    directory: dict[str, Secret] = {}
    for item in work:
        r = results[item.key]
        if (r.outcome == "ok" and r.token_kind == TokenKind.BOT and r.workspace_id
                and "users:read" in (r.granted_scopes or [])):
            directory.setdefault(r.workspace_id, item.token)
    for item in work:
        r = results[item.key]
        if (r.outcome != "dead" or r.error not in _MAYBE_USER_DELETED
                or r.token_kind != TokenKind.USER
                or not item.person_id or not SLACK_ID.fullmatch(item.person_id)):
            continue
        token = directory.get(item.workspace_hint or "")
        if token is None:
            continue
        if deadline is not None and client.monotonic() >= deadline:
            return
        answer = client.call("users.info", token, {"user": item.person_id},
                             workspace=item.workspace_hint, deadline=deadline)
        if isinstance(answer, CallFailure):
            continue  # user_not_found, a fault: no evidence either way
        try:
            deleted = parse_users_info(answer[0], item.person_id)
        except ReplyShapeError:
            continue
        r.slack_user_checked = True
        r.slack_user_deleted = deleted
        if deleted:
            r.detail = "the user was deleted, per users.info"
        elif r.error == "token_revoked":  # the workspace lives (its bot answered)
            r.detail = ("the user is not deleted, per users.info: the grant was revoked or "
                        "the app was removed")

