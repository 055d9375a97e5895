"""Live validation and revocation of Slack tokens on slack_sdk's sync ``WebClient``.

``SlackClient.validate`` calls ``auth.test`` (identity, granted scopes from ``x-oauth-scopes``)
and, when the token holds ``users:read``, ``users.info`` on the person behind it (the token's
own user; a bot token's installer when the source knows it). Outcomes:

* ``ok``: the token works; identity fields set.
* ``dead``: Slack says the grant is gone (``error`` in SLACK_DEAD_CODES; the status mapping is
  ``models.DEAD_TOKEN_STATUS``; ``detail`` says what the code means for this kind of token,
  as ambiguous as Slack is: ``errors.dead_meaning``). A dead code from ``users.info``
  (revoked between the calls) counts too.
* ``inconclusive``: nothing can be concluded, the status must not change. Transient failures
  (5xx, non-JSON bodies, connection errors, timeouts, ``fatal_error`` after retries, a 429 that
  outlasts the retry budget, the run deadline) and answers that do not describe the token:
  ``auth.test`` needs no scope, so ``missing_scope``/``no_permission`` or any other unexpected
  code there is recorded (``error`` set) but does not kill the binding, and so is a reply
  without the documented shape (``nhictl.slack.replies``). Inconclusive results
  carry only ``error``/``detail``. A transient failure of ``users.info`` makes the whole
  validation inconclusive, so a run after a fault clears equals a clean run.

Requests carry the token only in the Authorization header built by slack_sdk; slack_sdk's own
logger is replaced by a silent one, so its DEBUG request dumps can never be enabled by us.
The network step is :class:`nhictl.slack.transport.BoundedWebClient`: no redirect is followed
(a 3xx is a non-retryable failure naming the target's origin), each request has a total
deadline (``limits.request_timeout_s``, and never past the run's deadline) and a size cap. The
API URL must be https (or loopback http) without embedded credentials (:mod:`nhictl.net`).
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from slack_sdk.errors import SlackApiError

from nhictl import net
from nhictl.clock import Clock, iso, system_clock
from nhictl.models import ValidationResult
from nhictl.net import HttpLimits, check_credentialed_url
from nhictl.secret import Secret, token_kind_of
from nhictl.slack.errors import CallFailure, dead_meaning, from_api_error, from_exception
from nhictl.slack.ratelimit import Limit, RateLimiter
from nhictl.slack.replies import SLACK_ID, ReplyShapeError, parse_auth_test, parse_users_info
from nhictl.slack.transport import BoundedWebClient

if TYPE_CHECKING:
    from collections.abc import Iterable

    from nhictl.slack.validator import ProgressCallback, ValidationItem

_SDK_LOGGER = logging.getLogger("nhictl.slack.sdk")
_SDK_LOGGER.setLevel(logging.CRITICAL)  # explicit level: slack_sdk's DEBUG dumps stay off
_SDK_LOGGER.propagate = False
_SDK_LOGGER.addHandler(logging.NullHandler())


@dataclass
class ClientStats:
    """Counters for progress bars and summaries; updated from worker threads."""

    total: int = 0
    done: int = 0
    ok: int = 0
    dead: int = 0
    inconclusive: int = 0
    calls: int = 0
    http_429: int = 0
    retries: int = 0
    rate_limit_wait_s: float = 0.0
    rate_limit_waits: int = 0  # times a call was held back (limiter or Retry-After)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()

    def add(self, **deltas: float) -> None:
        with self._lock:
            for name, delta in deltas.items():
                setattr(self, name, getattr(self, name) + delta)

    def snapshot(self) -> ClientStats:
        with self._lock:
            return ClientStats(**{f.name: getattr(self, f.name) for f in fields(self)})


@dataclass(frozen=True)
class RevokeResult:
    """``outcome``: ``revoked``; ``test_ok`` (dry run: the token would be revoked); ``dead``
    (already dead at Slack, ``error`` says how); ``failed`` (``error``/``detail``: unexpected
    answer or transient failure; nothing is known to have changed)."""

    outcome: str
    error: str | None = None
    detail: str | None = None

    @property
    def ok(self) -> bool:
        return self.outcome in {"revoked", "test_ok", "dead"}


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int = 3  # 5xx, connection errors, timeouts, fatal_error
    max_429_retries: int = 5
    max_retry_after_s: float = 120.0  # a single longer Retry-After is not waited for
    backoff_base_s: float = 0.25
    backoff_max_s: float = 8.0


class SlackClient:
    """Validation and revocation client; thread-safe, share one per run."""

    def __init__(
        self,
        api_url: str = "https://slack.com/api/",
        *,
        timeout_s: float | None = None,
        rate_limits: Mapping[str, Limit] | None = None,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        monotonic: Callable[[], float] = time.monotonic,
        now: Clock = system_clock,
        rng: random.Random | None = None,
        limiter: RateLimiter | None = None,
        limits: HttpLimits | None = None,
        allow_insecure_http: bool = False,
    ) -> None:
        # Callers check first with a message naming where the URL came from; this is the
        # backstop for every other caller.
        check_credentialed_url(api_url, where="Slack API URL",
                               allow_insecure_http=allow_insecure_http)
        self.api_url = api_url
        self.retry = retry or RetryPolicy()
        self.sleep = sleep
        self.monotonic = monotonic
        self.now = now
        self._rng = rng or random.Random()
        self._rng_lock = threading.Lock()
        self.limiter = limiter or RateLimiter(rate_limits, clock=monotonic, sleep=sleep)
        self.stats = ClientStats()
        limits = limits or net.DEFAULT_LIMITS
        if timeout_s is not None:  # per socket operation; the total stays limits' own
            limits = replace(limits, read_timeout_s=timeout_s)
        # timeout: slack_sdk types it int; our transport hands it to the opener as a float.
        self._web = BoundedWebClient(
            base_url=api_url,
            timeout=limits.read_timeout_s,  # type: ignore[arg-type]
            retry_handlers=[],  # retries are ours: bounded, jittered, injectable sleep
            logger=_SDK_LOGGER,
            limits=limits,
        )

    # -- one call ------------------------------------------------------------------------------

    def _backoff(self, attempt: int) -> float:
        base = min(self.retry.backoff_max_s, self.retry.backoff_base_s * float(2**attempt))
        with self._rng_lock:
            jitter: float = self._rng.uniform(0, base / 2)
        return base / 2 + jitter

    def _wait(self, seconds: float, deadline: float | None) -> bool:
        if deadline is not None and self.monotonic() + seconds > deadline:
            return False
        if seconds > 0:
            self.sleep(seconds)
        return True

    def call(
        self,
        method: str,
        token: Secret,
        params: Mapping[str, Any] | None = None,
        *,
        workspace: str | None = None,
        deadline: float | None = None,
        acquired: bool = False,
    ) -> tuple[dict[str, Any], dict[str, Any]] | CallFailure:
        """One Web API call with limiting and retries: ``(data, headers)`` or a CallFailure."""
        failures = 0
        limited = 0
        while True:
            if not acquired:
                waited = self.limiter.acquire(workspace, method, deadline)
                if waited < 0:
                    return CallFailure("transient", None, f"{method}: run deadline reached")
                if waited:
                    self.stats.add(rate_limit_wait_s=waited, rate_limit_waits=1)
            acquired = False
            self.stats.add(calls=1)
            outcome = self._send(method, token, params, deadline)
            if not isinstance(outcome, CallFailure):
                return outcome
            if outcome.kind == "ratelimited":
                self.stats.add(http_429=1)
                after = outcome.retry_after if outcome.retry_after is not None else 1.0
                limited += 1
                if limited > self.retry.max_429_retries or after > self.retry.max_retry_after_s:
                    return _exhausted(outcome, "rate limited beyond the retry budget")
                self.limiter.block(workspace, method, after)
                # Retry-After 0 (tests) still backs off a little; the bucket paces the rest.
                pause = after if after > 0 else self._backoff(0) / 4
                if not self._wait(pause, deadline):
                    return _exhausted(outcome, "rate limited past the run deadline")
                self.stats.add(retries=1, rate_limit_wait_s=pause, rate_limit_waits=1)
                continue
            if not outcome.retryable:
                return outcome
            failures += 1
            if failures > self.retry.max_retries:
                return outcome
            if not self._wait(self._backoff(failures - 1), deadline):
                return outcome
            self.stats.add(retries=1)

    def _send(
        self, method: str, token: Secret, params: Mapping[str, Any] | None,
        deadline: float | None = None,
    ) -> tuple[dict[str, Any], dict[str, Any]] | CallFailure:
        args = {"token": token.reveal(), **(params or {})}
        # The run deadline, on the transport's clock (``self.monotonic`` may be a test's).
        self._web.run_deadline.value = (
            None if deadline is None else time.monotonic() + (deadline - self.monotonic()))
        try:
            response = self._web.api_call(method, params=args)
        except SlackApiError as exc:
            return from_api_error(method, exc)
        except AttributeError:
            # slack_sdk's SlackResponse.validate() calls .get on the parsed body: a JSON array,
            # string or number answer lands here. A strange reply, not a bug of ours.
            return CallFailure("malformed", None, f"{method}: reply is not a JSON object")
        except Exception as exc:  # translate transport errors; anything else is a bug
            failure = from_exception(method, exc)
            if failure is None:
                raise
            return failure
        data = response.data
        if not isinstance(data, dict) or data.get("ok") is not True:
            # slack_sdk lets any truthy "ok" through ("true", 1): only Slack's boolean counts.
            return CallFailure("malformed", None, f"{method}: reply has no ok: true")
        return dict(data), dict(response.headers)

    # -- validation ----------------------------------------------------------------------------

    def validate(
        self,
        token: Secret,
        workspace_hint: str | None = None,
        *,
        deadline: float | None = None,
        acquired: bool = False,
        installer_user_id: str | None = None,
    ) -> ValidationResult:
        """Validate one token (see module doc for outcomes).

        ``users.info`` (when the token holds ``users:read``) asks about the token's own user
        for a user token, and about ``installer_user_id`` (when the source knows it) for a bot
        token: the bot user is no person, its installer is the accountable one.
        """
        kind_by_prefix = token_kind_of(token.reveal())
        auth = self.call(
            "auth.test", token, workspace=workspace_hint, deadline=deadline, acquired=acquired
        )
        if isinstance(auth, CallFailure):
            return _failed(auth, kind_by_prefix)
        try:
            reply = parse_auth_test(*auth)
        except ReplyShapeError as exc:
            return ValidationResult(outcome="inconclusive", detail=str(exc))
        expires_at = None
        if reply.expires_in is not None:
            expires_at = iso(self.now() + timedelta(seconds=reply.expires_in))
        is_bot = bool(reply.bot_id) or kind_by_prefix == "bot"
        result = ValidationResult(
            outcome="ok",
            workspace_id=reply.team_id,
            workspace_name=reply.team_name,
            enterprise_id=reply.enterprise_id,
            slack_user_id=reply.user_id,
            bot_id=reply.bot_id,
            token_kind="bot" if is_bot else "user",
            granted_scopes=reply.scopes,
            token_expires_at=expires_at,
        )
        person = installer_user_id if is_bot else reply.user_id
        if "users:read" not in reply.scopes or not person or not SLACK_ID.fullmatch(person):
            return result
        info = self.call(
            "users.info",
            token,
            {"user": person},
            workspace=result.workspace_id,
            deadline=deadline,
        )
        if isinstance(info, CallFailure):
            if info.kind == "api":  # e.g. user_not_found: the token lives, its user unchecked
                result.detail = info.reason
                return result
            return _failed(info, kind_by_prefix)
        try:
            deleted = parse_users_info(info[0], person)
        except ReplyShapeError as exc:
            return ValidationResult(outcome="inconclusive", detail=str(exc))
        result.slack_user_checked = True
        result.slack_user_deleted = deleted
        return result

    def validate_many(
        self,
        items: Iterable[ValidationItem | tuple[str, Secret, str | None]
                        | tuple[str, Secret, str | None, str | None]],
        *,
        concurrency: int = 16,
        deadline_s: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> dict[str, ValidationResult]:
        """Validate many tokens concurrently; see :func:`nhictl.slack.validator.validate_many`."""
        from nhictl.slack.validator import validate_many

        return validate_many(
            self, items, concurrency=concurrency, deadline_s=deadline_s, on_progress=on_progress
        )

    # -- revocation ----------------------------------------------------------------------------

    def revoke(
        self, token: Secret, test: bool = False, *, workspace_hint: str | None = None
    ) -> RevokeResult:
        """``auth.revoke`` the token (``test=True``: Slack's dry run, nothing changes)."""
        params = {"test": "1"} if test else None
        outcome = self.call("auth.revoke", token, params, workspace=workspace_hint)
        if isinstance(outcome, CallFailure):
            if outcome.kind == "dead":
                return RevokeResult("dead", outcome.code, outcome.reason)
            return RevokeResult("failed", outcome.code, outcome.reason)
        data = outcome[0]
        if test:
            return RevokeResult("test_ok")
        if data.get("revoked") is True:  # only Slack's boolean says so, not "yes" or 1
            return RevokeResult("revoked")
        # Say what the reply lacked without quoting the server's value (it is untrusted).
        if "revoked" not in data:
            why = "ok but no revoked field"
        elif data["revoked"] is False:
            why = "ok but revoked is false"
        else:
            why = "ok but revoked is not the boolean true"
        return RevokeResult("failed", None, f"auth.revoke: {why}")


def _exhausted(failure: CallFailure, why: str) -> CallFailure:
    return CallFailure("transient", failure.code, f"{failure.reason}: {why}", failure.status)


def _failed(failure: CallFailure, kind_by_prefix: str | None) -> ValidationResult:
    if failure.kind == "dead":
        meaning = dead_meaning(failure.code, kind_by_prefix)
        return ValidationResult(
            outcome="dead", error=failure.code, token_kind=kind_by_prefix,
            detail=meaning or failure.reason,
        )
    return ValidationResult(outcome="inconclusive", error=failure.code, detail=failure.reason)


__all__ = ["ClientStats", "RetryPolicy", "RevokeResult", "SlackClient"]
