"""``nhictl report access-review`` and ``nhictl report evidence``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from nhictl.cli.common import AppState, OutFileOpt, example, state
from nhictl.exporters.base import Column, Document, Format

if TYPE_CHECKING:
    from nhictl.policy import Policy

report = typer.Typer(help="Review packets and review-cycle evidence.", no_args_is_help=True)

HTML_COLUMNS = [
    ("binding_id", "Binding"), ("tenant", "Tenant"), ("owner", "Owner"),
    ("workspace", "Workspace"), ("token_kind", "Kind"), ("purpose", "Purpose"),
    ("status", "Status"), ("granted_scopes", "Granted scopes"),
    ("excess_scopes", "Excess scopes"), ("findings", "Findings"),
    ("max_severity", "Max severity"), ("recommended_action", "Recommended"),
    ("action_reason", "Why"), ("last_validated_at", "Last validated"),
]


def _policy(st: AppState, policy_file: Path | None) -> Policy:
    from nhictl.policy import build_policy, load_policy_file

    if policy_file is not None:
        policy, warnings = load_policy_file(policy_file)
    else:
        cfg = st.config
        policy, warnings = build_policy(cfg.policy or None, cfg.purposes or None,
                                        path=cfg.path)
    for warning in warnings:
        st.warn(warning)
    return policy


def _when(value: object) -> str:
    return str(value).replace("T", " ")[:16] if value else "never"


def _write_text(st: AppState, text: str, out: Path | None) -> None:
    import sys

    if out is None or str(out) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from nhictl.fsutil import atomic_write_text

    atomic_write_text(out, text)
    st.info(f"wrote {out}")


@report.command("access-review", short_help="The review packet: csv, json, markdown or html.",
                epilog=example("nhictl report access-review -o csv --out review-2026Q4.csv"))
def access_review(
    ctx: typer.Context,
    output: Annotated[
        Format, typer.Option("-o", "--output", help="csv, json, markdown or html.",
                             case_sensitive=False)
    ] = Format.CSV,
    out: OutFileOpt = None,
    include_all: Annotated[
        bool, typer.Option("--all", help="Include revoked bindings too.")
    ] = False,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", help="Policy TOML (default: the config's).",
                                  exists=True, dir_okay=False)
    ] = None,
) -> None:
    """The access-review packet: one row per binding, with findings and a recommendation.

    Findings are computed fresh from the inventory (the same checks as `nhictl check`,
    nothing recorded), so the packet is as current as the last reconcile.
    """
    from nhictl.catalog.loader import load_catalog
    from nhictl.clock import system_clock
    from nhictl.errors import UsageError
    from nhictl.review.packet import build_packet
    from nhictl.review.render import markdown
    from nhictl.review.report import INSTRUCTIONS, REVIEW_COLUMNS

    st = state(ctx)
    if output is Format.TABLE:
        raise UsageError("-o table is not a review packet format",
                         hint="use -o csv, json, markdown or html")
    inv = st.open()
    packet = build_packet(inv, _policy(st, policy_file), load_catalog(), now=system_clock(),
                          include_revoked=include_all)
    if output is Format.MARKDOWN:
        _write_text(st, markdown(packet.rows, packet.summary, packet.generated_at), out)
    elif output is Format.HTML:
        from nhictl.exporters.html import HtmlExporter

        columns = [Column(k, h, render=_when if k.endswith("_at") else None)
                   for k, h in HTML_COLUMNS]
        doc = Document("bindings", columns, packet.rows,
                       packet.generated_at, title="Access review",
                       extra={"summary": packet.summary, "instructions": list(INSTRUCTIONS)})
        import io

        buffer = io.StringIO()
        HtmlExporter().write(doc, buffer)
        _write_text(st, buffer.getvalue(), out)
    else:
        from nhictl.cli.common import emit

        doc = Document("bindings", [Column(k, k) for k in REVIEW_COLUMNS], packet.rows,
                       packet.generated_at,
                       extra={"summary": packet.summary} if output is Format.JSON else {})
        emit(st, doc, output, out)
    actions = packet.summary["recommended_actions"]
    st.info(f"{len(packet.rows)} binding(s): " + ", ".join(
        f"{k} {v}" for k, v in actions.items()) + " recommended")


@report.command("evidence", short_help="What a review cycle did: kept, reduced, revoked, open.",
                epilog=example("nhictl report evidence --since 2026-10-01 -o json"))
def evidence(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", help="Start of the review cycle: ISO date/time or age "
                          "like 30d (default 90d).")
    ] = "90d",
    output: Annotated[
        Format, typer.Option("-o", "--output", help="json or markdown.", case_sensitive=False)
    ] = Format.MARKDOWN,
    out: OutFileOpt = None,
) -> None:
    """What a review cycle did: reviewed, kept, reduced, revoked (with times), still open."""
    import json

    from nhictl.clock import iso, parse_since, system_clock
    from nhictl.errors import UsageError
    from nhictl.evidence import build_evidence, evidence_markdown

    st = state(ctx)
    if output not in (Format.JSON, Format.MARKDOWN):
        raise UsageError("-o must be json or markdown for evidence")
    now = system_clock()
    try:
        since_iso = iso(parse_since(since, now))
    except ValueError:
        raise UsageError(f"--since {since!r}: expected an ISO date/time or an age like 30d"
                         ) from None
    inv = st.open()
    with inv.engine.connect() as conn:
        ev = build_evidence(conn, since=since_iso, generated_at=iso(now))
    from nhictl.untrusted import mask_record

    text = (json.dumps(mask_record(ev), indent=2, default=str) + "\n" if output is Format.JSON
            else evidence_markdown(ev))
    _write_text(st, text, out)


def register(app: typer.Typer) -> None:
    app.add_typer(report, name="report")
