"""A pause point for crash and concurrency tests: ``NHICTL_TEST_PAUSE=<point>``.

At the named point the process says so on stderr (``nhictl-test: paused at <point>``) and
waits for a line on stdin, so a test can SIGKILL it, or let another process run, at exactly
that point (never by sleeping "long enough"). Unset, it costs one environment lookup.
"""

from __future__ import annotations

import os
import sys

VARIABLE = "NHICTL_TEST_PAUSE"


def pause_point(name: str) -> None:
    if os.environ.get(VARIABLE) != name:
        return
    sys.stderr.write(f"nhictl-test: paused at {name}\n")
    sys.stderr.flush()
    sys.stdin.readline()
