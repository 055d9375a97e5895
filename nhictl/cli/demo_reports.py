"""The demo's last steps: checks, findings by rule, and the review packet on disk."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from nhictl.cli.common import AppState
from nhictl.exporters.base import Column, Document, Format


def write_reports(st: AppState, out: Path) -> None:
    from nhictl.cli.check_cmd import execute, summary_line
    from nhictl.exporters import exporter_for
    from nhictl.fsutil import atomic_write_text

    st.info("demo: checks (least privilege and lifecycle)")
    report = execute(st, command="demo check")
    st.info(summary_line(report))
    findings = [f.as_dict() for f in report.findings]
    by_rule: Counter[tuple[str, str]] = Counter(
        (str(f["severity"]), str(f["rule_id"])) for f in findings if not f.get("suppressed"))
    rows = [{"severity": sev, "rule_id": rule, "count": n}
            for (sev, rule), n in sorted(by_rule.items(), key=_severity_order)]
    doc = Document("findings by rule", [Column("severity", "SEVERITY", 9),
                                        Column("rule_id", "RULE", 28),
                                        Column("count", "FINDINGS", 8)], rows, report.generated_at)
    if not st.quiet:
        import io

        buffer = io.StringIO()
        exporter_for(Format.TABLE).write(doc, buffer)
        st.stderr().print(buffer.getvalue(), markup=False, highlight=False, end="")
    import json

    atomic_write_text(out / "findings.json", json.dumps(
        {"schema_version": 1, "generated_at": report.generated_at, "findings": findings,
         "summary": report.summary(), "resolved": report.resolved},  # as `check -o json`
        indent=2, default=str) + "\n")
    written = ["findings.json"]
    for fmt, name in (("html", "access-review.html"), ("csv", "access-review.csv"),
                      ("markdown", "access-review.md")):
        _cli(st, ["report", "access-review", "-o", fmt, "--out", str(out / name)])
        written.append(name)
    st.info(f"demo: wrote {', '.join(written)} in {out}")


_ORDER = {"critical": 0, "high": 1, "medium": 2, "low": 3, "info": 4}


def _severity_order(item: tuple[tuple[str, str], int]) -> tuple[int, str]:
    (sev, rule), _n = item
    return _ORDER.get(sev, 9), rule


def _cli(st: AppState, args: list[str]) -> None:
    """Run another nhictl command in-process with the demo's global options."""
    import typer

    from nhictl.cli.main import app

    base = ["--db", str(st.db), "--config", str(st.config_path),
            "--slack-api-url", st.api_url(), "--quiet"]
    typer.main.get_command(app).main(base + args, prog_name="nhictl", standalone_mode=False)
