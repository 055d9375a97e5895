"""Rules for every request that carries a credential (a Slack token, a broker's API key).

* URLs: only ``https://``, or ``http://`` to a loopback host (127.0.0.0/8, ::1, localhost),
  unless the operator opts out for a lab (``--allow-insecure-http``). A URL with embedded
  credentials (``user:pass@``) is refused, and only ever shown through :func:`mask_url`.
* Redirects: never followed (the clients say so; a 3xx is an error naming the target's
  origin), so a credential cannot be re-sent to wherever a server points.
* Bounds: each request has a total deadline (``request_timeout_s``, and never past the run's
  ``--deadline``) enforced by a :class:`Watchdog` that shuts the socket down, because socket
  timeouts are per read and a server dripping one byte at a time never trips them; bodies
  are read in chunks up to ``max_response_bytes``.

This module stays free of httpx and slack_sdk (config loading imports it).
"""

from __future__ import annotations

import contextlib
import ipaddress
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from nhictl.errors import ConfigError, NetworkLimitError, NhictlError

INSECURE_HTTP_HINT = (
    "use https://; for a lab server, pass --allow-insecure-http "
    "(or NHICTL_ALLOW_INSECURE_HTTP=1): credentials then cross the network in clear text"
)
_PASSWORD_IN_URL = re.compile(r"[a-z][a-z0-9+.-]*://[^/?#@\s:]*:[^/?#@\s]*@", re.IGNORECASE)
_HOST_SHAPE = re.compile(r"^[A-Za-z0-9._:\[\]-]{1,255}$")


def _host_text(host: str | None) -> str:
    if host and _HOST_SHAPE.match(host):
        return f"[{host}]" if ":" in host and not host.startswith("[") else host
    return "<unprintable host>"


def origin(url: str) -> str:
    """``scheme://host[:port]`` of a URL, for messages: never userinfo, path or query, and
    never a host that is not host-shaped (a server's ``Location`` is untrusted text)."""
    try:
        parts = urlsplit(url.strip())
        port = parts.port
    except ValueError:
        return "<invalid url>"
    scheme = parts.scheme.lower() if re.fullmatch(r"[a-z][a-z0-9+.-]{0,15}", parts.scheme,
                                                  re.IGNORECASE) else ""
    if not scheme or not parts.hostname:
        return "<invalid url>"
    return f"{scheme}://{_host_text(parts.hostname)}" + (f":{port}" if port else "")


def mask_url(url: str) -> str:
    """A URL for messages: its origin and a short path, with any ``user:pass@`` shown as
    ``***@``; the query and a long path are cut (a webhook's path is its secret)."""
    base = origin(url)
    if base == "<invalid url>":
        return base
    parts = urlsplit(url.strip())
    user = "***@" if "@" in parts.netloc else ""
    scheme, _, rest = base.partition("://")
    path = re.sub(r"[^A-Za-z0-9._~/%-]", "?", parts.path)
    if len(path) > 24:
        path = "/" + path.lstrip("/").split("/", 1)[0][:16] + "/…"
    return f"{scheme}://{user}{rest}{path}"


def has_credentials(url: str) -> bool:
    """Whether a URL embeds credentials (``user@`` or ``user:pass@`` before the host)."""
    try:
        return "@" in urlsplit(url.strip()).netloc
    except ValueError:
        return False


def has_password(text: str) -> bool:
    """Whether a URL somewhere in ``text`` carries ``user:password@``."""
    return _PASSWORD_IN_URL.search(text) is not None


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost":
        return True
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def credentialed_url_problem(url: str, *, allow_insecure_http: bool) -> tuple[str, str] | None:
    """Why ``url`` must not carry a credential, as (message, hint); None when it may."""
    if has_credentials(url):
        return ("embeds credentials (user:password@); they would be sent and shown",
                "remove them from the URL; keys come from environment variables")
    try:
        parts = urlsplit(url.strip())
        parts.port  # noqa: B018 (raises on a bad port)
    except ValueError:
        return "is not a valid URL", "expected https://host/..."
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.hostname:
        return "must be an https:// URL", "expected https://host/..."
    if scheme == "http" and not is_loopback(parts.hostname) and not allow_insecure_http:
        return ("is plain http:// to a non-loopback host; the credential would cross the "
                "network in clear text", INSECURE_HTTP_HINT)
    return None


def check_credentialed_url(
    url: str, *, where: str, allow_insecure_http: bool,
    error: Callable[..., NhictlError] = ConfigError,
) -> None:
    """Raise ``error`` (ConfigError: exit 3; UsageError: exit 2) naming ``where`` and the
    masked URL when ``url`` may not carry a credential."""
    problem = credentialed_url_problem(url, allow_insecure_http=allow_insecure_http)
    if problem is not None:
        message, hint = problem
        raise error(f"{where} {mask_url(url)}: {message}", hint=hint)


@dataclass(frozen=True)
class HttpLimits:
    """Bounds of one request: total time, time per socket operation, response size."""

    request_timeout_s: float = 30.0
    read_timeout_s: float = 10.0
    max_response_bytes: int = 8 * 1024 * 1024


DEFAULT_LIMITS = HttpLimits()


def monotonic() -> float:
    """The clock of run and request deadlines (``time.monotonic``). One seam for tests, as
    ``DEFAULT_LIMITS`` is: a deadline test holds it still while the run sets up, so a loaded
    machine cannot spend a sub-second ``--deadline`` before the request it is about."""
    return time.monotonic()


@dataclass(frozen=True)
class HttpPolicy:
    """What one run allows its network clients: plain http (lab opt-out), the per-request
    limits, and the run's deadline (a ``time.monotonic`` instant, or None)."""

    allow_insecure_http: bool = False
    limits: HttpLimits = field(default_factory=lambda: DEFAULT_LIMITS)
    deadline: float | None = None

    def remaining(self) -> float | None:
        return None if self.deadline is None else self.deadline - monotonic()

    def request_deadline(self) -> tuple[float, bool]:
        """The ``time.monotonic`` instant one request must end by, and whether that is the
        run's deadline (rather than the request's own timeout)."""
        end = monotonic() + self.limits.request_timeout_s
        if self.deadline is not None and self.deadline <= end:
            return self.deadline, True
        return end, False


class Watchdog:
    """Shuts down the sockets of one request when its deadline passes, which ends any
    blocked read (a dripped header or body) at once. ``fired`` tells the caller why."""

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.fired = False
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._timer = threading.Timer(max(0.0, deadline - monotonic()), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def attach(self, sock: Any) -> None:
        if not isinstance(sock, socket.socket):
            return
        with self._lock:
            if self.fired:
                _shutdown(sock)
            else:
                self._sockets.append(sock)

    def expired(self) -> bool:
        return self.fired or monotonic() >= self.deadline

    def _fire(self) -> None:
        with self._lock:
            self.fired = True
            for sock in self._sockets:
                _shutdown(sock)

    def cancel(self) -> None:
        self._timer.cancel()
        with self._lock:
            self._sockets.clear()

    def __enter__(self) -> Watchdog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.cancel()


def _shutdown(sock: socket.socket) -> None:
    # The plain socket method also for a TLS socket: ``SSLSocket.shutdown`` would drop its
    # SSL object under the thread still reading from it. OSError: closed, nothing to stop.
    with contextlib.suppress(OSError):
        socket.socket.shutdown(sock, socket.SHUT_RDWR)


def too_large(limit: int) -> NetworkLimitError:
    return NetworkLimitError(f"response larger than {limit} bytes; not read", retryable=False)


def timed_out(seconds: float, *, by_run: bool = False) -> NetworkLimitError:
    """The request's total deadline passed. Not retried: a server that cannot finish one
    small answer in time is not helped by asking again, and retries would multiply the time
    a hostile server holds a run (and its write lock)."""
    if by_run:
        return NetworkLimitError("run deadline (--deadline) reached before the response was "
                                 "complete", retryable=False)
    return NetworkLimitError(f"no complete response within {round(seconds, 2):g}s",
                             retryable=False)


def redirect_refused(status: int, location: str | None, base: str) -> NetworkLimitError:
    """A 3xx on a credentialed request: an error naming the status and the target's origin."""
    from urllib.parse import urljoin

    target = origin(urljoin(base, location)) if location else "(no Location)"
    return NetworkLimitError(
        f"HTTP {status} redirect to {target} not followed (requests carrying credentials "
        "never follow redirects)", retryable=False)


__all__ = [
    "DEFAULT_LIMITS",
    "HttpLimits",
    "HttpPolicy",
    "Watchdog",
    "check_credentialed_url",
    "credentialed_url_problem",
    "has_credentials",
    "is_loopback",
    "mask_url",
    "origin",
]
