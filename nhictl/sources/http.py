"""A robust JSON-over-HTTPS client shared by the broker sources (WorkOS Pipes, Nango).

Everything that can go wrong on the wire ends here as :class:`nhictl.errors.SourceError`:

* every request has a timeout per socket operation and a total deadline (a watchdog shuts the
  socket down at ``HttpLimits.request_timeout_s`` or the run's ``--deadline``, whichever comes
  first), and its body is read in chunks up to ``HttpLimits.max_response_bytes``;
* redirects are never followed: the request carries the key, so a 3xx is an error naming the
  status and the target's origin (:mod:`nhictl.net`); ``base_url`` must be https (or loopback
  http, or ``--allow-insecure-http``) without embedded credentials;
* HTTP 429 is honoured via ``Retry-After`` (seconds or an HTTP date, capped);
* 5xx answers and connection errors are retried with bounded exponential backoff;
* 401/403 stop the source at once with a hint naming the environment variable of the key;
* every httpx exception is translated here, and no message ever carries the key or a token
  (messages name the method and path only; response bodies are never echoed, except a short
  machine error code such as ``invalid_credentials``).

The sleep function is injectable so tests never wait for real time. :class:`PageGuard` keeps
pagination from looping forever (a page budget plus repeated-cursor detection).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Collection, Hashable, Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote

import httpx

from nhictl import untrusted
from nhictl.clock import iso, parse_time
from nhictl.errors import NetworkLimitError, SourceError
from nhictl.net import HttpPolicy, check_credentialed_url, origin
from nhictl.secret import Secret
from nhictl.sources.bounded import send_bounded

Sleep = Callable[[float], None]

DEFAULT_TIMEOUT = 10.0
DEFAULT_MAX_ATTEMPTS = 5
DEFAULT_MAX_PAGES = 1000

def safe_code(value: object) -> str | None:
    """A short machine error code from a response body, or None (never echo free text)."""
    return untrusted.code(value)  # code-shaped only: never a key or free text


def error_code(response: httpx.Response) -> str | None:
    """The error code of a JSON error body: ``{"error": "x"}``, ``{"error": {"code": "x"}}``,
    or ``{"code": "x"}``; None when the body is not one of these."""
    try:
        body = response.json()
    except ValueError:
        return None
    if not isinstance(body, dict):
        return None
    err = body.get("error")
    if isinstance(err, dict):
        return safe_code(err.get("code"))
    return safe_code(err) or safe_code(body.get("code"))


def normalize_time(value: object) -> str | None:
    """An ISO 8601 time (or epoch seconds) in the canonical stored form; None if unusable."""
    if value is None or isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | float):
            return iso(datetime.fromtimestamp(float(value), UTC))
        if isinstance(value, str) and value.strip():
            return iso(parse_time(value))
    except (ValueError, OverflowError, OSError):
        return None
    return None


class PageGuard:
    """Bounds a pagination loop: at most ``max_pages`` pages (None: no budget, for cursor
    paging where a repeated cursor is the only way to loop) and no repeated cursor.

    Call :meth:`advance` with the cursor (or any hashable page signature) before each request
    after the first; it raises SourceError when the loop would never end.
    """

    def __init__(self, source: str, what: str, max_pages: int | None = DEFAULT_MAX_PAGES) -> None:
        self.source = source
        self.what = what
        self.max_pages = max_pages
        self.pages = 0
        self._seen: set[Hashable] = set()

    def seen(self, cursor: Hashable) -> bool:
        return cursor in self._seen

    def advance(self, cursor: Hashable) -> None:
        if cursor in self._seen:
            raise SourceError(
                self.source,
                f"pagination of {self.what} repeated a cursor; the listing is incomplete",
                hint="the service returned the same page twice; retry later or report it",
            )
        self._seen.add(cursor)
        self.pages += 1
        if self.max_pages is not None and self.pages > self.max_pages:
            raise SourceError(
                self.source,
                f"pagination of {self.what} exceeded {self.max_pages} pages; stopped",
                hint="raise the page budget if this source really is that large",
            )


class ApiClient:
    """JSON API client with bearer auth, retries and error translation for one source."""

    def __init__(
        self,
        *,
        source: str,
        base_url: str,
        secret: Secret,
        env_var: str | None = None,
        client: httpx.Client | None = None,
        transport: httpx.BaseTransport | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff: float = 0.5,
        max_backoff: float = 8.0,
        max_retry_after: float = 60.0,
        sleep: Sleep = time.sleep,
        policy: HttpPolicy | None = None,
    ) -> None:
        self.policy = policy or HttpPolicy()
        # The CLI checks first, naming the config key; this is the backstop for other callers.
        check_credentialed_url(base_url, where=f"source {source!r}: base_url",
                               allow_insecure_http=self.policy.allow_insecure_http)
        self.source = source
        self.base_url = base_url.rstrip("/")
        self.origin = origin(base_url)
        self._secret = secret
        self.env_var = env_var
        self.max_attempts = max(1, max_attempts)
        self.backoff = backoff
        self.max_backoff = max_backoff
        self.max_retry_after = max_retry_after
        self.sleep = sleep
        self._owns_client = client is None
        if client is None:
            # No keep-alive: the watchdog learns each request's socket when it connects.
            client = httpx.Client(
                timeout=httpx.Timeout(timeout), transport=transport, follow_redirects=False,
                limits=httpx.Limits(max_keepalive_connections=0),
            )
        self._client = client
        self.read_timeout = timeout

    # -- lifecycle -------------------------------------------------------------------------
    def close(self) -> None:
        if self._owns_client:
            self._client.close()

    def __enter__(self) -> ApiClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- requests --------------------------------------------------------------------------
    def _auth_hint(self) -> str:
        if self.env_var:
            return f"check the key in ${self.env_var}"
        return "check the source's API key"

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
        json: Any = None,
        allow: Collection[int] = (),
    ) -> httpx.Response:
        """Send one request, retrying 429/5xx/connection errors within the attempt budget.

        Returns the response when it is 2xx or its status is in ``allow`` (for statuses the
        caller interprets, e.g. 404 or 424). Anything else raises SourceError.
        """
        what = f"{method} {path}"
        url = self.base_url + path
        headers = {
            "Authorization": f"Bearer {self._secret.reveal()}",
            "Accept": "application/json",
            # Uncompressed: the size cap then bounds what the wire can make us hold.
            "Accept-Encoding": "identity",
            "User-Agent": "nhictl",
        }
        last_problem = "no attempt made"
        for attempt in range(1, self.max_attempts + 1):
            final = attempt == self.max_attempts
            try:
                response = self._send(what, method, url, params, json, headers)
            except NetworkLimitError as exc:
                if not exc.retryable:
                    raise SourceError(self.source, f"{what}: {exc.message}") from None
                last_problem = f"{exc.message} from {self.origin}"
                if not final:
                    self._pause(self._backoff(attempt), what)
                continue
            except httpx.UnsupportedProtocol as exc:
                raise SourceError(
                    self.source,
                    f"{what}: unsupported URL scheme in base URL {self.origin}",
                    hint="base_url must start with https:// (or http:// for a local sandbox)",
                ) from exc
            except httpx.TransportError as exc:
                last_problem = f"{type(exc).__name__} talking to {self.origin}"
                if not final:
                    self._pause(self._backoff(attempt), what)
                continue
            except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
                raise SourceError(
                    self.source, f"{what}: request failed ({type(exc).__name__})"
                ) from exc

            status = response.status_code
            if status in (401, 403):
                raise SourceError(
                    self.source,
                    f"{what}: not authorized (HTTP {status})",
                    hint=self._auth_hint(),
                )
            if 200 <= status < 300 or status in allow:
                return response
            if status == 429:
                wait = self._retry_after(response)
                last_problem = f"rate limited (HTTP 429) by {self.origin}"
                if wait is None:
                    raise SourceError(
                        self.source,
                        f"{what}: rate limited for longer than {self.max_retry_after:g}s",
                        hint="retry later",
                    )
                if not final:
                    self._pause(wait, what)
                continue
            if status >= 500:
                last_problem = f"HTTP {status} from {self.origin}"
                if not final:
                    self._pause(self._backoff(attempt), what)
                continue
            code = error_code(response)
            detail = f" ({code})" if code else ""
            raise SourceError(self.source, f"{what}: unexpected HTTP {status}{detail}")
        raise SourceError(
            self.source,
            f"{what}: unavailable after {self.max_attempts} attempts: {last_problem}",
            hint="the service may be down; this source was not read completely, retry later",
        )

    def _send(self, what: str, method: str, url: str, params: Mapping[str, str | int] | None,
              json: Any, headers: dict[str, str]) -> httpx.Response:
        remaining = self.policy.remaining()
        if remaining is not None and remaining <= 0:
            raise SourceError(self.source, f"{what}: run deadline reached; stopped",
                              hint="raise --deadline or retry later")
        request = self._client.build_request(
            method, url, params=dict(params) if params else None, json=json, headers=headers)
        return send_bounded(self._client, request, self.policy, self.read_timeout)

    def _pause(self, seconds: float, what: str) -> None:
        """Sleep before a retry, unless that would pass the run's deadline."""
        remaining = self.policy.remaining()
        if remaining is not None and seconds >= remaining:
            raise SourceError(self.source, f"{what}: run deadline reached while retrying; "
                              "stopped", hint="raise --deadline or retry later")
        self.sleep(seconds)

    def json_body(self, response: httpx.Response, what: str) -> dict[str, Any]:
        """The JSON object of a response, or SourceError (never the body text)."""
        try:
            body = response.json()
        except ValueError as exc:
            raise SourceError(self.source, f"{what}: response is not JSON") from exc
        if not isinstance(body, dict):
            raise SourceError(self.source, f"{what}: response is not a JSON object")
        return body

    def get_json(
        self,
        path: str,
        *,
        params: Mapping[str, str | int] | None = None,
    ) -> dict[str, Any]:
        return self.json_body(self.request("GET", path, params=params), f"GET {path}")

    # -- helpers ---------------------------------------------------------------------------
    def _backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff, self.backoff * (2 ** (attempt - 1))))

    def _retry_after(self, response: httpx.Response) -> float | None:
        """Seconds to wait (0 when absent/garbled); None when longer than the cap."""
        raw = response.headers.get("retry-after")
        wait = 1.0
        if raw is not None:
            text = raw.strip()
            try:
                wait = float(text)
            except ValueError:
                try:
                    when = parsedate_to_datetime(text)
                    wait = when.timestamp() - time.time()
                except (TypeError, ValueError, IndexError):
                    wait = 1.0
        wait = max(0.0, wait)
        if wait > self.max_retry_after:
            return None
        return wait


def purpose_list(value: str | Collection[str] | None) -> list[str]:
    """A config ``default_purpose`` (one string, a list, or nothing) as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [value] if value else []
    return [p for p in value if p]


def quote_segment(value: str) -> str:
    """One URL path segment, escaped (ids from a broker never reshape the path)."""
    return quote(value, safe="")


class BrokerSource:
    """What the WorkOS and Nango sources share: naming, defaults, paging limits and the
    robust API client (their constructors keep their own secret-parameter names)."""

    def __init__(
        self,
        name: str,
        *,
        base_url: str,
        secret: Secret,
        env_var: str | None,
        default_purpose: str | Collection[str] | None,
        tenant: str | None,
        client: httpx.Client | None,
        transport: httpx.BaseTransport | None,
        timeout: float,
        sleep: Sleep,
        max_attempts: int,
        page_limit: int,
        max_pages: int | None,
        policy: HttpPolicy | None = None,
    ) -> None:
        self.name = name
        self.base_url = base_url
        self.default_purpose = purpose_list(default_purpose)
        self.tenant = tenant
        self.page_limit = max(1, page_limit)
        self.max_pages = max_pages
        self._api = ApiClient(source=name, base_url=base_url, secret=secret, env_var=env_var,
                              client=client, transport=transport, timeout=timeout,
                              max_attempts=max_attempts, sleep=sleep, policy=policy)

    def close(self) -> None:
        self._api.close()
