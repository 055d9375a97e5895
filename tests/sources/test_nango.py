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
        if request.method == "DELETE":
            return httpx.Response(200, json={"success": True})
        return self.creds.get(
            cid, httpx.Response(404, json={"error": {"code": "unknown_connection"}})
        )


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
    assert [r.connection_id for r in records] == ["c1", "c2"]
    user_rec, bot_rec = records
    assert user_rec.token == Secret(ut) and user_rec.token_kind == "user"
    assert user_rec.declared_scopes == ["chat:write", "channels:read"]
    assert user_rec.source_team_id == "T1" and user_rec.source_slack_user_id == "U1"
    assert user_rec.owner_id == "owner-c1" and user_rec.owner_email == "c1@example.com"
    assert user_rec.tenant == "acme" and user_rec.purpose == ["channel-selection"]
    assert user_rec.has_refresh_token is True
    assert user_rec.token_expires_at is None  # the expiry belongs to the bot token
    assert user_rec.created_at == "2026-01-02T03:04:05Z"
    assert bot_rec.token == Secret(bot_only) and bot_rec.token_kind == "bot"
    assert bot_rec.declared_scopes == ["chat:write", "users:read"]
    assert bot_rec.token_expires_at == "2026-07-01T00:00:00Z"
    assert bot_rec.source_team_id == "T2" and bot_rec.metadata["enterprise_id"] == "E1"
    assert bot_rec.has_refresh_token is False
    pages = [r.url.params.get("page") for r in fake.requests if r.url.path == "/connections"]
    assert pages == ["0", "1"]
    cred_calls = [r for r in fake.requests if r.url.path.startswith("/connections/")]
    assert {r.url.params["provider_config_key"] for r in cred_calls} == {"slack"}
    assert "github" not in str([r.url for r in fake.requests])
    assert ut not in repr(records)


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


def test_424_is_a_dead_record_not_a_failure() -> None:
    listing = [summary("c1")]
    fake = FakeNango(listing)
    fake.creds["c1"] = httpx.Response(
        424, json={"error": {"code": "invalid_credentials", "message": "refresh failed"}}
    )
    (record,) = source(fake).collect()
    assert record.dead_reason == "invalid_credentials"
    assert DEAD_TOKEN_STATUS[record.dead_reason] is Status.NEEDS_RECONNECT
    assert record.token is None and record.owner_id == "owner-c1"
    got = source(fake).fetch_token(record)
    assert got.dead_reason == "invalid_credentials" and got.token is None


def test_connection_deleted_between_list_and_get_is_skipped() -> None:
    fake = FakeNango([summary("c1")])
    assert list(source(fake).collect()) == []


def test_404_without_unknown_connection_is_a_failure() -> None:
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


def test_other_config_key_gets_a_distinct_connection_id() -> None:
    s = summary("c1", key="slack-prod")
    fake = FakeNango([s])
    fake.creds["c1"] = ok(s, user_creds(fake_token()))
    (record,) = source(fake).collect()
    assert record.connection_id == "slack-prod:c1"
    assert record.metadata == {"connection_id": "c1", "provider_config_key": "slack-prod"}
