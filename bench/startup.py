"""Start-up: ``nhictl --version`` and ``nhictl --help`` next to ``python -c pass``.

Median of ``runs`` runs each (subprocesses, same interpreter). Target: ``--help`` under 0.3 s.
Run: ``.venv/bin/python bench/startup.py [--runs 7]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import time
from typing import Any

TARGET_HELP_S = 0.3


def _median_wall(argv: list[str], runs: int) -> float:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NHICTL_")}
    env["NO_COLOR"] = "1"
    walls = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True)
        walls.append(time.perf_counter() - start)
    return statistics.median(walls)


def run(report: Any = print, *, runs: int = 7) -> list[dict[str, Any]]:
    py = sys.executable
    base = _median_wall([py, "-c", "pass"], runs)
    rows: list[dict[str, Any]] = [{"bench": "start-up", "step": "python -c pass",
                                   "wall_s": base}]
    for label, args in (("nhictl --version", ["--version"]), ("nhictl --help", ["--help"])):
        wall = _median_wall([py, "-m", "nhictl", *args], runs)
        row: dict[str, Any] = {"bench": "start-up", "step": label, "wall_s": wall,
                               "floor_s": base, "ratio": wall / base if base else 0.0}
        if label.endswith("--help"):
            row["target"] = f"<{TARGET_HELP_S:g} s"
            row["met"] = wall < TARGET_HELP_S
        rows.append(row)
    if report:
        for r in rows:
            report(f"  {r['step']:<20} {r['wall_s'] * 1000:7.0f} ms (median of {runs})"
                   + (f"  {'met' if r['met'] else 'NOT MET'}" if "met" in r else ""))
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=7)
    run(print, runs=parser.parse_args().runs)


if __name__ == "__main__":
    main()
