"""The demo's last step: the alert nhictl posts to the security channel (sandbox Slack)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from nhictl.cli.common import AppState

if TYPE_CHECKING:
    from nhictl.sandbox.slack_server import SlackSandbox


def post_alert(st: AppState, slack: SlackSandbox,
               target: str = "sec-alerts") -> tuple[int, str | None]:
    """``nhictl notify sec-alerts`` against the sandbox; returns the exit code and the
    message Slack got, shown readably (:func:`show_alert`) once the demo is done."""
    from nhictl.cli import notify_cmd

    st.info(f"demo: notify {target} (chat.postMessage to the sandbox Slack)")
    before = len(slack.chat.messages)
    code = notify_cmd.send(st, notify_cmd.prepare(st, [target]))
    posted = slack.chat.messages[before:]
    if not posted:
        return code, None
    message = posted[-1]
    lines = [f"demo: the alert nhictl posted to #sec-alerts ({message.channel}, "
             f"{len(message.blocks)} Block Kit blocks; its plain-text fallback):", ""]
    lines += ["  " + line for line in message.text.splitlines()]
    return code, "\n".join(lines)


def show_alert(st: AppState, alert: str | None) -> None:
    if alert and not st.quiet:
        st.stderr().print("\n" + alert, markup=False, highlight=False)
