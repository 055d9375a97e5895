"""One httpx exchange bounded in time and size, for requests that carry a credential.

httpx's timeouts apply per socket operation, so a server dripping its headers or body one
byte at a time never trips them. Here a :class:`nhictl.net.Watchdog` learns the socket from
httpcore's ``trace`` extension (``connection.connect_tcp.complete`` / ``start_tls.complete``,
whose ``return_value`` is the network stream) and shuts it down at the request's deadline; the
body is streamed and cut at the size cap; redirects are never followed, whatever the client.
The caller's client must not keep connections alive, or a reused socket would escape the
watchdog (:class:`nhictl.sources.http.ApiClient` builds its client that way).
"""

from __future__ import annotations

from typing import Any

import httpx

from nhictl import net
from nhictl.net import HttpPolicy, Watchdog, redirect_refused, timed_out, too_large

_DROPPED = ("content-encoding", "content-length", "transfer-encoding")


def send_bounded(
    client: httpx.Client, request: httpx.Request, policy: HttpPolicy, read_timeout: float
) -> httpx.Response:
    """Send ``request`` and read its whole body within ``policy``'s limits and deadline.

    Returns a complete response (body already read and decoded). Raises NetworkLimitError
    (redirect, size cap, deadline) or what httpx raises for other transport failures.
    """
    deadline, by_run = policy.request_deadline()
    budget = max(0.001, deadline - net.monotonic())
    limit = policy.limits.max_response_bytes
    with Watchdog(deadline) as dog:

        def trace(event: str, info: dict[str, Any]) -> None:
            if event in ("connection.connect_tcp.complete", "connection.start_tls.complete"):
                get = getattr(info.get("return_value"), "get_extra_info", None)
                dog.attach(get("socket") if get is not None else None)

        request.extensions = {**request.extensions, "trace": trace,
                              "timeout": httpx.Timeout(min(read_timeout, budget)).as_dict()}
        chunks: list[bytes] = []
        try:
            response = client.send(request, stream=True, follow_redirects=False)
            try:
                if 300 <= response.status_code < 400:
                    raise redirect_refused(response.status_code,
                                           response.headers.get("location"), str(request.url))
                declared = response.headers.get("content-length", "")
                if declared.strip().isdigit() and int(declared) > limit:
                    raise too_large(limit)
                size = 0
                for chunk in response.iter_bytes():  # decoded: the cap bounds memory
                    size += len(chunk)
                    if size > limit:
                        raise too_large(limit)
                    chunks.append(chunk)
                    if dog.expired():
                        break
            finally:
                response.close()
        except httpx.TransportError:
            if dog.fired:
                raise timed_out(budget, by_run=by_run) from None
            raise
        if dog.expired():
            raise timed_out(budget, by_run=by_run)
    kept = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _DROPPED]
    return httpx.Response(response.status_code, headers=kept, content=b"".join(chunks),
                          request=request)
