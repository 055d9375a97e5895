"""End to end: the WorkOS and Nango sources against the loopback broker fakes."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from slack_sdk import WebClient

from nhictl.errors import SourceError
from nhictl.models import DEAD_TOKEN_STATUS, Status
from nhictl.sandbox.brokers import NangoSandbox, WorkOSSandbox
from nhictl.sandbox.slack_server import SlackSandbox
from nhictl.sandbox.world import World
from nhictl.secret import Secret, fingerprint
from nhictl.sources.nango import NangoSource
from nhictl.sources.workos import WorkOSSource


def fake_token(prefix: str = "xoxp-") -> str:
    return prefix + "fake" + secrets.token_hex(8)


class Keys:
    def __init__(self) -> None:
        self.workos = "sk_test_fake" + secrets.token_hex(6)
        self.nango = "nango-fake-" + secrets.token_hex(6)
        self.grace = fake_token()
        self.alan = fake_token()
        self.bot = fake_token("xoxb-")


def make_world(k: Keys) -> World:
    return World.from_dict(
        {
            "teams": [{"id": "T1", "name": "Acme", "domain": "acme"}],
            "users": [
                {"id": "U1", "team_id": "T1", "name": "grace", "email": "grace@example.com"},
                {"id": "U2", "team_id": "T1", "name": "alan", "email": "alan@example.com"},
                {"id": "UB", "team_id": "T1", "name": "bot", "is_bot": True},
            ],
            "tokens": [
                {"token": k.grace, "team_id": "T1", "user_id": "U1", "kind": "user",
                 "scopes": ["chat:write"], "state": "active"},
                {"token": k.alan, "team_id": "T1", "user_id": "U2", "kind": "user",
                 "scopes": ["chat:write", "channels:read"], "state": "active"},
                {"token": k.bot, "team_id": "T1", "user_id": "UB", "kind": "bot",
                 "scopes": ["chat:write"], "state": "active", "bot_id": "B1"},
            ],
            "workos": {
                "api_key": k.workos,
                "users": [
                    {"id": "user_grace", "email": "grace@example.com", "first_name": "Grace",
                     "last_name": "Hopper",
                     "memberships": [{"organization_id": "org_1", "status": "active"}],
                     "slack": {"id": "acct_grace", "token": k.grace, "organization_id": "org_1",
                               "requested_scopes": ["chat:write", "users:read"]}},
                    {"id": "user_alan", "email": "alan@example.com",
                     "slack": {"id": "acct_alan", "token": k.alan}},
                    {"id": "user_none", "email": "none@example.com", "slack": None},
                ],
            },
            "nango": {
                "secret_key": k.nango,
                "connections": [
                    {"id": 1, "connection_id": "c-grace", "token": k.grace, "bot_token": k.bot,
                     "tags": {"end_user_id": "user_grace", "end_user_email": "grace@example.com"},
                     "refresh": True},
                    {"id": 2, "connection_id": "c-bot", "token": k.bot,
                     "tags": {"end_user_id": "user_alan"}},
                    {"id": 3, "connection_id": "gh", "provider": "github",
                     "provider_config_key": "github", "token": k.alan},
                ],
            },
        }
    )


@pytest.fixture
def keys() -> Keys:
    return Keys()


@pytest.fixture
def world(keys: Keys) -> World:
    return make_world(keys)


@pytest.fixture
def workos(world: World) -> Iterator[WorkOSSandbox]:
    with WorkOSSandbox(world) as sandbox:
        yield sandbox  # type: ignore[misc]


@pytest.fixture
def nango(world: World) -> Iterator[NangoSandbox]:
    with NangoSandbox(world) as sandbox:
        yield sandbox  # type: ignore[misc]


def workos_source(url: str, key: str, sleeps: list[float] | None = None) -> WorkOSSource:
    return WorkOSSource("pipes", api_key=Secret(key), api_key_env="WORKOS_API_KEY",
                        base_url=url, tenant="acme", page_limit=1, timeout=5,
                        sleep=(sleeps if sleeps is not None else []).append)


def nango_source(url: str, key: str, sleeps: list[float] | None = None) -> NangoSource:
    return NangoSource("nango", secret_key=Secret(key), secret_key_env="NANGO_SECRET_KEY",
                       base_url=url, page_limit=2, timeout=5,
                       sleep=(sleeps if sleeps is not None else []).append)


def test_workos_collect_fetch_validate_remove(
    workos: WorkOSSandbox, world: World, keys: Keys
) -> None:
    src = workos_source(workos.url, keys.workos)
    records = {r.connection_id: r for r in src.collect()}
    assert set(records) == {"acct_grace", "acct_alan"}
    grace = records["acct_grace"]
    assert grace.owner_id == "user_grace" and grace.owner_name == "Grace Hopper"
    assert grace.tenant == "org_1" and records["acct_alan"].tenant == "acme"
    assert grace.missing_scopes == ["users:read"]
    assert records["acct_alan"].declared_scopes == ["chat:write", "channels:read"]

    got = src.fetch_token(grace)
    assert got.token is not None and world.token(got.token.reveal()) is not None
    assert got.missing_scopes == ("users:read",)
    posted = [r for r in workos.requests if r["method"] == "POST"]
    assert posted[-1]["json"] == {"user_id": "user_grace", "organization_id": "org_1"}

    with SlackSandbox(world) as slack:
        reply = WebClient(base_url=slack.url).auth_test(token=got.token.reveal())
        assert reply["user_id"] == "U1"

    src.remove(grace)
    assert {r.connection_id for r in src.collect()} == {"acct_alan"}
    assert src.fetch_token(grace).dead_reason == "not_installed"
    assert src.check() == "ok: 3 users listed"
    assert keys.workos not in repr(workos.requests)
    src.close()


@pytest.mark.parametrize(
    ("state", "collect_dead", "fetch_dead"),
    [
        ("needs_reauthorization", "needs_reauthorization", "needs_reauthorization"),
        ("disconnected", "disconnected", "not_installed"),
        ("not_installed", None, "not_installed"),
    ],
)
def test_workos_token_states(
    workos: WorkOSSandbox, keys: Keys, state: str, collect_dead: str | None, fetch_dead: str
) -> None:
    src = workos_source(workos.url, keys.workos)
    grace = next(r for r in src.collect() if r.connection_id == "acct_grace")
    workos.set_state("user_grace", state)
    after = {r.connection_id: r for r in src.collect()}
    if collect_dead is None:
        assert "acct_grace" not in after
    else:
        assert after["acct_grace"].dead_reason == collect_dead
    got = src.fetch_token(grace)
    assert got.token is None and got.dead_reason == fetch_dead
    assert DEAD_TOKEN_STATUS[fetch_dead] is Status.NEEDS_RECONNECT


def test_workos_user_in_two_organizations(world: World, keys: Keys) -> None:
    """Accounts are scoped per organization (organization_id on every Pipes call), and the
    owner's status is the membership's; a 404 delete is checked by a read."""
    second = fake_token()
    world.tokens[second] = {"token": second, "team_id": "T1", "user_id": "U1", "kind": "user",
                            "scopes": ["chat:write"], "state": "active"}
    grace = next(u for u in world.workos["users"] if u["id"] == "user_grace")
    grace["memberships"].append({"organization_id": "org_2", "status": "inactive"})
    grace["slack"] = [grace["slack"], {"id": "acct_grace_2", "token": second,
                                       "organization_id": "org_2"}]
    with WorkOSSandbox(world) as workos:
        src = workos_source(workos.url, keys.workos)
        records = {r.connection_id: r for r in src.collect()}
        one, two = records["acct_grace"], records["acct_grace_2"]
        assert (one.tenant, one.owner_status) == ("org_1", "active")
        assert (two.tenant, two.owner_status) == ("org_2", "inactive")
        assert records["acct_alan"].owner_status is None  # no membership: no status
        assert src.fetch_token(two).token == Secret(second)
        assert src.fetch_token(one).token == Secret(keys.grace)
        world.workos["delete_404_once"] = True
        with pytest.raises(SourceError, match="still there"):
            src.remove(two)
        src.remove(two)
        src.remove(two)  # already gone: 404, and the read confirms it
        deletes = [r["query"] for r in workos.requests if r["method"] == "DELETE"]
        assert deletes == [{"organization_id": "org_2"}] * 3
        assert {r.connection_id for r in src.collect()} == {"acct_grace", "acct_alan"}
        with httpx.Client(base_url=workos.url) as client:
            users = client.get("/user_management/users",
                               headers={"Authorization": f"Bearer {keys.workos}"}).json()
        assert all("organization_id" not in u and "status" not in u for u in users["data"])


def test_workos_outage_mid_collect_raises(workos: WorkOSSandbox, keys: Keys) -> None:
    src = workos_source(workos.url, keys.workos)
    # the first user page, its memberships and providers (unscoped, org_1), then 503 forever
    workos.fail_after(4)
    seen: list[str] = []
    with pytest.raises(SourceError, match="unavailable") as info:
        for record in src.collect():
            seen.append(record.connection_id)
    assert seen == ["acct_grace"]
    assert info.value.source == "pipes"
    workos.set_outage(False)
    workos.outage_after = None
    assert len(list(src.collect())) == 2


def test_workos_429_once_then_ok(workos: WorkOSSandbox, keys: Keys) -> None:
    sleeps: list[float] = []
    workos.rate_limit_once(retry_after=0)
    assert len(list(workos_source(workos.url, keys.workos, sleeps).collect())) == 2
    assert sleeps == [0.0]


def test_workos_bad_key(workos: WorkOSSandbox) -> None:
    wrong = "sk_test_fake_wrong"
    with pytest.raises(SourceError) as info:
        workos_source(workos.url, wrong).check()
    assert info.value.hint == "check the key in $WORKOS_API_KEY"
    assert wrong not in str(info.value)


def test_workos_world_must_hold_the_tokens(keys: Keys) -> None:
    data: dict[str, Any] = {"tokens": [], "workos": {"api_key": "k", "users": [
        {"id": "u", "slack": {"id": "a", "token": fake_token()}}]}}
    with pytest.raises(ValueError, match=r"not in world\.tokens"):
        WorkOSSandbox(World.from_dict(data))


def test_nango_collect_fetch_remove(nango: NangoSandbox, world: World, keys: Keys) -> None:
    src = nango_source(nango.url, keys.nango)
    records = {r.connection_id: r for r in src.collect()}
    assert set(records) == {"c-grace", "c-grace#user", "c-bot"}
    grace, grace_bot, bot = records["c-grace#user"], records["c-grace"], records["c-bot"]
    assert grace.token == Secret(keys.grace) and grace.token_kind == "user"
    assert grace.source_slack_user_id == "U1" and grace.source_team_id == "T1"
    assert grace.owner_id == "user_grace" and grace.has_refresh_token
    assert grace_bot.token == Secret(keys.bot) and grace_bot.token_kind == "bot"
    assert grace_bot.has_refresh_token and grace_bot.owner_id == "user_grace"
    assert bot.token == Secret(keys.bot) and bot.token_kind == "bot"
    assert bot.declared_scopes == ["chat:write"] and not bot.has_refresh_token
    # refresh-token presence without refresh_token=true, and no value ever on the wire
    assert all("refresh_token" not in r["query"] for r in nango.requests)

    grace.token = None  # forces a credentials call
    got = src.fetch_token(grace)
    assert got.token == Secret(keys.grace)

    src.remove(bot)
    src.remove(bot)  # already gone: 400 unknown_connection counts as removed
    assert {r.connection_id for r in src.collect()} == {"c-grace", "c-grace#user"}
    bot.token = None
    assert src.fetch_token(bot).dead_reason == "not_installed"
    assert src.find("c-bot") is None
    deletes = [r for r in nango.requests if r["method"] == "DELETE"]
    assert deletes[0]["query"] == {"provider_config_key": "slack"}
    assert src.check() == "ok: 1 Slack connection listed"
    assert world.token(keys.bot) is not None  # deletion at the broker is not a Slack revoke


def test_nango_answers_like_nango(nango: NangoSandbox, keys: Keys) -> None:
    """Status codes and bodies of getConnection.ts / deleteConnection.ts."""
    auth = {"Authorization": f"Bearer {keys.nango}"}
    with httpx.Client(base_url=nango.url, headers=auth) as client:
        missing = client.get("/connections/nope", params={"provider_config_key": "slack"})
        assert missing.status_code == 404
        assert missing.json()["error"]["code"] == "not_found"
        gone = client.delete("/connections/nope", params={"provider_config_key": "slack"})
        assert (gone.status_code, gone.json()) == (400, {"error": {"code": "unknown_connection"}})
        unknown = client.get("/connections/c-bot", params={"provider_config_key": "nope"})
        assert unknown.status_code == 400
        assert unknown.json()["error"]["code"] == "unknown_provider_config"
        plain = client.get("/connections/c-grace", params={"provider_config_key": "slack"})
        assert "refresh_token" not in str(plain.json())
        asked = client.get("/connections/c-grace",
                           params={"provider_config_key": "slack", "refresh_token": "true"})
        assert asked.json()["credentials"]["refresh_token"].startswith("sandbox-refresh-")


def test_nango_refresh_failure_then_backoff_then_retry(nango: NangoSandbox, keys: Keys) -> None:
    """refresh.ts: a failed refresh answers 400, reads within the 30 s cooldown 424 backoff,
    the next read after it tries (and fails) again; exhausted is 424 with its own message."""
    now = [100.0]
    nango.monotonic = lambda: now[0]
    nango.set_state("c-grace", "refresh_failed")
    auth = {"Authorization": f"Bearer {keys.nango}"}
    params = {"provider_config_key": "slack"}
    with httpx.Client(base_url=nango.url, headers=auth) as client:
        first = client.get("/connections/c-grace", params=params)
        assert first.status_code == 400
        err = first.json()["error"]
        assert err["code"] == "invalid_credentials" and "try again later" in err["message"]
        assert err["payload"]["connection"]["tags"]["end_user_id"] == "user_grace"
        assert err["payload"]["connection"]["credentials"] == {}
        now[0] += 10
        second = client.get("/connections/c-grace", params=params)
        assert second.status_code == 424 and "Backing off" in second.json()["error"]["message"]
        now[0] += 30
        assert client.get("/connections/c-grace", params=params).status_code == 400
        nango.set_state("c-grace", "refresh_exhausted")
        last = client.get("/connections/c-grace", params=params)
        assert last.status_code == 424
        assert last.json()["error"]["message"].startswith("The refresh limit has been reached")


def test_nango_refresh_outcomes_per_connection_and_outage(nango: NangoSandbox,
                                                          keys: Keys) -> None:
    nango.set_state("c-grace", "refresh_exhausted")
    src = nango_source(nango.url, keys.nango)
    records = {r.connection_id: r for r in src.collect()}
    assert set(records) == {"c-grace", "c-bot"}  # the user part cannot be read: not listed
    assert records["c-grace"].dead_reason == "refresh_exhausted" and records["c-grace"].partial
    assert records["c-bot"].dead_reason is None
    nango.set_state("c-grace", "refresh_failed")
    records = {r.connection_id: r for r in nango_source(nango.url, keys.nango).collect()}
    assert records["c-grace"].dead_reason is None and records["c-grace"].partial
    assert records["c-bot"].token == Secret(keys.bot)
    nango.fail_after(1)
    with pytest.raises(SourceError, match="unavailable"):
        list(src.collect())


def test_nango_ignoring_paging_and_429(nango: NangoSandbox, world: World, keys: Keys) -> None:
    world.nango["ignore_paging"] = True
    sleeps: list[float] = []
    nango.rate_limit_once(retry_after=0)
    src = nango_source(nango.url, keys.nango, sleeps)
    assert sorted(r.connection_id for r in src.collect()) == ["c-bot", "c-grace",
                                                              "c-grace#user"]
    assert sleeps == [0.0]


def test_nango_connections_under_several_config_keys(world: World, keys: Keys) -> None:
    second = fake_token()
    world.tokens[second] = {"token": second, "team_id": "T1", "user_id": "U2", "kind": "user",
                            "scopes": ["chat:write"], "state": "active"}
    world.nango["connections"].append({"id": 4, "connection_id": "c-grace",
                                       "provider_config_key": "slack:users", "token": second})
    with NangoSandbox(world) as nango:
        src = nango_source(nango.url, keys.nango)
        ids = sorted(r.connection_id for r in src.collect())
        assert ids == ["c-bot", "c-grace", "c-grace#user", "slack:users:c-grace"]
        found = nango_source(nango.url, keys.nango).find("slack:users:c-grace")
        assert found is not None and found.token == Secret(second)
        src.remove(found)
        assert nango_source(nango.url, keys.nango).find("slack:users:c-grace") is None
        assert nango_source(nango.url, keys.nango).find("c-grace") is not None
        deletes = [r["query"] for r in nango.requests if r["method"] == "DELETE"]
        assert deletes == [{"provider_config_key": "slack:users"}]


def test_same_person_through_two_brokers_same_fingerprint(
    workos: WorkOSSandbox, nango: NangoSandbox, keys: Keys
) -> None:
    key = b"inventory-key"
    wsrc = workos_source(workos.url, keys.workos)
    nsrc = nango_source(nango.url, keys.nango)
    w = next(r for r in wsrc.collect() if r.connection_id == "acct_grace")
    n = next(r for r in nsrc.collect() if r.connection_id == "c-grace#user")
    wt, nt = wsrc.fetch_token(w).token, nsrc.fetch_token(n).token
    assert wt is not None and nt is not None
    assert fingerprint(key, wt) == fingerprint(key, nt)


def test_unreachable_broker_is_a_source_error() -> None:
    with WorkOSSandbox(World.from_dict({"tokens": []})) as sandbox:
        url = sandbox.url
    src = WorkOSSource("pipes", api_key=Secret("k"), base_url=url, sleep=lambda _s: None,
                       max_attempts=2, timeout=2)
    with pytest.raises(SourceError, match="ConnectError"):
        src.check()
    assert isinstance(httpx.ConnectError("x"), httpx.TransportError)


def test_sandbox_rejects_bad_key_and_malformed_requests(workos: WorkOSSandbox, keys: Keys) -> None:
    with httpx.Client(base_url=workos.url) as client:
        assert client.get("/user_management/users").status_code == 401
        auth = {"Authorization": f"Bearer {keys.workos}"}
        reply = client.get("/user_management/users", params={"limit": "abc"}, headers=auth)
        assert reply.status_code == 400
        assert client.get("/nowhere", headers=auth).status_code == 404
    assert all("Authorization" not in str(r) for r in workos.requests)
    assert [r["path"] for r in workos.requests][:1] == ["/user_management/users"]


def test_concurrent_token_fetches_share_one_client(workos: WorkOSSandbox, keys: Keys) -> None:
    from concurrent.futures import ThreadPoolExecutor

    src = workos_source(workos.url, keys.workos)
    records = list(src.collect()) * 8
    with ThreadPoolExecutor(max_workers=8) as pool:
        got = list(pool.map(src.fetch_token, records))
    assert {g.token.reveal() for g in got if g.token} == {keys.grace, keys.alan}
    src.close()
