"""Loopback fakes of WorkOS Pipes and Nango, answering from the shared :class:`World`.

Both serve exactly the endpoints nhictl's sources use, on 127.0.0.1 (port 0 by default), as
context managers with ``.url`` and a ``.requests`` recorder (method, path, query, JSON body;
never the Authorization header). A token a broker hands out is a token of ``world.tokens``, so
it validates (or fails) against the sandbox Slack exactly like the real thing.

World sections (see also ``nhictl.sandbox.world``)::

    "workos": {"api_key": "sk_test_...",
               "users": [{"id": "user_01", "email": "grace@example.com",
                          "first_name": "Grace", "last_name": "Hopper",
                          "memberships": [{"organization_id": "org_01",
                                           "status": "active"}],  # |inactive|pending
                          "organization_id": "org_01",  # legacy: one active membership
                          "slack": {                    # or a list of them, or null
                            "id": "data_installation_01", "token": "xoxp-...",
                            "state": "connected",  # connected|needs_reauthorization|disconnected
                            "scopes": [...],       # default: the world token's scopes
                            "requested_scopes": [...],  # default: scopes
                            "organization_id": null,    # default: the legacy organization_id
                            "created_at": "...", "expires_at": null,
                            "token_error": null}}],     # force the token call's error code
               "delete_404_once": false,   # the next DELETE answers 404 and deletes nothing
               "outage": false, "outage_after": null, "rate_limit_once": null}

    "nango": {"secret_key": "...",
              "connections": [{"id": 1, "connection_id": "c-1", "provider": "slack",
                               "provider_config_key": "slack", "created": "...",
                               "tags": {"end_user_id": "u-1", "end_user_email": "..."},
                               "end_user": null, "metadata": null,
                               "token": "xoxp-...",      # user or bot token of world.tokens
                               "bot_token": null,        # optional bot token beside a user one
                               "state": "ok",  # ok|refresh_failed|refresh_exhausted
                               "expires_at": null, "refresh": false}],
              "outage": false, "outage_after": null, "rate_limit_once": null,
              "ignore_paging": false}                    # answer every page with everything

Faults: ``outage`` (every call 503), ``outage_after`` (503 once that many calls were served),
``rate_limit_once`` (the next call gets 429 with that many seconds of Retry-After). They can
also be set at runtime: :meth:`BrokerSandbox.set_outage`, ``outage_after``,
``rate_limit_once``, :meth:`WorkOSSandbox.set_state`, :meth:`NangoSandbox.set_state`.
"""

from nhictl.sandbox.broker_base import BrokerSandbox
from nhictl.sandbox.nango_fake import NangoSandbox
from nhictl.sandbox.workos_fake import WorkOSSandbox

__all__ = ["BrokerSandbox", "NangoSandbox", "WorkOSSandbox"]
