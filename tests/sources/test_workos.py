"""WorkOS Pipes source against httpx.MockTransport (wire shapes from the reference)."""

from __future__ import annotations

import json
import secrets
from typing import Any

import httpx
import pytest

from nhictl.errors import SourceError
from nhictl.models import DEAD_TOKEN_STATUS, SourceRecord, Status
from nhictl.secret import Secret
from nhictl.sources.base import RemovableSource, Source
from nhictl.sources.workos import WorkOSSource


def fake_token() -> str:
    return "xoxp-" + "fake" + secrets.token_hex(8)


def user(uid: str) -> dict[str, Any]:
    # A WorkOS user has no organization and no status (workos-python common/models/user.py).
    return {
        "object": "user",
        "id": uid,
        "email": f"{uid}@example.com",
        "first_name": "Ada",
        "last_name": uid.title(),
    }


def provider(
    account_id: str | None,
    *,
    state: str = "connected",
    scopes: list[str] | None = None,
    requested: list[str] | None = None,
    org: str | None = None,
    slug: str = "slack",
) -> dict[str, Any]:
    granted = scopes if scopes is not None else ["chat:write"]
    account = None
    if account_id:
        account = {
            "object": "connected_account",
            "id": account_id,
            "user_id": "x",
            "organization_id": org,
            "scopes": granted,
            "state": state,
            "created_at": "2026-01-02T03:04:05.000Z",
            "updated_at": "2026-01-02T03:04:05.000Z",
        }
    return {
        "object": "data_provider",
        "id": "dp_" + slug,
        "slug": slug,
        "scopes": requested if requested is not None else granted,
        "connected_account": account,
    }


class FakeWorkOS:
    """Programmable WorkOS answers; records requests."""

    def __init__(self, users: list[dict[str, Any]], page: int = 2) -> None:
        self.users = users
        self.page = page
        # "uid" (no organization) or "uid@org" -> the data providers listed for it
        self.providers: dict[str, list[dict[str, Any]]] = {}
        self.memberships: dict[str, list[tuple[str, str]]] = {}  # uid -> [(org, status)]
        self.token_replies: dict[str, httpx.Response] = {}
        self.delete_reply = httpx.Response(204)
        self.account_reply = httpx.Response(404, json={"code": "entity_not_found"})
        self.requests: list[httpx.Request] = []
        self.loop_cursor = False

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if request.method == "GET" and path == "/user_management/users":
            after = request.url.params.get("after")
            ids = [u["id"] for u in self.users]
            start = ids.index(after) + 1 if after in ids else 0
            chunk = self.users[start : start + self.page]
            more = start + self.page < len(self.users)
            cursor = chunk[-1]["id"] if more else None
            if self.loop_cursor:
                cursor = "user_loop"
                chunk = self.users[: self.page]
            return httpx.Response(
                200, json={"data": chunk, "list_metadata": {"before": None, "after": cursor}}
            )
        if path == "/user_management/organization_memberships":
            uid = request.url.params["user_id"]
            wanted = request.url.params.get("statuses", "active").split(",")
            data = [{"object": "organization_membership", "id": f"om_{uid}_{org}",
                     "user_id": uid, "organization_id": org, "status": status}
                    for org, status in self.memberships.get(uid, []) if status in wanted]
            return httpx.Response(200, json={"data": data, "list_metadata": {"after": None}})
        if path.endswith("/data_providers"):
            uid = path.split("/")[3]
            org = request.url.params.get("organization_id")
            key = f"{uid}@{org}" if org else uid
            return httpx.Response(200, json={"data": self.providers.get(key, [])})
        if path == "/data-integrations/slack/token":
            uid = json.loads(request.content)["user_id"]
            return self.token_replies[uid]
        if request.method == "DELETE":
            return self.delete_reply
        if path.endswith("/connected_accounts/slack"):
            return self.account_reply
        return httpx.Response(404, json={"message": "nope"})


def source(fake: FakeWorkOS, **kw: Any) -> WorkOSSource:
    return WorkOSSource(
        "pipes",
        api_key=Secret("sk_test_fake" + secrets.token_hex(6)),
        api_key_env="WORKOS_API_KEY",
        base_url="https://workos.test",
        default_purpose="notifications",
        tenant="acme",
        transport=httpx.MockTransport(fake),
        sleep=lambda _s: None,
        page_limit=2,
        **kw,
    )


def test_protocols() -> None:
    src = source(FakeWorkOS([]))
    assert isinstance(src, Source) and isinstance(src, RemovableSource)
    assert src.kind == "workos" and src.name == "pipes"
    assert "$WORKOS_API_KEY" in src.describe()


def test_collect_paginates_and_builds_records() -> None:
    fake = FakeWorkOS([user("u1"), user("u2"), user("u3")])
    fake.providers["u1"] = [provider("acct_1"), provider("acct_x", slug="github")]
    fake.memberships["u2"] = [("org_9", "active")]
    fake.providers["u2@org_9"] = [provider("acct_2", org="org_9",
                                           scopes=["chat:write", "im:read"])]
    fake.providers["u3"] = [provider(None)]
    records = list(source(fake).collect())
    assert [r.connection_id for r in records] == ["acct_1", "acct_2"]
    first, second = records
    assert first.owner_id == "u1" and first.owner_email == "u1@example.com"
    assert first.owner_name == "Ada U1"
    assert first.tenant == "acme"  # configured default
    assert second.tenant == "org_9"  # from the account
    assert second.metadata["organization_id"] == "org_9"
    assert first.purpose == ["notifications"]
    assert second.declared_scopes == ["chat:write", "im:read"]
    assert first.token_kind == "user" and first.token_on_demand and first.token is None
    assert first.source_state == "connected" and first.dead_reason is None
    assert first.created_at == "2026-01-02T03:04:05Z"
    assert first.missing_scopes == []
    limits = {r.url.params.get("limit") for r in fake.requests if r.url.path.endswith("users")}
    assert limits == {"2"}
    afters = [r.url.params.get("after") for r in fake.requests if r.url.path.endswith("users")]
    assert afters == [None, "u2"]


def test_under_grant_records_missing_scopes() -> None:
    fake = FakeWorkOS([user("u1")])
    fake.providers["u1"] = [
        provider("acct_1", scopes=["chat:write"], requested=["chat:write", "channels:read"])
    ]
    (record,) = source(fake).collect()
    assert record.missing_scopes == ["channels:read"]


@pytest.mark.parametrize("state", ["needs_reauthorization", "disconnected"])
def test_dead_account_states_map_to_needs_reconnect(state: str) -> None:
    fake = FakeWorkOS([user("u1")])
    fake.providers["u1"] = [provider("acct_1", state=state)]
    (record,) = source(fake).collect()
    assert record.source_state == state
    assert record.dead_reason == state
    assert DEAD_TOKEN_STATUS[record.dead_reason] is Status.NEEDS_RECONNECT


def test_looping_cursor_raises() -> None:
    fake = FakeWorkOS([user("u1"), user("u2"), user("u3")])
    fake.loop_cursor = True
    with pytest.raises(SourceError, match="repeated a cursor"):
        list(source(fake).collect())


def test_page_budget_stops_runaway_listing() -> None:
    fake = FakeWorkOS([user(f"u{i}") for i in range(10)])
    with pytest.raises(SourceError, match="exceeded 2 pages"):
        list(source(fake, max_pages=2).collect())


def test_no_page_cap_on_cursor_paged_users() -> None:
    """1,002 pages of one user: past the old 1,000-page budget (100,000 users at 100 a page);
    cursor paging has no budget, only repeated-cursor detection."""
    fake = FakeWorkOS([user(f"u{i}") for i in range(1002)], page=1)
    assert source(fake).check() == "ok: 1002 users listed"


def test_user_in_two_organizations_gives_two_bindings_with_membership_status() -> None:
    fake = FakeWorkOS([user("u1")])
    fake.memberships["u1"] = [("org_a", "active"), ("org_b", "inactive"), ("org_c", "pending")]
    fake.providers["u1@org_a"] = [provider("acct_a", org="org_a")]
    fake.providers["u1@org_b"] = [provider("acct_b", org="org_b")]
    fake.providers["u1"] = [provider("acct_u")]  # an account scoped to no organization
    records = {r.connection_id: r for r in source(fake).collect()}
    assert set(records) == {"acct_a", "acct_b", "acct_u"}
    assert (records["acct_a"].tenant, records["acct_a"].owner_status) == ("org_a", "active")
    assert (records["acct_b"].tenant, records["acct_b"].owner_status) == ("org_b", "inactive")
    assert records["acct_u"].owner_status is None and records["acct_u"].tenant == "acme"
    asked = [r.url.params.get("organization_id") for r in fake.requests
             if r.url.path.endswith("/data_providers")]
    assert asked == [None, "org_a", "org_b", "org_c"]
    (listing,) = [r for r in fake.requests if "memberships" in r.url.path]
    assert listing.url.params["statuses"] == "active,inactive,pending"
    assert listing.url.params["user_id"] == "u1"
    fake.token_replies["u1"] = httpx.Response(200, json={"active": False,
                                                        "error": "not_installed"})
    source(fake).fetch_token(records["acct_b"])
    assert json.loads(fake.requests[-1].content) == {"user_id": "u1",
                                                     "organization_id": "org_b"}
    source(fake).remove(records["acct_b"])
    assert fake.requests[-1].method == "DELETE"
    assert fake.requests[-1].url.params["organization_id"] == "org_b"


def test_outage_mid_collect_raises() -> None:
    fake = FakeWorkOS([user("u1"), user("u2")])
    fake.providers["u1"] = [provider("acct_1")]

    def flaky(request: httpx.Request) -> httpx.Response:
        if "/u2/" in request.url.path:
            return httpx.Response(503)
        return fake(request)

    src = WorkOSSource(
        "pipes",
        api_key=Secret("sk_test_fake"),
        api_key_env="WORKOS_API_KEY",
        base_url="https://workos.test",
        transport=httpx.MockTransport(flaky),
        sleep=lambda _s: None,
    )
    got: list[SourceRecord] = []
    with pytest.raises(SourceError, match="unavailable"):
        for record in src.collect():
            got.append(record)
    assert [r.connection_id for r in got] == ["acct_1"]


def test_bad_key_hint_names_env_var() -> None:
    key = "sk_test_fake" + secrets.token_hex(6)
    src = WorkOSSource(
        "pipes",
        api_key=Secret(key),
        api_key_env="WORKOS_API_KEY",
        base_url="https://workos.test",
        transport=httpx.MockTransport(lambda r: httpx.Response(401, json={"message": "no"})),
        sleep=lambda _s: None,
    )
    with pytest.raises(SourceError) as info:
        src.check()
    assert info.value.hint == "check the key in $WORKOS_API_KEY"
    assert "pipes" in str(info.value) and key not in str(info.value)


def test_check_counts_users() -> None:
    assert source(FakeWorkOS([user("a"), user("b"), user("c")])).check() == "ok: 3 users listed"


def rec(owner: str = "u1", org: str | None = None) -> SourceRecord:
    meta: dict[str, Any] = {"user_id": owner}
    if org:
        meta["organization_id"] = org
    return SourceRecord(connection_id="acct_1", owner_id=owner, metadata=meta)


def test_fetch_token_active() -> None:
    token = fake_token()
    fake = FakeWorkOS([])
    fake.token_replies["u1"] = httpx.Response(
        200,
        json={
            "active": True,
            "access_token": {
                "object": "access_token",
                "access_token": token,
                "expires_at": "2026-12-31T23:59:59.000Z",
                "scopes": ["chat:write"],
                "missing_scopes": ["channels:read"],
            },
        },
    )
    got = source(fake).fetch_token(rec(org="org_1"))
    assert got.token == Secret(token) and got.dead_reason is None
    assert got.expires_at == "2026-12-31T23:59:59Z"
    assert got.granted_scopes == ("chat:write",)
    assert got.missing_scopes == ("channels:read",)
    body = json.loads(fake.requests[-1].content)
    assert body == {"user_id": "u1", "organization_id": "org_1"}
    assert token not in repr(got)


@pytest.mark.parametrize("error", ["not_installed", "needs_reauthorization"])
def test_fetch_token_dead_states(error: str) -> None:
    fake = FakeWorkOS([])
    fake.token_replies["u1"] = httpx.Response(200, json={"active": False, "error": error})
    got = source(fake).fetch_token(rec())
    assert got.token is None and got.dead_reason == error
    assert DEAD_TOKEN_STATUS[error] is Status.NEEDS_RECONNECT
    assert json.loads(fake.requests[-1].content) == {"user_id": "u1"}


def test_fetch_token_server_error_is_transient() -> None:
    fake = FakeWorkOS([])
    fake.token_replies["u1"] = httpx.Response(500)
    with pytest.raises(SourceError):
        source(fake).fetch_token(rec())


def test_remove_deletes_connected_account() -> None:
    fake = FakeWorkOS([])
    source(fake).remove(rec(owner="user/odd"))
    req = fake.requests[-1]
    assert req.method == "DELETE"
    assert req.url.raw_path == b"/user_management/users/user%2Fodd/connected_accounts/slack"


def test_remove_already_gone_is_fine_but_failure_raises() -> None:
    src = WorkOSSource(
        "pipes",
        api_key=Secret("sk_test_fake"),
        transport=httpx.MockTransport(lambda r: httpx.Response(404, json={})),
        sleep=lambda _s: None,
    )
    src.remove(rec())  # DELETE 404, and the follow-up read confirms: gone
    src = WorkOSSource(
        "pipes",
        api_key=Secret("sk_test_fake"),
        transport=httpx.MockTransport(lambda r: httpx.Response(422, json={})),
        sleep=lambda _s: None,
    )
    with pytest.raises(SourceError):
        src.remove(rec())


def test_remove_404_is_gone_only_when_a_read_confirms_it() -> None:
    fake = FakeWorkOS([])
    fake.delete_reply = httpx.Response(404, json={"code": "entity_not_found"})
    record = rec()
    fake.account_reply = httpx.Response(200, json={
        "object": "connected_account", "id": record.connection_id, "user_id": "u1",
        "organization_id": None, "scopes": [], "state": "connected"})
    with pytest.raises(SourceError, match="still there"):
        source(fake).remove(record)
    assert [r.method for r in fake.requests] == ["DELETE", "GET"]
    fake.account_reply = httpx.Response(404, json={"code": "entity_not_found"})
    source(fake).remove(record)
