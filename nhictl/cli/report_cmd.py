"""``nhictl report access-review`` and ``nhictl report evidence``."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nhictl.cli.common import AppState, OutFileOpt, example, state
from nhictl.cli.filter_opts import (
    OwnerOpt,
    ScopeOpt,
    SortOpt,
    SourceOpt,
    StatusOpt,
    TenantOpt,
    WorkspaceOpt,
    filters,
)
from nhictl.exporters.base import Column, Document, Format

if TYPE_CHECKING:
    from collections.abc import Iterator

    from nhictl.policy import Policy
    from nhictl.review.packet import PacketStream

report = typer.Typer(help="Review packets and review-cycle evidence.", no_args_is_help=True)



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


def _write_text(st: AppState, text: str, out: Path | None) -> None:
    import sys

    if out is None or str(out) == "-":
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from nhictl.fsutil import atomic_write_text

    atomic_write_text(out, text)
    st.info(f"wrote {out}")


def _dir_or_packet(ctx: typer.Context, value: Path | None) -> Path | None:
    if value is not None and value.is_dir():
        return value  # --split-by writes into a directory; checked again below
    from nhictl.cli.common import _not_a_filled_packet

    return _not_a_filled_packet(ctx, value)


PacketOutOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="FILE|DIR", help="Write to this file ('-' for stdout); "
                 "with --split-by, the directory for one file per group and an index.",
                 callback=_dir_or_packet),
]


class PacketFormat(StrEnum):
    CSV = "csv"
    JSON = "json"
    MARKDOWN = "markdown"
    HTML = "html"


class EvidenceFormat(StrEnum):
    JSON = "json"
    MARKDOWN = "markdown"


class SplitBy(StrEnum):
    TENANT = "tenant"
    OWNER = "owner"


def _render_packet(fmt: Format, rows: list[dict[str, Any]], summary: dict[str, Any],
                   generated_at: str) -> str:
    import io

    from nhictl.exporters.base import exporter_for
    from nhictl.review.render import markdown
    from nhictl.review.report import INSTRUCTIONS, REVIEW_COLUMNS

    if fmt is Format.MARKDOWN:
        return markdown(rows, summary, generated_at)
    buffer = io.StringIO()
    if fmt is Format.HTML:
        from nhictl.exporters.packet_html import PacketHtmlExporter

        PacketHtmlExporter(INSTRUCTIONS).write(rows, summary, generated_at, buffer)
        return buffer.getvalue()
    doc = Document("bindings", [Column(k, k) for k in REVIEW_COLUMNS], rows, generated_at,
                   extra={"summary": summary} if fmt is Format.JSON else {})
    exporter_for(fmt).write(doc, buffer)
    return buffer.getvalue()


_EXTENSION = {Format.CSV: "csv", Format.JSON: "json", Format.MARKDOWN: "md", Format.HTML: "html"}


def _write_split(st: AppState, fmt: Format, rows: list[dict[str, Any]], by: str,
                 out: Path, generated_at: str) -> None:
    """One packet per group plus ``index.<ext>`` listing them (in the packet's format)."""
    from nhictl.errors import UsageError
    from nhictl.exporters.base import exporter_for
    from nhictl.fsutil import atomic_write_text
    from nhictl.review.csvread import has_decisions
    from nhictl.review.report import ACTIONS, summarise
    from nhictl.review.split import file_names, index_rows, split_rows

    groups = split_rows(rows, by)
    names = file_names(list(groups), by, _EXTENSION[fmt])
    for name in names.values():
        if (out / name).is_file() and has_decisions(out / name):
            raise UsageError(f"{out / name} is a review packet with reviewers' decisions; "
                             "it is not overwritten (choose another --out directory)")
    for label, group in groups.items():
        atomic_write_text(out / names[label],
                          _render_packet(fmt, group, summarise(group), generated_at))
    index = index_rows(groups, names, by)
    import io

    buffer = io.StringIO()
    columns = [Column(k, k) for k in (by, "file", "bindings", *ACTIONS)]
    exporter_for(fmt).write(Document("packets", columns, index, generated_at,
                                     title=f"Access review packets by {by}"), buffer)
    atomic_write_text(out / f"index.{_EXTENSION[fmt]}", buffer.getvalue())
    st.info(f"wrote {len(groups)} packet(s) by {by} and index.{_EXTENSION[fmt]} in {out}")


@report.command("access-review", short_help="The review packet: csv, json, markdown or html.",
                epilog=example("nhictl report access-review --tenant acme -o csv "
                               "--out review-acme.csv"))
def access_review(
    ctx: typer.Context,
    output: Annotated[
        PacketFormat, typer.Option("-o", "--output", help="csv, json, markdown or html.",
                                   case_sensitive=False, metavar="FORMAT")
    ] = PacketFormat.CSV,
    out: PacketOutOpt = None,
    include_all: Annotated[
        bool, typer.Option("--all", help="Include revoked bindings too.")
    ] = False,
    policy_file: Annotated[
        Path | None, typer.Option("--policy", metavar="FILE",
                                  help="Policy TOML (default: the config's).",
                                  exists=True, dir_okay=False)
    ] = None,
    tenant: TenantOpt = None,
    owner: OwnerOpt = None,
    workspace: WorkspaceOpt = None,
    source: SourceOpt = None,
    status: StatusOpt = None,
    scope: ScopeOpt = None,
    rule: Annotated[list[str] | None, typer.Option(
        "--rule", "-r", metavar="RULE",
        help="Only bindings with an open finding of this rule (repeatable).")] = None,
    sort: SortOpt = None,
    split_by: Annotated[
        SplitBy | None, typer.Option("--split-by", case_sensitive=False, metavar="tenant|owner",
                                     help="One packet per tenant or owner in the --out "
                                     "directory, plus an index.")
    ] = None,
) -> None:
    """The access-review packet: one row per binding, with findings and a recommendation.

    Findings are computed fresh from the inventory (the same checks as `nhictl check`,
    nothing recorded), so the packet is as current as the last reconcile.
    """
    from nhictl.catalog.loader import load_catalog
    from nhictl.clock import system_clock
    from nhictl.errors import UsageError
    from nhictl.filters import sort_rows
    from nhictl.review.packet import build_packet, stream_packet
    from nhictl.review.report import REVIEW_COLUMNS, summarise

    st = state(ctx)
    fmt = Format(output.value)
    wanted = filters(tenant=tenant, owner=owner, workspace=workspace, source=source,
                     status=status, scope=scope, rule=rule)
    if split_by is not None and (out is None or str(out) == "-"):
        raise UsageError("--split-by needs --out DIR (a directory for the packets)")
    if split_by is None and out is not None and out.is_dir():
        raise UsageError(f"--out {out} is a directory; give a file name (or use --split-by)")
    if split_by is not None and out is not None and out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file; --split-by writes into a directory")
    inv = st.open()
    policy = _policy(st, policy_file)
    if (split_by is None and sort is None and fmt in (Format.CSV, Format.JSON)
            and (out is None or str(out) == "-")):
        # Rows written as they are built (none held): CSV and JSON need nothing before them.
        stream = stream_packet(inv, policy, load_catalog(), now=system_clock(),
                               include_revoked=include_all, wanted=wanted)
        _stream_packet(fmt, stream)
        summary = stream.tally.summary()
    else:
        packet = build_packet(inv, policy, load_catalog(), now=system_clock(),
                              include_revoked=include_all, wanted=wanted)
        rows = list(sort_rows(packet.rows, sort, REVIEW_COLUMNS))
        summary = summarise(rows) if wanted else packet.summary
        if split_by is not None and out is not None:
            _write_split(st, fmt, rows, split_by.value, out, packet.generated_at)
        else:
            _write_text(st, _render_packet(fmt, rows, summary, packet.generated_at), out)
    actions = summary["recommended_actions"]
    st.info(f"{summary['bindings']} binding(s): " + ", ".join(
        f"{k} {v}" for k, v in actions.items()) + " recommended")


def _stream_packet(fmt: Format, stream: PacketStream) -> None:
    """The CSV or JSON packet to stdout as its rows are built (the same bytes as
    :func:`_render_packet`): JSON's ``summary`` comes after the rows, so it is filled in
    once they have all gone out."""
    import sys

    from nhictl.checks.common import gc_paused
    from nhictl.exporters.base import exporter_for
    from nhictl.review.report import REVIEW_COLUMNS

    summary: dict[str, Any] = {}

    def rows() -> Iterator[dict[str, Any]]:
        yield from stream.rows
        summary.update(stream.tally.summary())

    doc = Document("bindings", [Column(k, k) for k in REVIEW_COLUMNS], rows(),
                   stream.generated_at, extra={"summary": summary} if fmt is Format.JSON else {})
    with gc_paused():  # millions of short-lived objects, none in a cycle
        exporter_for(fmt).write(doc, sys.stdout)
    sys.stdout.flush()


@report.command("evidence", short_help="What a review cycle did: kept, reduced, revoked, open.",
                epilog=example("nhictl report evidence --since 2026-10-01 -o json"))
def evidence(
    ctx: typer.Context,
    since: Annotated[
        str, typer.Option("--since", metavar="WHEN",
                          help="Start of the review cycle: ISO date/time or age "
                          "like 30d (default 90d).")
    ] = "90d",
    output: Annotated[
        EvidenceFormat, typer.Option("-o", "--output", help="json or markdown.",
                                     case_sensitive=False, metavar="FORMAT")
    ] = EvidenceFormat.MARKDOWN,
    out: OutFileOpt = None,
    tenant: TenantOpt = None,
    owner: OwnerOpt = None,
    workspace: WorkspaceOpt = None,
    source: SourceOpt = None,
    status: StatusOpt = None,
    scope: ScopeOpt = None,
    sort: Annotated[str | None, typer.Option(
        "--sort", metavar="FIELD", help="Order each list by binding_id, tenant, owner, "
        "workspace or status (prefix - for descending).")] = None,
) -> None:
    """What a review cycle did: reviewed, kept, reduced, revoked (with times), still open.

    The filters select the bindings the evidence covers (as they are now).
    """
    import json

    from nhictl.clock import iso, parse_since, system_clock
    from nhictl.errors import UsageError
    from nhictl.evidence import build_evidence, evidence_markdown, sort_evidence

    st = state(ctx)
    wanted = filters(tenant=tenant, owner=owner, workspace=workspace, source=source,
                     status=status, scope=scope)
    now = system_clock()
    try:
        since_iso = iso(parse_since(since, now))
    except ValueError:
        raise UsageError(f"--since {since!r}: expected an ISO date/time or an age like 30d"
                         ) from None
    sort_evidence({"counts": {}}, sort)  # a bad --sort is a usage error before any work
    inv = st.open()
    with inv.engine.connect() as conn:
        ev = build_evidence(conn, since=since_iso, generated_at=iso(now),
                            keep=wanted.binding_matches if wanted.on_bindings else None)
    ev = sort_evidence(ev, sort)
    from nhictl.untrusted import mask_record

    text = (json.dumps(mask_record(ev), indent=2, default=str) + "\n"
            if output is EvidenceFormat.JSON
            else evidence_markdown(ev))
    _write_text(st, text, out)


def register(app: typer.Typer) -> None:
    app.add_typer(report, name="report")
