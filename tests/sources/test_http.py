"""The shared broker HTTP client: retries, rate limits, auth errors, translation, paging."""

from __future__ import annotations

import secrets
from collections.abc import Callable

import httpx
import pytest

from nhictl.errors import ExitCode, SourceError
from nhictl.secret import Secret
from nhictl.sources.http import (
    ApiClient,
    PageGuard,
    error_code,
    normalize_time,
    purpose_list,
    quote_segment,
)

Handler = Callable[[httpx.Request], httpx.Response]


def fake_key() -> str:
    return "sk_test_fake" + secrets.token_hex(8)


def make(
    handler: Handler, key: str = "", sleeps: list[float] | None = None, **kw: object
) -> ApiClient:
    slept = sleeps if sleeps is not None else []
    return ApiClient(
        source="pipes",
        base_url="https://broker.test/",
        secret=Secret(key or fake_key()),
        env_var="WORKOS_API_KEY",
        transport=httpx.MockTransport(handler),
        sleep=slept.append,
        **kw,  # type: ignore[arg-type]
    )


def sequence(*responses: httpx.Response | Exception) -> tuple[Handler, list[httpx.Request]]:
    seen: list[httpx.Request] = []
    queue = list(responses)

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        item = queue.pop(0) if len(queue) > 1 else queue[0]
        if isinstance(item, Exception):
            raise item
        return item

    return handler, seen


def test_sends_bearer_key_and_timeout() -> None:
    key = fake_key()
    handler, seen = sequence(httpx.Response(200, json={"ok": 1}))
    api = make(handler, key=key, timeout=3.5)
    assert api.get_json("/x", params={"limit": 5}) == {"ok": 1}
    req = seen[0]
    assert req.headers["authorization"] == f"Bearer {key}"
    assert req.url == httpx.URL("https://broker.test/x?limit=5")
    assert req.extensions["timeout"]["read"] == 3.5


def test_429_honours_retry_after() -> None:
    sleeps: list[float] = []
    handler, seen = sequence(
        httpx.Response(429, headers={"Retry-After": "2"}),
        httpx.Response(200, json={"a": 1}),
    )
    assert make(handler, sleeps=sleeps).get_json("/x") == {"a": 1}
    assert sleeps == [2.0]
    assert len(seen) == 2


def test_429_longer_than_cap_stops() -> None:
    handler, _ = sequence(httpx.Response(429, headers={"Retry-After": "3600"}))
    with pytest.raises(SourceError, match="rate limited"):
        make(handler, max_retry_after=30).get_json("/x")


def test_5xx_retried_with_exponential_backoff() -> None:
    sleeps: list[float] = []
    handler, seen = sequence(
        httpx.Response(503), httpx.Response(502), httpx.Response(200, json={})
    )
    make(handler, sleeps=sleeps).get_json("/x")
    assert sleeps == [0.5, 1.0]
    assert len(seen) == 3


def test_5xx_forever_gives_up_bounded() -> None:
    sleeps: list[float] = []
    handler, seen = sequence(httpx.Response(500))
    with pytest.raises(SourceError) as info:
        make(handler, sleeps=sleeps, max_attempts=4).get_json("/x")
    assert len(seen) == 4
    assert len(sleeps) == 3
    assert "after 4 attempts" in str(info.value)
    assert info.value.exit_code == ExitCode.PARTIAL
    assert info.value.source == "pipes"


def test_connection_errors_retried_then_translated() -> None:
    key = fake_key()
    handler, seen = sequence(httpx.ConnectError("refused"), httpx.Response(200, json={}))
    assert make(handler, key=key).get_json("/x") == {}
    assert len(seen) == 2

    handler, _ = sequence(httpx.ReadTimeout("slow"))
    with pytest.raises(SourceError) as info:
        make(handler, key=key, max_attempts=2).get_json("/x")
    assert "ReadTimeout" in str(info.value)
    assert key not in str(info.value)
    assert not isinstance(info.value, httpx.HTTPError)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_failure_hints_env_var_without_retry(status: int) -> None:
    key = fake_key()
    handler, seen = sequence(httpx.Response(status, json={"message": key}))
    with pytest.raises(SourceError) as info:
        make(handler, key=key).get_json("/user_management/users")
    assert info.value.hint == "check the key in $WORKOS_API_KEY"
    assert f"HTTP {status}" in str(info.value)
    assert key not in str(info.value) and key not in (info.value.hint or "")
    assert len(seen) == 1


def test_other_4xx_is_an_error_unless_allowed() -> None:
    handler, _ = sequence(httpx.Response(404, json={"error": {"code": "unknown_connection"}}))
    api = make(handler)
    with pytest.raises(SourceError, match=r"HTTP 404 \(unknown_connection\)"):
        api.request("GET", "/c")
    assert api.request("GET", "/c", allow=(404,)).status_code == 404


def test_free_text_bodies_are_never_echoed() -> None:
    handler, _ = sequence(httpx.Response(400, json={"error": "token xoxp fake leaked here"}))
    with pytest.raises(SourceError) as info:
        make(handler).request("GET", "/c")
    assert "leaked" not in str(info.value)


def test_non_json_body_is_a_source_error() -> None:
    handler, _ = sequence(httpx.Response(200, text="<html>"))
    with pytest.raises(SourceError, match="not JSON"):
        make(handler).get_json("/x")
    handler, _ = sequence(httpx.Response(200, json=[1, 2]))
    with pytest.raises(SourceError, match="not a JSON object"):
        make(handler).get_json("/x")


def test_unsupported_scheme_is_refused_before_any_request() -> None:
    from nhictl.errors import ConfigError

    with pytest.raises(ConfigError, match="must be an https:// URL"):
        ApiClient(source="s", base_url="ftp://nope", secret=Secret(fake_key()))


def test_page_guard_detects_repeated_cursor_and_budget() -> None:
    guard = PageGuard("s", "users", max_pages=3)
    guard.advance("a")
    with pytest.raises(SourceError, match="repeated a cursor"):
        guard.advance("a")
    guard = PageGuard("s", "users", max_pages=2)
    guard.advance("a")
    guard.advance("b")
    with pytest.raises(SourceError, match="exceeded 2 pages"):
        guard.advance("c")


def test_small_helpers() -> None:
    assert normalize_time("2026-12-31T23:59:59.000Z") == "2026-12-31T23:59:59Z"
    assert normalize_time(0) == "1970-01-01T00:00:00Z"
    assert normalize_time("garbage") is None
    assert normalize_time(None) is None
    assert purpose_list("notifications") == ["notifications"]
    assert purpose_list(["a", "b"]) == ["a", "b"]
    assert purpose_list(None) == []
    assert quote_segment("a/b c") == "a%2Fb%20c"
    assert error_code(httpx.Response(424, json={"error": {"code": "invalid_credentials"}})) == (
        "invalid_credentials"
    )
    assert error_code(httpx.Response(500, text="oops")) is None
