"""A :class:`~nhictl.notifiers.digest.Digest` as messages: Slack Block Kit with a plain-text
fallback, and the generic webhook's JSON document.

Slack limits (slack_sdk ``models/blocks/blocks.py`` validators, and docs.slack.dev
"reference/block-kit/blocks"): at most 50 blocks per message, a header's plain text at most
150 characters, a section's text at most 3000, a context block at most 10 elements. The blocks
are built with slack_sdk's own classes and checked with their ``validate_json``; the text
fallback (what notifications and screen readers show, docs.slack.dev
"reference/methods/chat.postMessage": keep it well under 4,000 characters) stays under
:data:`TEXT_LIMIT`.

No link is ever built: messages carry binding and run ids and the nhictl command that shows
more, never a URL, and ``unfurl_links``/``unfurl_media`` are off so Slack fetches nothing.
Every text from the inventory already passed :func:`nhictl.untrusted.inert` (secrets masked);
for mrkdwn it is escaped too (``&``, ``<``, ``>``: no ``<url|label>`` links, no ``<!channel>``).
"""

from __future__ import annotations

from typing import Any

from nhictl.notifiers.digest import Digest, FindingNews

SCHEMA_VERSION = 1
TEXT_LIMIT = 3500
LINE_LIMIT = 240  # one finding, binding or run per line of the text fallback
SECTION_LIMIT = 3000
HEADER_LIMIT = 150
MAX_BLOCKS = 50
MAX_WEBHOOK_ITEMS = 1000  # per list; the summary counts them all


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def mrkdwn_escape(text: str) -> str:
    """Slack's three control characters as entities (docs.slack.dev "formatting text:
    escaping"); backticks become quotes so a value cannot close a code span."""
    return (text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
            .replace("`", "'"))


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" + ("" if n == 1 else "s")


def headline(d: Digest) -> str:
    parts = []
    if d.new_findings:
        sev = ", ".join(f"{n} {s}" for s, n in d.by_severity().items())
        parts.append(f"{_plural(len(d.new_findings), 'new finding')} ({sev})")
    if d.resolved_findings:
        parts.append(f"{len(d.resolved_findings)} resolved")
    if d.dead_bindings:
        parts.append(f"{_plural(len(d.dead_bindings), 'binding')} went dead")
    if d.partial_runs:
        parts.append(_plural(len(d.partial_runs), "partial run"))
    return "; ".join(parts) or "nothing new"


def _finding_line(f: FindingNews) -> str:
    where = f" {f.binding_id}" if f.binding_id else ""
    return f"{f.severity.value} {f.rule_id}{where}: {f.title or f.message}"


def text_fallback(d: Digest, top: int) -> str:
    """The plain-text message (Slack's ``text``; also what ``--dry-run`` and the demo show)."""
    lines = [f"nhictl [{d.target}]: {headline(d)}"]
    if d.new_findings:
        lines.append("New findings:")
        lines += [f"  {_finding_line(f)}" for f in d.new_findings[:top]]
        if len(d.new_findings) > top:
            lines.append(f"  ...and {len(d.new_findings) - top} more (nhictl check)")
    if d.resolved_findings:
        names = ", ".join(f"{f.rule_id} {f.binding_id or ''}".strip()
                          for f in d.resolved_findings[:top])
        more = len(d.resolved_findings) - top
        lines.append(f"Resolved: {names}" + (f" and {more} more" if more > 0 else ""))
    if d.dead_bindings:
        lines.append("Bindings that went dead (the owner must reconnect):")
        for b in d.dead_bindings[:top]:
            who = ", ".join(x for x in (b.owner, b.workspace) if x)
            lines.append(f"  {b.binding_id} {b.status}" + (f" ({who})" if who else "")
                         + (f": {b.reason}" if b.reason else ""))
        if len(d.dead_bindings) > top:
            lines.append(f"  ...and {len(d.dead_bindings) - top} more "
                         "(nhictl inventory list --status needs_reconnect --status expired)")
    if d.partial_runs:
        lines.append("Partial runs:")
        lines += [f"  {r.run_id} {r.kind} {r.outcome}" + (f": {r.cause}" if r.cause else "")
                  for r in d.partial_runs]
    return _fit([_cut(line, LINE_LIMIT) for line in lines], _footer(d))


def _fit(lines: list[str], footer: str) -> str:
    """The lines that fit in :data:`TEXT_LIMIT` with the footer always last."""
    kept: list[str] = []
    room = TEXT_LIMIT - len(footer) - 40
    for line in lines:
        if room - len(line) - 1 < 0:
            kept.append("…(cut to fit; nhictl check shows everything)")
            break
        kept.append(line)
        room -= len(line) + 1
    return "\n".join([*kept, footer])


def _footer(d: Digest) -> str:
    check = f", check run {d.check_run_id}" if d.check_run_id else ""
    return f"(notification {d.id}{check}, {d.generated_at})"


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": _cut(text, SECTION_LIMIT)}}


def slack_blocks(d: Digest, top: int) -> list[dict[str, Any]]:
    """Header, sections and a context line, validated by slack_sdk's block classes."""
    from slack_sdk.models.blocks import Block

    e = mrkdwn_escape
    blocks: list[dict[str, Any]] = [{"type": "header", "text": {
        "type": "plain_text", "text": _cut(f"nhictl: {headline(d)}", HEADER_LIMIT)}}]
    if d.new_findings:
        sev = ", ".join(f"{n} {s}" for s, n in d.by_severity().items())
        blocks.append(_section(f"*New findings* ({len(d.new_findings)}): {sev}"))
        for f in d.new_findings[:top]:
            where = f" on `{e(f.binding_id)}`" if f.binding_id else ""
            blocks.append(_section(f"*{e(f.severity.value.upper())}* `{e(f.rule_id)}`{where}\n"
                                   f"{e(f.title)}\n_{e(f.message)}_"))
        if len(d.new_findings) > top:
            blocks.append(_section(f"…and {len(d.new_findings) - top} more: `nhictl check`"))
    if d.resolved_findings:
        items = ", ".join(f"`{e(f.rule_id)}` {e(f.binding_id or '')}".strip()
                          for f in d.resolved_findings[:top])
        more = len(d.resolved_findings) - top
        blocks.append(_section(f"*Resolved* ({len(d.resolved_findings)}): {items}"
                               + (f" and {more} more" if more > 0 else "")))
    if d.dead_bindings:
        rows = []
        for b in d.dead_bindings[:top]:
            who = ", ".join(e(x) for x in (b.owner, b.workspace) if x)
            rows.append(f"• `{e(b.binding_id)}` *{e(b.status)}*" + (f" ({who})" if who else "")
                        + (f": {e(b.reason)}" if b.reason else ""))
        if len(d.dead_bindings) > top:
            rows.append(f"…and {len(d.dead_bindings) - top} more")
        blocks.append(_section(f"*Bindings that went dead* ({len(d.dead_bindings)}); "
                               "their owners must reconnect:\n" + "\n".join(rows)))
    if d.partial_runs:
        rows = [f"• `{e(r.run_id)}` {e(r.kind)} *{e(r.outcome)}*"
                + (f": {e(r.cause)}" if r.cause else "") for r in d.partial_runs]
        blocks.append(_section(f"*Partial runs* ({len(d.partial_runs)}):\n" + "\n".join(rows)))
    blocks.append({"type": "divider"})
    blocks.append({"type": "context", "elements": [
        {"type": "mrkdwn", "text": _cut(e(_footer(d)), SECTION_LIMIT)},
        {"type": "mrkdwn", "text": "Details: `nhictl check` · `nhictl inventory show ID`"}]})
    blocks = blocks[:MAX_BLOCKS]
    for block in Block.parse_all(blocks):  # slack_sdk's own limits (SlackObjectFormationError)
        block.validate_json()
    return blocks


def slack_message(d: Digest, top: int, channel: str | None = None) -> dict[str, Any]:
    """The chat.postMessage arguments (or an incoming webhook's body, without ``channel``)."""
    message: dict[str, Any] = {"text": text_fallback(d, top), "blocks": slack_blocks(d, top),
                               "unfurl_links": False, "unfurl_media": False}
    if channel:
        message = {"channel": channel, **message}
    return message


def _finding_json(f: FindingNews) -> dict[str, Any]:
    return {"fingerprint": f.fingerprint, "rule_id": f.rule_id, "severity": f.severity.value,
            "binding_id": f.binding_id, "title": f.title, "message": f.message}


def webhook_document(d: Digest, top: int) -> dict[str, Any]:
    """The generic webhook's JSON body: every item, not only the top few."""
    return {
        "schema_version": SCHEMA_VERSION,
        "type": "nhictl.notification",
        "id": d.id,
        "target": d.target,
        "generated_at": d.generated_at,
        "check_run_id": d.check_run_id,
        "summary": {"new_findings": len(d.new_findings), "by_severity": d.by_severity(),
                    "resolved_findings": len(d.resolved_findings),
                    "dead_bindings": len(d.dead_bindings),
                    "partial_runs": len(d.partial_runs)},
        "truncated": any(len(items) > MAX_WEBHOOK_ITEMS for items in
                         (d.new_findings, d.resolved_findings, d.dead_bindings)),
        "new_findings": [_finding_json(f) for f in d.new_findings[:MAX_WEBHOOK_ITEMS]],
        "resolved_findings": [{"fingerprint": f.fingerprint, "rule_id": f.rule_id,
                               "binding_id": f.binding_id}
                              for f in d.resolved_findings[:MAX_WEBHOOK_ITEMS]],
        "dead_bindings": [{"binding_id": b.binding_id, "status": b.status, "reason": b.reason,
                           "owner": b.owner, "workspace": b.workspace}
                          for b in d.dead_bindings[:MAX_WEBHOOK_ITEMS]],
        "partial_runs": [{"run_id": r.run_id, "kind": r.kind, "outcome": r.outcome,
                          "ended_at": r.ended_at, "cause": r.cause} for r in d.partial_runs],
        "text": text_fallback(d, top),
    }
