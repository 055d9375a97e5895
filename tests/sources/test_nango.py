"""Nango source against httpx.MockTransport (wire shapes from the reference)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from nhictl.errors import SourceError
from nhictl.models import DEAD_TOKEN_STATUS, SourceRecord, Status
from nhictl.secret import Secret
from nhictl.sources.base import RemovableSource, Source
from nhictl.sources.nango import NangoSource

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def fake_token(prefix: str = "xoxp-") -> str:
    return prefix + "fake" + secrets.token_hex(8)


def summary(cid: str, provider: str = "slack", key: str = "slack", **extra: Any) -> dict[str, Any]:
    return {
        "id": 1,
        "connection_id": cid,
        "provider": provider,
        "provider_config_key": key,
        "created": "2026-01-02T03:04:05.000Z",
        "metadata": None,
        "tags": {"end_user_id": f"owner-{cid}", "end_user_email": f"{cid}@example.com"},
        "errors": [],
        **extra,
    }


def user_creds(user_token: str, bot_token: str | None = None) -> dict[str, Any]:
    raw: dict[str, Any] = {
        "ok": True,
        "team": {"id": "T1", "name": "Acme"},
        "authed_user": {
            "id": "U1",
            "scope": "chat:write,channels:read",
            "access_token": user_token,
            "token_type": "user",
        },
    }
    creds: dict[str, Any] = {"type": "OAUTH2", "raw": raw, "expires_at": None}
    if bot_token:
        raw.update({"access_token": bot_token, "scope": "chat:write", "token_type": "bot"})
        creds["access_token"] = bot_token
        creds["refresh_token"] = "sandbox-refresh"
        creds["expires_at"] = "2026-07-01T00:00:00.000Z"
    else:
        creds["access_token"] = user_token
    return creds


def bot_creds(bot_token: str) -> dict[str, Any]:
    return {
        "type": "OAUTH2",
        "access_token": bot_token,
        "expires_at": "2026-07-01T00:00:00.000Z",
        "raw": {
            "ok": True,
            "access_token": bot_token,
            "scope": "chat:write,users:read",
            "team": {"id": "T2"},
            "authed_user": {"id": "U9"},
            "enterprise": {"id": "E1"},
        },
    }


class FakeNango:
    def __init__(self, listing: list[dict[str, Any]]) -> None:
        self.listing = listing
        self.creds: dict[str, httpx.Response] = {}
        self.ignore_paging = False
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/connections" and request.method == "GET":
            items = self.listing
            if not self.ignore_paging:
                limit = int(request.url.params["limit"])
                page = int(request.url.params["page"])
                items = items[page * limit : (page + 1) * limit]
            return httpx.Response(200, json={"connections": items})
        cid = path.split("/")[-1]
        key = request.url.params.get("provider_config_key")
        found = self.creds.get(f"{key}/{cid}") or self.creds.get(cid)
        if request.method == "DELETE":
            # deleteConnection.ts: a missing connection is 400 unknown_connection
            if found is None:
                return httpx.Response(400, json={"error": {"code": "unknown_connection"}})
            return httpx.Response(200, json={"success": True})
        # getConnection.ts: a missing connection is 404 not_found
        return found or httpx.Response(
            404, json={"error": {"code": "not_found", "message": "Failed to find connection"}})


def source(fake: FakeNango, **kw: Any) -> NangoSource:
    return NangoSource(
        "nango",
        secret_key=Secret("nango-fake-" + secrets.token_hex(6)),
        secret_key_env="NANGO_SECRET_KEY",
        base_url="https://nango.test",
        default_purpose=["channel-selection"],
        tenant="acme",
        transport=httpx.MockTransport(fake),
        sleep=lambda _s: None,
        clock=lambda: NOW,
        page_limit=2,
        **kw,
    )


def ok(summary_: dict[str, Any], creds: dict[str, Any]) -> httpx.Response:
    return httpx.Response(200, json={**summary_, "credentials": creds})


# Bodies as getConnection.ts sends them (messages from packages/shared/lib/utils/error.ts).
REFRESH_FAILED = (400, "The external API returned an error when trying to refresh the access "
                  "token. Please try again later.")
EXHAUSTED = (424, "The refresh limit has been reached for this connection.")
BACKOFF = (424, "A recent refresh attempt failed. Backing off before retrying.")


def refused(answer: tuple[int, str], summary_: dict[str, Any]) -> httpx.Response:
    described = {**summary_, "credentials": {}}
    return httpx.Response(answer[0], json={"error": {
        "code": "invalid_credentials", "message": answer[1],
        "payload": {"connection": described}}})


def test_protocols() -> None:
    src = source(FakeNango([]))
    assert isinstance(src, Source) and isinstance(src, RemovableSource)
    assert src.kind == "nango" and "$NANGO_SECRET_KEY" in src.describe()


def test_collect_pages_filters_and_reads_credentials() -> None:
    ut, bt, bot_only = fake_token(), fake_token("xoxb-"), fake_token("xoxb-")
    listing = [summary("c1"), summary("gh", provider="github", key="github"), summary("c2")]
    fake = FakeNango(listing)
    fake.creds["c1"] = ok(listing[0], user_creds(ut, bt))
    fake.creds["c2"] = ok(listing[2], bot_creds(bot_only))
    records = list(source(fake).collect())
    # A bot install with user scopes holds two tokens: two bindings of one connection.
    assert [r.connection_id for r in records] == ["c1", "c1#user", "c2"]
    bot_rec, user_rec, bot2 = records
    assert user_rec.token == Secret(ut) and user_rec.token_kind == "user"
    assert user_rec.declared_scopes == ["chat:write", "channels:read"]
    assert user_rec.source_team_id == "T1" and user_rec.source_slack_user_id == "U1"
    assert user_rec.owner_id == "owner-c1" and user_rec.owner_email == "c1@example.com"
    assert user_rec.tenant == "acme" and user_rec.purpose == ["channel-selection"]
    assert user_rec.token_expires_at is None  # the expiry belongs to the bot token
    assert user_rec.metadata == {"connection_id": "c1", "provider_config_key": "slack",
                                 "part": "#user"}
    assert bot_rec.token == Secret(bt) and bot_rec.token_kind == "bot"
    assert bot_rec.declared_scopes == ["chat:write"] and bot_rec.has_refresh_token is True
    assert bot_rec.token_expires_at == "2026-07-01T00:00:00Z"
    assert bot_rec.owner_id == "owner-c1"
    assert bot2.token == Secret(bot_only) and bot2.token_kind == "bot"
    assert bot2.declared_scopes == ["chat:write", "users:read"]
    assert bot2.source_team_id == "T2" and bot2.metadata["enterprise_id"] == "E1"
    pages = [r.url.params.get("page") for r in fake.requests if r.url.path == "/connections"]
    assert pages == ["0", "1"]
    cred_calls = [r for r in fake.requests if r.url.path.startswith("/connections/")]
    assert {r.url.params["provider_config_key"] for r in cred_calls} == {"slack"}
    assert "github" not in str([r.url for r in fake.requests])
    assert ut not in repr(records)


def test_user_only_install_stays_one_binding_under_the_connection_id() -> None:
    ut = fake_token()
    s = summary("c1")
    fake = FakeNango([s])
    fake.creds["c1"] = ok(s, user_creds(ut))
    (record,) = source(fake).collect()
    assert record.connection_id == "c1" and record.token == Secret(ut)
    assert record.token_kind == "user" and "part" not in record.metadata


def test_refresh_token_presence_is_read_without_asking_for_it() -> None:
    """Nango strips refresh tokens unless refresh_token=true; an expiring Slack token means
    rotation, which always comes with one."""
    bot = fake_token("xoxb-")
    s = summary("c1")
    creds = bot_creds(bot)  # expires_at set, no refresh_token anywhere (as Nango sends it)
    fake = FakeNango([s])
    fake.creds["c1"] = ok(s, creds)
    (record,) = source(fake).collect()
    assert record.has_refresh_token is True
    assert all("refresh_token" not in r.url.params for r in fake.requests)
    creds["expires_at"] = None
    fake.creds["c1"] = ok(s, creds)
    (record,) = source(fake).collect()
    assert record.has_refresh_token is False


def test_owner_from_end_user_object() -> None:
    s = summary("c1", tags={}, end_user={"id": "eu-1", "email": "eu@example.com",
                                       "display_name": "Eu", "organization": {"id": "org-7"}})
    fake = FakeNango([s])
    fake.creds["c1"] = ok(s, user_creds(fake_token()))
    (record,) = source(fake).collect()
    assert (record.owner_id, record.owner_email, record.owner_name) == (
        "eu-1", "eu@example.com", "Eu",
    )
    assert record.tenant == "org-7"


def test_server_ignoring_paging_stops_without_duplicates() -> None:
    listing = [summary("c1"), summary("c2")]
    fake = FakeNango(listing)
    fake.ignore_paging = True
    for s in listing:
        fake.creds[s["connection_id"]] = ok(s, user_creds(fake_token()))
    records = list(source(fake).collect())
    assert [r.connection_id for r in records] == ["c1", "c2"]


def test_refresh_failure_400_is_that_connection_inconclusive_not_the_source() -> None:
    listing = [summary("c1"), summary("c2")]
    fake = FakeNango(listing)
    fake.creds["c1"] = refused(REFRESH_FAILED, listing[0])
    fake.creds["c2"] = ok(listing[1], bot_creds(fake_token("xoxb-")))
    src = source(fake)
    first, second = src.collect()
    assert second.connection_id == "c2" and second.token is not None
    assert first.connection_id == "c1" and first.dead_reason is None and first.partial
    assert first.owner_id == "owner-c1" and first.source_state == "refresh_failed"
    assert first.token is None and first.token_on_demand
    asked = len(fake.requests)
    with pytest.raises(SourceError, match="could not refresh"):
        src.fetch_token(first)  # transient: inconclusive, and Nango is not asked again
    assert len(fake.requests) == asked


@pytest.mark.parametrize(("answer", "dead"), [(EXHAUSTED, "refresh_exhausted"),
                                              (BACKOFF, None)])
def test_424_exhausted_is_dead_and_backoff_is_inconclusive(
    answer: tuple[int, str], dead: str | None
) -> None:
    listing = [summary("c1")]
    fake = FakeNango(listing)
    fake.creds["c1"] = refused(answer, listing[0])
    src = source(fake)
    (record,) = src.collect()
    assert record.dead_reason == dead and record.partial
    assert record.token is None and record.owner_id == "owner-c1"
    if dead:
        assert DEAD_TOKEN_STATUS[dead] is Status.NEEDS_RECONNECT
        assert src.fetch_token(record).dead_reason == dead
    else:
        with pytest.raises(SourceError, match="backing off"):
            src.fetch_token(record)


def test_424_with_an_unknown_message_is_never_dead() -> None:
    listing = [summary("c1")]
    fake = FakeNango(listing)
    fake.creds["c1"] = refused((424, "refresh failed"), listing[0])
    (record,) = source(fake).collect()
    assert record.dead_reason is None and record.source_state == "refresh_unavailable"


def test_connection_deleted_between_list_and_get_is_skipped() -> None:
    fake = FakeNango([summary("c1")])  # GET answers 404 not_found
    assert list(source(fake).collect()) == []
    assert source(fake).find("c1") is None and source(fake).find("c1#user") is None


def test_404_without_a_known_code_is_a_failure() -> None:
    fake = FakeNango([summary("c1")])
    fake.creds["c1"] = httpx.Response(404, text="<html>not found</html>")
    with pytest.raises(SourceError, match="404"):
        list(source(fake).collect())


def test_credentials_outage_fails_the_source() -> None:
    fake = FakeNango([summary("c1")])
    fake.creds["c1"] = httpx.Response(503)
    with pytest.raises(SourceError, match="unavailable"):
        list(source(fake).collect())


def test_bad_key_hint() -> None:
    fake = FakeNango([])
    src = NangoSource(
        "nango",
        secret_key=Secret("nango-fake"),
        secret_key_env="NANGO_SECRET_KEY",
        transport=httpx.MockTransport(lambda r: httpx.Response(403)),
    )
    with pytest.raises(SourceError) as info:
        src.check()
    assert info.value.hint == "check the key in $NANGO_SECRET_KEY"
    assert source(fake).check() == "ok: 0 Slack connections listed"


def test_fetch_token_uses_token_in_hand_until_it_expires() -> None:
    token, fresh = fake_token(), fake_token()
    s = summary("c1")
    fake = FakeNango([s])
    fake.creds["c1"] = ok(s, user_creds(fresh))
    src = source(fake)
    rec = SourceRecord(connection_id="c1", token=Secret(token), declared_scopes=["a"],
                       token_expires_at="2026-07-01T00:00:00Z")
    got = src.fetch_token(rec)
    assert got.token == Secret(token) and got.granted_scopes == ("a",)
    assert fake.requests == []
    rec.token_expires_at = "2026-05-01T00:00:00Z"  # before NOW: ask Nango (it refreshes)
    got = src.fetch_token(rec)
    assert got.token == Secret(fresh)
    assert got.granted_scopes == ("chat:write", "channels:read")


def test_remove_deletes_with_config_key() -> None:
    fake = FakeNango([])
    rec = SourceRecord(connection_id="other:c/1",
                       metadata={"connection_id": "c/1", "provider_config_key": "other"})
    source(fake).remove(rec)
    req = fake.requests[-1]
    assert req.method == "DELETE"
    assert req.url.raw_path == b"/connections/c%2F1?provider_config_key=other"


def test_remove_of_a_connection_already_gone_succeeds() -> None:
    fake = FakeNango([])  # DELETE answers 400 unknown_connection, as deleteConnection.ts
    source(fake).remove(SourceRecord(connection_id="c1"))
    assert fake.requests[-1].method == "DELETE"


def test_remove_refused_for_another_reason_fails() -> None:
    def deny(request: httpx.Request) -> httpx.Response:
        return httpx.Response(400, json={"error": {"code": "invalid_query_params"}})
    src = NangoSource("nango", secret_key=Secret("nango-fake"),
                      transport=httpx.MockTransport(deny), sleep=lambda _s: None)
    with pytest.raises(SourceError, match="400"):
        src.remove(SourceRecord(connection_id="c1"))


def test_find_and_companions_across_config_keys() -> None:
    """Keys and ids may hold ":" (validation.ts); each split is tried, gone is None."""
    bt, ut = fake_token("xoxb-"), fake_token()
    s = summary("acme:1", key="slack:prod")
    fake = FakeNango([s])
    fake.creds["slack:prod/acme:1"] = ok(s, user_creds(ut, bt))
    src = source(fake)
    ids = [r.connection_id for r in src.collect()]
    assert ids == ["slack:prod:acme:1", "slack:prod:acme:1#user"]
    user = source(fake).find("slack:prod:acme:1#user")
    assert user is not None and user.token == Secret(ut)
    assert user.metadata["provider_config_key"] == "slack:prod"
    fresh = source(fake)
    bot = fresh.find("slack:prod:acme:1")
    assert bot is not None and bot.token == Secret(bt)
    asked = len(fake.requests)
    (other,) = fresh.companions(bot)
    assert other.connection_id == "slack:prod:acme:1#user" and len(fake.requests) == asked
    assert source(fake).find("slack:prod:acme:2") is None


def test_other_config_key_gets_a_distinct_connection_id() -> None:
    s = summary("c1", key="slack-prod")
    fake = FakeNango([s])
    fake.creds["c1"] = ok(s, user_creds(fake_token()))
    (record,) = source(fake).collect()
    assert record.connection_id == "slack-prod:c1"
    assert record.metadata == {"connection_id": "c1", "provider_config_key": "slack-prod"}


def test_user_part_of_an_unavailable_connection_is_not_gone() -> None:
    listing = [summary("c1")]
    fake = FakeNango(listing)
    fake.creds["c1"] = refused(REFRESH_FAILED, listing[0])
    src = source(fake)
    found = src.find("c1#user")
    assert found is not None and found.connection_id == "c1#user" and found.token is None
    with pytest.raises(SourceError, match="could not refresh"):
        src.fetch_token(found)
