"""The exit code of a reconcile run, for cron: partial (4) and findings (1) combined.

Precedence: a partial run exits 4 even when it also has findings at or above ``--fail-on``,
because findings computed from a partly read inventory are incomplete and the outage is what
the job's owner must fix first; one warning line names both so nothing is hidden. With
``--no-fail-on-partial`` a partial run exits by its findings alone (1 or 0), still warning.
"""

from __future__ import annotations

import logging

from nhictl.cli.common import AppState
from nhictl.errors import ExitCode
from nhictl.models import Severity


def reconcile_exit_code(
    st: AppState, run_code: int, fail_on: Severity | None, *, fail_on_partial: bool = True
) -> int:
    """The process exit code of ``nhictl reconcile`` once the run (``run_code``) is done."""
    partial = run_code == ExitCode.PARTIAL
    hits = 0
    if fail_on is not None:
        from nhictl.cli.check_cmd import execute, explain_fail_on, summary_line

        report = execute(st, command="reconcile --fail-on")
        st.info(summary_line(report))
        if explain_fail_on(st, report, fail_on):
            hits = sum(1 for f in report.findings
                       if not f.suppressed and f.severity.rank >= fail_on.rank)
    findings_code = ExitCode.FINDINGS if hits else ExitCode.OK
    if not partial:
        return run_code or findings_code
    code = ExitCode.PARTIAL if fail_on_partial else findings_code
    parts = ["partial run (a source or Slack could not be read completely; see above)"]
    if hits and fail_on is not None:
        parts.append(f"{hits} unsuppressed finding(s) at or above {fail_on.value}")
    why = ("; partial (4) takes precedence over findings (1)" if hits and fail_on_partial
           else "; --no-fail-on-partial: the exit code is the findings'" if not fail_on_partial
           else "")
    message = f"exit {code}: " + " and ".join(parts) + why
    if st.log_format == "json":
        from nhictl.logs import log

        log(message, logging.WARNING, exit_code=code, partial=True, findings=hits,
            fail_on=fail_on.value if fail_on else None)
    else:
        st.warn(message)
    return code
