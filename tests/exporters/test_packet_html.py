"""Issue 12 point 6: the HTML packet reads well (action first, by owner, fits 1280 px)."""

from __future__ import annotations

import io
import re
from pathlib import Path

import pytest

from nhictl.exporters.packet_html import PacketHtmlExporter
from nhictl.review.report import INSTRUCTIONS, build_rows, summarise
from tests.exporters.test_html import _chromium, _run, js_errors

SCOPES = ["chat:write", "channels:read", "users:read.email", "identity.avatar:read:user"]


def packet(count: int = 60) -> tuple[str, list[dict[str, object]]]:
    owners = ["grace@acme.example", "alan@globex.example", "ada@initech.example",
              "margaret.hamilton-very-long-name@apollo-guidance.example"]
    bindings = [{
        "id": f"b-{i:010x}", "tenant": ["acme", "globex"][i % 2],
        "owner_email": owners[i % len(owners)],
        "status": ["active", "active", "needs_reconnect", "active"][i % 4],
        "status_reason": "slack: token_revoked", "workspace_name": "Acme Engineering",
        "token_kind": "user", "purpose": ["notifications", "channel-selection"],
        "granted_scopes": SCOPES, "last_validated_at": "2026-11-28T10:00:00Z",
        "connection_id": f"conn-{i}", "source": "prod-pipes",
    } for i in range(count)]
    findings = [{"rule_id": "discovery_scope_retained" if i % 3 else "owner_offboarded",
                 "severity": "high", "binding_id": b["id"], "message": "long " * 40,
                 "evidence": {"retained": ["channels:read"]}}
                for i, b in enumerate(bindings) if i % 5 == 0]
    findings.append({"rule_id": "token_never_expires", "severity": "low",
                     "binding_id": bindings[1]["id"], "message": "never expires",
                     "suppressed": True, "evidence": {},
                     "suppression": {"kind": "accepted_risk", "approver": "ann",
                                     "expires": "2027-02-26"}})
    rows = build_rows(bindings, findings)
    out = io.StringIO()
    PacketHtmlExporter(INSTRUCTIONS).write(rows, summarise(rows), "2026-11-29T12:00:00Z", out)
    return out.getvalue(), rows


def test_action_rows_first_grouped_by_owner_with_summary_and_filter_box() -> None:
    html, _rows = packet()
    sections = re.findall(r'<section class="owner".*?</section>', html, re.S)
    assert len(sections) == 4
    order = {"revoke": 0, "reduce": 1, "investigate": 2, "keep": 3}
    firsts = []
    for section in sections:
        actions = re.findall(r'<td class="p-action"><span class="badge"[^>]*>(\w+)<', section)
        assert actions == sorted(actions, key=order.__getitem__), actions
        firsts.append(order[actions[0]])
        assert re.search(r"\d+ binding\(s\): (revoke|reduce|investigate|keep) \d+", section)
    assert firsts == sorted(firsts)
    assert '<input type="search" id="filter"' in html
    assert "thead { display: table-header-group; }" in html  # headers repeat on paper
    # Identifiers are whole boxes that break only after ':' '.' '_' when alone too wide.
    assert ('<span class="id mono"><span class="nw">identity.</span><wbr>'
            '<span class="nw">avatar:</span>') in html
    assert '<span class="nw">channel-selection</span>' in html
    assert ('<span class="nw">expires</span></span> <span class="mark">(accepted)</span>'
            in html)  # an accepted finding is shown, marked


def test_fits_1280_px_without_horizontal_scrollbar_in_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found (install Debian's chromium package)")
    html, rows = packet()
    page = tmp_path / "packet.html"
    page.write_text(html, encoding="utf-8")
    dom = _run(browser, tmp_path / "p1", "--window-size=1280,1600", "--dump-dom",
               page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert js_errors(dom) == []
    tag = re.search(r"<html[^>]*>", dom.stdout)
    assert tag and 'data-overflow-x="0"' in tag.group(0), tag
    assert f"{len(rows)} of {len(rows)} rows" in dom.stdout  # the filter script ran
    shot = tmp_path / "packet.png"
    result = _run(browser, tmp_path / "p2", "--window-size=1280,1600",
                  f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0 and shot.read_bytes()[:4] == b"\x89PNG"


def test_markdown_packet_lists_rows_that_need_action_first_per_owner() -> None:
    from nhictl.review.render import markdown

    _, rows = packet(20)
    text = markdown(rows, summarise(rows), "now")  # type: ignore[arg-type]
    order = {"revoke": 0, "reduce": 1, "investigate": 2, "keep": 3}
    for block in text.split("### Owner ")[1:]:
        actions = re.findall(r"\*\*(\w+)\*\*", block)
        assert actions == sorted(actions, key=order.__getitem__), actions
