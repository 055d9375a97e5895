"""slack_sdk's ``WebClient`` with a bounded network step: no redirects, a total deadline per
request, a response size cap.

slack_sdk (slack_sdk/web/base_client.py, ``BaseClient._perform_urllib_http_request_internal``)
sends each call with ``urllib.request.urlopen``: its default opener follows 301/302/303 to any
host and copies every header but Content-Length/Content-Type onto the new request
(``urllib.request.HTTPRedirectHandler.redirect_request``), so the ``Authorization: Bearer``
header went wherever a redirect pointed; ``resp.read()`` reads without a size limit; and the
socket timeout applies per read, so a body dripped byte by byte never ends.

This module replaces only that one network step (slack_sdk still builds the request and parses
and validates the answer): an opener without a redirect or error-raising handler, so every
status comes back as a response (a 3xx becomes :class:`~nhictl.errors.NetworkLimitError`); a
:class:`~nhictl.net.Watchdog` that shuts the socket down at the request's deadline; and a body
read in chunks up to the cap. It returns the dict shape slack_sdk's method returns (status,
headers, decoded body), so non-200 answers still become ``SlackApiError`` upstream.
"""

from __future__ import annotations

import codecs
import functools
import http.client
import threading
import time
import urllib.request
from typing import Any

from slack_sdk import WebClient

from nhictl.net import DEFAULT_LIMITS, HttpLimits, Watchdog, redirect_refused, timed_out, too_large

_CHUNK = 64 * 1024
# The method replaced below; if slack_sdk ever renames it, fail loudly at import rather than
# silently fall back to a client that follows redirects.
assert hasattr(WebClient, "_perform_urllib_http_request_internal")


class _Guarded(http.client.HTTPConnection):
    """Hands its socket to the request's watchdog as soon as it is connected."""

    def __init__(self, *args: Any, watchdog: Watchdog, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._watchdog = watchdog

    def connect(self) -> None:
        super().connect()
        self._watchdog.attach(self.sock)


class _GuardedTls(_Guarded, http.client.HTTPSConnection):
    pass


class _HttpHandler(urllib.request.HTTPHandler):
    def __init__(self, watchdog: Watchdog) -> None:
        super().__init__()
        self._watchdog = watchdog

    def http_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_Guarded, watchdog=self._watchdog), req)


class _HttpsHandler(urllib.request.HTTPSHandler):
    def __init__(self, watchdog: Watchdog, context: Any) -> None:
        super().__init__(context=context)
        self._watchdog = watchdog
        self._tls_context = context

    def https_open(self, req: urllib.request.Request) -> http.client.HTTPResponse:
        return self.do_open(functools.partial(_GuardedTls, watchdog=self._watchdog), req,
                            context=self._tls_context)


def _opener(watchdog: Watchdog, proxy: str | None, context: Any) -> urllib.request.OpenerDirector:
    opener = urllib.request.OpenerDirector()
    # Deliberately absent: HTTPRedirectHandler and HTTPErrorProcessor.
    proxies = {"http": proxy, "https": proxy} if proxy else {}
    for handler in (urllib.request.ProxyHandler(proxies), urllib.request.UnknownHandler(),
                    _HttpHandler(watchdog), _HttpsHandler(watchdog, context)):
        opener.add_handler(handler)
    return opener


def read_capped(response: Any, limit: int, watchdog: Watchdog) -> bytes:
    """The body of an ``http.client`` response, at most ``limit`` bytes."""
    declared = response.headers.get("content-length")
    if declared and declared.strip().isdigit() and int(declared) > limit:
        raise too_large(limit)
    chunks: list[bytes] = []
    size = 0
    while True:
        chunk = response.read1(_CHUNK)  # returns after one socket read: the cap is checked
        if not chunk:
            break
        size += len(chunk)
        if size > limit:
            raise too_large(limit)
        chunks.append(chunk)
        if watchdog.expired():
            break  # the caller turns the cut-off body into a timeout
    return b"".join(chunks)


def _decode(body: bytes, charset: str | None) -> str:
    try:
        codecs.lookup(charset or "utf-8")
    except LookupError:
        charset = "utf-8"  # a server's made-up charset must not crash the run
    return body.decode(charset or "utf-8", errors="replace")


class BoundedWebClient(WebClient):
    """``WebClient`` whose every request is bounded (see the module doc); thread-safe.

    ``request_deadline`` may hold a ``time.monotonic`` instant for the calls of the current
    thread (the run's deadline), set by :class:`nhictl.slack.client.SlackClient`.
    """

    def __init__(self, *args: Any, limits: HttpLimits = DEFAULT_LIMITS, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.limits = limits
        self.run_deadline = threading.local()

    def _perform_urllib_http_request_internal(
        self, url: str, req: urllib.request.Request
    ) -> dict[str, Any]:
        limits = self.limits
        deadline = time.monotonic() + limits.request_timeout_s
        run_end: float | None = getattr(self.run_deadline, "value", None)
        by_run = run_end is not None and run_end <= deadline
        if run_end is not None and by_run:
            deadline = run_end
        budget = deadline - time.monotonic()
        if budget <= 0:
            raise timed_out(0, by_run=by_run)
        proxy = self.proxy if isinstance(self.proxy, str) and self.proxy.strip() else None
        with Watchdog(deadline) as watchdog:
            try:
                response = _opener(watchdog, proxy, self.ssl).open(
                    req, timeout=min(limits.read_timeout_s, budget))
                with response:
                    if 300 <= response.status < 400:
                        raise redirect_refused(response.status,
                                               response.headers.get("location"), url)
                    body = read_capped(response, limits.max_response_bytes, watchdog)
            except (OSError, http.client.HTTPException):
                if watchdog.fired:
                    raise timed_out(budget, by_run=by_run) from None
                raise
            if watchdog.expired():
                raise timed_out(budget, by_run=by_run)
        headers = dict(response.headers.items())
        text = _decode(body, response.headers.get_content_charset())
        return {"status": response.status, "headers": headers, "body": text}


__all__ = ["BoundedWebClient", "read_capped"]
