"""The revoke plan says when a token is shared with bindings outside the plan."""

from __future__ import annotations

from nhictl.revoke.plan import build_plan


def _binding(bid: str, status: str = "active") -> dict[str, object]:
    return {"id": bid, "source": "export", "connection_id": bid, "status": status,
            "token_kind": "user", "owner_email": "a@example.com", "workspace_id": "T1"}


def test_shared_token_is_named_in_notes() -> None:
    steps = build_plan([(_binding("b-1"), "review")], {"export": "file"},
                       {"b-1": ["b-2"]})
    assert any("shares its token with b-2" in n for n in steps[0].notes)


def test_no_note_without_sharing_or_for_noop() -> None:
    plain = build_plan([(_binding("b-1"), "review")], {"export": "file"}, {"b-1": []})
    assert not plain[0].notes
    done = build_plan([(_binding("b-1", "revoked"), "review")], {"export": "file"},
                      {"b-1": ["b-2"]})
    assert not done[0].notes
