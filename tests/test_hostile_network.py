"""Issue 11, classes 2 and 3: servers that attack the tool, driven through the real CLI.

* A credential never follows a redirect (Slack via slack_sdk's urllib path, brokers via httpx);
  the target of a 3xx is named (origin only) and never contacted.
* Plain http:// to a non-loopback host is refused for every credentialed URL unless
  --allow-insecure-http; URLs with embedded credentials are refused and never echoed.
* Every request has a total deadline and a size cap (a body or header dripped byte by byte,
  a body without end), and --deadline bounds the whole run.

Deadlines here are fractions of a second (small limits injected through ``nhictl.net``); the
hostile servers drip for seconds, so a client without a total deadline fails the timing and
the message assertions instead of hanging.
"""

from __future__ import annotations

import os
import secrets
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from nhictl import net
from nhictl.net import HttpLimits
from tests.cli.e2e import Result, nhictl, write_private
from tests.engines import InventoryDb
from tests.hostile import Hostile, answer, drip, endless, redirect
from tests.test_secret_leak import Needles

pytestmark = pytest.mark.engine_neutral("hostile servers against the network clients")

AUTH_OK = {"ok": True, "user_id": "U1", "team_id": "T1", "team": "Acme"}
SMALL = HttpLimits(request_timeout_s=0.3, read_timeout_s=0.25, max_response_bytes=64 * 1024)
WORKOS_USERS = {"data": [], "list_metadata": {"before": None, "after": None}}


def _token() -> str:
    return f"xoxp-FAKE-{secrets.token_hex(12)}"


def _key() -> str:
    return f"sk_test_FAKE{secrets.token_hex(12)}"


@pytest.fixture
def small_limits(monkeypatch: pytest.MonkeyPatch) -> HttpLimits:
    monkeypatch.setattr(net, "DEFAULT_LIMITS", SMALL)
    return SMALL


@pytest.fixture
def export(nhictl_env: Path, tmp_path: Path) -> tuple[Path, str]:
    token = _token()
    path = write_private(tmp_path / "export.json", [{"id": "c1", "access_token": token}])
    assert nhictl("init").code == 0
    return path, token


def _reconcile(api_url: str, export: Path, *extra: str) -> Result:
    return nhictl("--slack-api-url", api_url, "reconcile", "--source", f"file:{export}",
                  "-o", "json", *extra)


def _stored(db: Path) -> dict[str, bytes]:
    """What the inventory's directory holds (the SQLite file, the key), and on PostgreSQL
    every row of the database NHICTL_DB names."""
    stored = {str(p): p.read_bytes() for p in db.parent.iterdir()} if db.parent.exists() else {}
    url = os.environ.get("NHICTL_DB", "")
    if url.startswith("postgresql://"):
        stored[url] = "\n".join(InventoryDb("postgresql", url, None, db).dump()).encode()
    return stored


def _no_secret(secret: str, result: Result, db: Path) -> None:
    needles = Needles([secret])
    assert needles.hits((result.out + result.err).encode()) == []
    for where, data in _stored(db).items():
        assert needles.hits(data) == [], where
    assert "Traceback" not in result.err


def _binding() -> dict[str, Any]:
    listed = nhictl("inventory", "list", "-o", "json")
    (binding,) = listed.json()["bindings"]
    return dict(binding)


def _workos_config(tmp_path: Path, base_url: str) -> Path:
    config = tmp_path / "nhictl.toml"
    config.write_text(f'[[sources]]\nname = "pipes"\nkind = "workos"\n'
                      f'api_key_env = "WORKOS_API_KEY"\nbase_url = "{base_url}"\n')
    return config


# -- class 2: redirects ----------------------------------------------------------------------

@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
def test_slack_token_never_follows_a_redirect(
    nhictl_env: Path, export: tuple[Path, str], status: int
) -> None:
    path, token = export
    with Hostile(answer(200, AUTH_OK, X_OAuth_Scopes="chat:write")) as other, \
            Hostile(redirect(f"{other.url}/api/auth.test", status)) as slack:
        result = _reconcile(f"{slack.url}/api/", path)
    assert other.requests == []  # the second "host" never saw the request, nor the token
    assert [auth for _m, _p, auth in slack.requests] == [f"Bearer {token}"]
    assert result.code == 4, result.err
    expected = f"auth.test: HTTP {status} redirect to http://127.0.0.1:{other.port} not followed"
    assert expected in result.err
    binding = _binding()
    assert binding["status"] == "unvalidated"
    _no_secret(token, result, nhictl_env)


def test_broker_key_never_follows_a_redirect(
    nhictl_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = _key()
    monkeypatch.setenv("WORKOS_API_KEY", key)
    assert nhictl("init").code == 0
    with Hostile(answer(200, WORKOS_USERS)) as other, \
            Hostile(redirect(f"{other.url}/user_management/users")) as broker:
        config = _workos_config(tmp_path, broker.url)
        run = nhictl("--config", str(config), "reconcile", "--no-validate")
        test = nhictl("--config", str(config), "sources", "test", "pipes")
    assert other.requests == []
    for result in (run, test):
        assert result.code == 4, result.err
        assert f"HTTP 302 redirect to http://127.0.0.1:{other.port} not followed" in result.err
        _no_secret(key, result, nhictl_env)
    assert len([line for line in test.err.splitlines() if line.startswith("nhictl:")]) == 1


def test_broker_client_refuses_redirects_even_on_a_client_that_follows_them() -> None:
    from nhictl.errors import SourceError
    from nhictl.secret import Secret
    from nhictl.sources.http import ApiClient

    key = _key()
    with Hostile(answer(200, {"ok": 1})) as other, \
            Hostile(redirect(f"{other.url}/x")) as broker, \
            httpx.Client(follow_redirects=True) as following:
        api = ApiClient(source="s", base_url=broker.url, secret=Secret(key), client=following)
        with pytest.raises(SourceError, match=r"redirect to .* not followed"):
            api.get_json("/x")
    assert other.requests == []


def test_slack_revoke_never_follows_a_redirect() -> None:
    from nhictl.secret import Secret
    from nhictl.slack import SlackClient

    with Hostile(answer(200, {"ok": True, "revoked": True})) as other, \
            Hostile(redirect(f"{other.url}/api/auth.revoke")) as slack:
        result = SlackClient(f"{slack.url}/api/").revoke(Secret(_token()))
    assert other.requests == []
    assert result.outcome == "failed"
    assert result.detail is not None and "redirect" in result.detail


# -- class 2: plain http and embedded credentials ---------------------------------------------

# 0.0.0.0 is not loopback by the rule (a routable-looking address), yet on Linux connecting
# to it reaches this machine: the opt-out can be exercised without leaving the host.
def test_plain_http_to_a_non_loopback_slack_url_is_refused(
    nhictl_env: Path, export: tuple[Path, str], tmp_path: Path
) -> None:
    path, token = export
    with Hostile(answer(200, AUTH_OK, X_OAuth_Scopes="chat:write")) as slack:
        lab = f"http://0.0.0.0:{slack.port}/api/"
        by_option = _reconcile(lab, path)
        config = tmp_path / "lab.toml"
        config.write_text(f'[slack]\napi_url = "{lab}"\n')
        by_config = nhictl("--config", str(config), "reconcile", "--source", f"file:{path}")
        assert slack.requests == []
        opted_out = nhictl("--allow-insecure-http", "--config", str(config), "reconcile",
                           "--source", f"file:{path}")
        by_env = nhictl("--slack-api-url", lab, "reconcile", "--source", f"file:{path}",
                        env={"NHICTL_ALLOW_INSECURE_HTTP": "1"})
    assert by_option.code == 2, by_option.err
    assert by_config.code == 3, by_config.err
    for result in (by_option, by_config):
        first = result.err.splitlines()[0]
        assert "is plain http:// to a non-loopback host" in first
        assert "--allow-insecure-http" in result.err.splitlines()[1]
    assert f"{config}: slack.api_url http://0.0.0.0:{slack.port}/api/" in by_config.err
    assert opted_out.code == 0, opted_out.err
    assert by_env.code == 0, by_env.err
    assert len(slack.requests) == 2
    _no_secret(token, by_option, nhictl_env)


def test_plain_http_to_a_non_loopback_broker_is_refused(
    nhictl_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("WORKOS_API_KEY", _key())
    assert nhictl("init").code == 0
    with Hostile(answer(200, WORKOS_USERS)) as broker:
        config = _workos_config(tmp_path, f"http://0.0.0.0:{broker.port}")
        refused = nhictl("--config", str(config), "sources", "test", "pipes")
        run = nhictl("--config", str(config), "reconcile", "--no-validate")
        assert broker.requests == []
        allowed = nhictl("--allow-insecure-http", "--config", str(config), "sources", "test",
                         "pipes")
    for result in (refused, run):
        assert result.code == 3, result.err
        assert "sources[0] (pipes).base_url http://0.0.0.0" in result.err
        assert "plain http://" in result.err
    assert allowed.code == 0, allowed.err
    assert len(broker.requests) == 1


@pytest.mark.parametrize("url", ["http://127.0.0.1:9/api/", "http://127.3.4.5:9/",
                                 "http://localhost:9/", "http://[::1]:9/",
                                 "https://slack.com/api/", "https://api.nango.dev"])
def test_loopback_http_and_https_may_carry_credentials(url: str) -> None:
    assert net.credentialed_url_problem(url, allow_insecure_http=False) is None


@pytest.mark.parametrize("url", ["http://slack.com/api/", "http://0.0.0.0/",
                                 "http://10.0.0.1/", "http://localhost.evil.example/",
                                 "http://127.0.0.1.nip.io/", "ftp://127.0.0.1/",
                                 "https://u:p@slack.com/api/", "https://tok@127.0.0.1/",
                                 "not a url", "https://host:99999/"])
def test_other_urls_may_not(url: str) -> None:
    assert net.credentialed_url_problem(url, allow_insecure_http=False) is not None


def test_urls_with_embedded_credentials_are_refused_and_never_echoed(
    nhictl_env: Path, tmp_path: Path, export: tuple[Path, str]
) -> None:
    path, _token = export
    password = "Pw" + secrets.token_hex(8)
    bad = f"https://nhuser:{password}@127.0.0.1:9/api/"
    by_option = nhictl("--slack-api-url", bad, "reconcile", "--source", f"file:{path}",
                       "--no-validate")
    slack_cfg = tmp_path / "slack.toml"
    slack_cfg.write_text(f'[slack]\napi_url = "{bad}"\n')
    by_config = nhictl("--config", str(slack_cfg), "inventory", "list")
    broker_cfg = _workos_config(tmp_path, bad)
    by_broker = nhictl("--config", str(broker_cfg), "sources", "list")
    assert by_option.code == 2, by_option.err
    assert "https://***@127.0.0.1:9/api/" in by_option.err
    assert by_config.code == 3 and "slack.api_url: must not embed credentials" in by_config.err
    assert by_broker.code == 3 and "base_url: must not embed credentials" in by_broker.err
    for result in (by_option, by_config, by_broker):
        assert password not in result.out + result.err
        assert "nhuser" not in result.out + result.err
    runs = nhictl("inventory", "list", "-o", "json")  # nothing ran: no run recorded it either
    assert password not in runs.out
    for where, data in _stored(nhictl_env).items():
        assert password.encode() not in data, where


def test_url_credentials_are_masked_in_every_message() -> None:
    from nhictl.secret import mask_tokens

    text = "nhictl reconcile -s slack-store:sqlalchemy:postgresql://app:Hunter2x@db:5432/x"
    assert mask_tokens(text) == ("nhictl reconcile -s "
                                 "slack-store:sqlalchemy:postgresql://***@db:5432/x")
    assert net.mask_url("https://a:b@h.example:8443/p?key=1") == "https://***@h.example:8443/p"


# -- class 3: time and size bounds ----------------------------------------------------------

# The drips last a minute (the server stops dripping when the test leaves its block), far past
# the bound asserted, so a loaded CI machine has ample slack while an unbounded client still
# fails by a wide margin.
DRIP_BYTES = 3000
BOUND = 20.0

@pytest.mark.parametrize("headers_too", [False, True], ids=["body", "headers"])
def test_a_dripping_slack_ends_at_the_request_deadline(
    nhictl_env: Path, export: tuple[Path, str], small_limits: HttpLimits, headers_too: bool
) -> None:
    path, token = export
    with Hostile(drip(interval=0.02, total=DRIP_BYTES, headers_too=headers_too)) as slack:
        start = time.monotonic()
        result = _reconcile(f"{slack.url}/api/", path)
        took = time.monotonic() - start
    assert result.code == 4, result.err
    assert "auth.test: no complete response within 0.3s" in result.err
    assert took < BOUND  # the drip lasts 60 s
    assert slack.sent < DRIP_BYTES  # the client hung up
    assert len(slack.requests) == 1  # not retried
    _no_secret(token, result, nhictl_env)


def test_a_slack_body_without_end_is_cut_at_the_size_cap(
    nhictl_env: Path, export: tuple[Path, str], small_limits: HttpLimits
) -> None:
    path, token = export
    with Hostile(endless()) as slack:
        result = _reconcile(f"{slack.url}/api/", path)
    assert result.code == 4, result.err
    assert f"auth.test: response larger than {SMALL.max_response_bytes} bytes" in result.err
    assert slack.sent < 8 * 1024 * 1024  # stopped long before the server gave up (64 MiB)
    _no_secret(token, result, nhictl_env)


@pytest.mark.parametrize("behaviour", ["drip", "drip-headers", "endless"])
def test_a_hostile_broker_is_bounded(
    nhictl_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    small_limits: HttpLimits, behaviour: str
) -> None:
    key = _key()
    monkeypatch.setenv("WORKOS_API_KEY", key)
    assert nhictl("init").code == 0
    serve = {"drip": drip(), "drip-headers": drip(headers_too=True), "endless": endless()}
    with Hostile(serve[behaviour]) as broker:
        config = _workos_config(tmp_path, broker.url)
        start = time.monotonic()
        result = nhictl("--config", str(config), "sources", "test", "pipes")
        took = time.monotonic() - start
    assert result.code == 4, result.err
    assert took < BOUND
    why = ("response larger than" if behaviour == "endless"
           else "no complete response within 0.3s")
    assert why in result.err.splitlines()[0]
    assert len(broker.requests) == 1
    _no_secret(key, result, nhictl_env)


class HeldClock:
    """The run's deadline clock (``nhictl.net.monotonic``) held still until ``started()``
    (the server has the request), then running at real speed: the run's setup (opening the
    inventory on a loaded machine) cannot spend the deadline before the read it is about,
    which made the sub-second deadline below a race."""

    def __init__(self, started: Callable[[], bool]) -> None:
        self._started = started
        self._held = time.monotonic()
        self._since: float | None = None

    def __call__(self) -> float:
        if self._since is None:
            if not self._started():
                return self._held
            self._since = time.monotonic()
        return self._held + (time.monotonic() - self._since)


def test_deadline_bounds_the_whole_run_source_reads(
    nhictl_env: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Default limits (30 s per request): only --deadline can end this run early.
    key = _key()
    monkeypatch.setenv("WORKOS_API_KEY", key)
    assert nhictl("init").code == 0
    with Hostile(drip(interval=0.02, total=DRIP_BYTES)) as broker:
        monkeypatch.setattr(net, "monotonic", HeldClock(lambda: bool(broker.requests)))
        config = _workos_config(tmp_path, broker.url)
        start = time.monotonic()
        result = nhictl("--config", str(config), "reconcile", "--deadline", "0.5")
        took = time.monotonic() - start
    assert result.code == 4, result.err
    assert took < BOUND  # the drip lasts 60 s
    assert "run deadline (--deadline) reached" in result.err
    assert "'pipes' was not read completely" in result.err
    _no_secret(key, result, nhictl_env)


def test_deadline_bounds_the_whole_run_validation(
    nhictl_env: Path, export: tuple[Path, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    path, token = export
    with Hostile(drip(interval=0.02, total=DRIP_BYTES)) as slack:
        monkeypatch.setattr(net, "monotonic", HeldClock(lambda: bool(slack.requests)))
        start = time.monotonic()
        result = _reconcile(f"{slack.url}/api/", path, "--deadline", "0.5")
        took = time.monotonic() - start
    assert result.code == 4, result.err
    assert took < BOUND
    assert "run deadline (--deadline) reached" in result.err
    assert _binding()["status"] == "unvalidated"
    _no_secret(token, result, nhictl_env)


def test_sources_list_masks_a_store_url_password(nhictl_env: Path, tmp_path: Path) -> None:
    password = "Pw" + secrets.token_hex(8)
    config = tmp_path / "nhictl.toml"
    config.write_text('[[sources]]\nname = "bolt"\nkind = "slack-store"\n'
                      f'store = "sqlalchemy:postgresql://app:{password}@db.internal/bolt"\n')
    for fmt in ("table", "json", "csv"):
        listed = nhictl("--config", str(config), "sources", "list", "-o", fmt)
        assert listed.code == 0, listed.err
        assert password not in listed.out + listed.err
        assert "postgresql://***@db.internal/bolt" in listed.out


def test_broker_retries_stop_at_the_run_deadline() -> None:
    from nhictl.errors import SourceError
    from nhictl.secret import Secret
    from nhictl.sources.http import ApiClient

    slept: list[float] = []
    policy = net.HttpPolicy(deadline=time.monotonic() + 0.5)
    api = ApiClient(source="s", base_url="https://broker.test", secret=Secret(_key()),
                    transport=httpx.MockTransport(lambda _r: httpx.Response(503)),
                    backoff=1.0, sleep=slept.append, policy=policy)
    with pytest.raises(SourceError, match="run deadline reached while retrying"):
        api.get_json("/x")
    assert slept == []  # a 1 s backoff would end past the deadline: not slept at all


def test_a_store_spec_with_a_password_is_refused_and_never_recorded(
    nhictl_env: Path, export: tuple[Path, str]
) -> None:
    password = "Pw" + secrets.token_hex(8)
    spec = f"slack-store:sqlalchemy:postgresql://app:{password}@127.0.0.1:9/bolt"
    result = nhictl("reconcile", "--source", spec, "--no-validate")
    assert result.code == 2, result.err
    assert "postgresql://***@127.0.0.1:9/bolt: the URL embeds a password" in result.err
    assert password not in result.out + result.err
    for where, data in _stored(nhictl_env).items():
        assert password.encode() not in data, where


def test_mask_url_never_shows_a_webhook_path_or_a_query() -> None:
    secret = secrets.token_hex(12)
    shown = net.mask_url(f"https://hooks.slack.com/services/T0/B0/{secret}?token={secret}")
    assert secret not in shown
    assert shown == "https://hooks.slack.com/services/…"
