"""dormant_binding needs evidence that spans the threshold."""

from __future__ import annotations

from nhictl.catalog import load_catalog
from nhictl.checks import Finding, Snapshot, evaluate, get_rule
from nhictl.policy import Policy
from tests.checks.helpers import NOW, clean


def _run(since: str) -> list[Finding]:
    b = clean(last_used_at=None, created_at="2026-01-01T00:00:00Z",
              first_seen_at="2026-01-01T00:00:00Z")
    snap = Snapshot(bindings=(b,), usage_sources=frozenset({"export"}),
                    usage_since={"export": since})
    return list(evaluate(snap, Policy(), load_catalog(), NOW,
                         rules=[get_rule("dormant_binding")]))


def test_short_evidence_cannot_show_dormancy() -> None:
    # 9 days of evidence against a 45-day threshold: silence.
    assert _run("2026-05-23T00:00:00Z") == []


def test_evidence_longer_than_threshold_shows_dormancy_from_its_start() -> None:
    (finding,) = _run("2026-03-01T00:00:00Z")
    assert finding.evidence["idle_since"] == "2026-03-01T00:00:00Z"
    assert finding.evidence["usage_evidence_since"] == "2026-03-01T00:00:00Z"
