"""The HTML report: self-contained, escaped, and checked in headless Chromium."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from nhictl.exporters.base import Column, Document, Format, exporter_for
from nhictl.review.report import INSTRUCTIONS, build_rows, summarise

OWNERS = ["grace@acme.example", "<script>alert(1)</script>@evil.example",
          "=HYPERLINK(\"http://evil.example\")", "alan@acme.example"]


def report_html(count: int = 40) -> tuple[str, list[str]]:
    statuses = ["active", "active", "needs_reconnect", "expired", "unvalidated"]
    bindings = [{
        "id": f"b-{i:010x}", "tenant": ["acme", "globex"][i % 2],
        "owner_email": OWNERS[i % len(OWNERS)], "status": statuses[i % len(statuses)],
        "workspace_name": "Acme", "token_kind": "bot" if i % 7 == 0 else "user",
        "purpose": ["notifications"], "granted_scopes": ["chat:write"],
        "last_validated_at": f"2026-11-{(i % 28) + 1:02d}T10:00:00Z",
    } for i in range(count)]
    findings = [{"rule_id": "scope_exceeds_purpose", "severity": "high",
                 "binding_id": b["id"], "message": "too much", "evidence": {"excess": ["x:y"]}}
                for b in bindings[::3]]
    rows = build_rows(bindings, findings)
    doc = Document("bindings", [Column(k, k.replace("_", " ")) for k in (
        "binding_id", "owner", "status", "granted_scopes", "findings", "max_severity",
        "recommended_action", "action_reason", "last_validated_at")], rows,
        "2026-11-29T12:00:00Z", title="Access review",
        extra={"summary": summarise(rows), "instructions": list(INSTRUCTIONS)})
    out = io.StringIO()
    exporter_for(Format.HTML).write(doc, out)
    return out.getvalue(), [r["binding_id"] for r in rows]


def test_self_contained_and_escaped() -> None:
    html, ids = report_html()
    assert html.startswith("<!DOCTYPE html>")
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html, re.I)
    assert "@import" not in html and "url(" not in html
    assert "default-src 'none'" in html  # the CSP forbids loading anything
    assert "<script>alert(1)</script>" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;@evil.example" in html
    assert html.count("<svg ") == 3 and "@media print" in html
    assert all(f">{i}<" in html for i in ids)
    assert "How to review" in html


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "chrome"):
        found = shutil.which(name)
        if found:
            return found
    return None


def _run(browser: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    cmd = [browser, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
           "--no-first-run", "--disable-background-networking", "--disable-component-update",
           "--disable-sync", f"--user-data-dir={profile}", "--enable-logging=stderr",
           "--v=0", "--hide-scrollbars", *args]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=90, check=False)


def js_errors(dom: subprocess.CompletedProcess[str]) -> list[str]:
    """Console errors and the page's own error sentinel; [] when the script ran cleanly."""
    problems = [line for line in dom.stderr.splitlines()
                if "Uncaught" in line or "Refused to" in line]
    html_tag = re.search(r"<html[^>]*>", dom.stdout)
    tag = html_tag.group(0) if html_tag else ""
    if "data-js-error=" in tag:
        problems.append(tag)
    if 'data-ready="1"' not in tag:
        problems.append("inline script did not finish")
    return problems


def test_renders_in_headless_chromium(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found (install Debian's chromium package)")
    html, ids = report_html()
    page = tmp_path / "review.html"
    page.write_text(html, encoding="utf-8")
    dom = _run(browser, tmp_path / "p1", "--dump-dom", page.as_uri())
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert "Uncaught" not in dom.stderr and "Refused to" not in dom.stderr, dom.stderr[-2000:]
    assert js_errors(dom) == []
    body = dom.stdout.split("<tbody>", 1)[1]
    assert body.count("<tr>") == len(ids)
    assert all(f">{i}<" in body for i in ids)
    shot = tmp_path / "review.png"
    result = _run(browser, tmp_path / "p2", "--window-size=1400,1600",
                  f"--screenshot={shot}", page.as_uri())
    assert result.returncode == 0, result.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000


def test_chromium_check_catches_script_errors(tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        pytest.skip("no chromium binary found (install Debian's chromium package)")
    html, _ = report_html(3)
    broken = html.replace("root.setAttribute('data-ready', '1');", "nosuchfunction();")
    page = tmp_path / "broken.html"
    page.write_text(broken, encoding="utf-8")
    assert js_errors(_run(browser, tmp_path / "p", "--dump-dom", page.as_uri()))
