"""100,000 bindings: reconcile --no-validate, inventory list -o csv, check, access-review csv.

Each step runs ``nhictl`` as a subprocess; wall time and peak memory (max RSS, from
``/usr/bin/time -v`` when present, else ``getrusage(RUSAGE_CHILDREN)``) are measured next to
a floor measured in the same run on the same rows: raw ``sqlite3`` (stdlib) inserting the
same bindings and events in one transaction after parsing the same export, and selecting
them to CSV. Targets: under 10 s and 500 MB each, within 10x of the floor.

Run: ``.venv/bin/python bench/inventory_100k.py [--bindings 100000] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
TIME_BIN = "/usr/bin/time"
TARGET_S = 10.0
TARGET_MB = 500.0
TARGET_RATIO = 10.0

FLOOR_INSERT = r"""
import json, sqlite3, sys, time
export, src, dst = sys.argv[1:4]
s = sqlite3.connect(src)
tables = {}
for name in ("bindings", "events"):
    ddl = s.execute("SELECT sql FROM sqlite_master WHERE name = ?", (name,)).fetchone()[0]
    rows = s.execute(f"SELECT * FROM {name}").fetchall()
    tables[name] = (ddl, rows)
s.close()
t0 = time.perf_counter()
with open(export, encoding="utf-8") as fh:
    records = json.load(fh)
d = sqlite3.connect(dst)
d.execute("PRAGMA journal_mode=WAL")
d.execute("PRAGMA synchronous=NORMAL")
for name, (ddl, rows) in tables.items():
    d.execute(ddl)
    marks = ",".join("?" * len(rows[0]))
    d.executemany(f"INSERT INTO {name} VALUES ({marks})", rows)
d.commit()
d.close()
print(json.dumps({"wall_s": time.perf_counter() - t0, "records": len(records)}))
"""

FLOOR_SELECT = r"""
import csv, json, sqlite3, sys, time
t0 = time.perf_counter()
c = sqlite3.connect(sys.argv[1])
cur = c.execute("SELECT * FROM bindings ORDER BY id")
w = csv.writer(sys.stdout)
w.writerow([d[0] for d in cur.description])
for row in cur:
    w.writerow(row)
sys.stdout.flush()
print(json.dumps({"wall_s": time.perf_counter() - t0}), file=sys.stderr)
"""


def make_export(path: Path, count: int) -> None:
    """A realistic export of ``count`` connections with fake tokens (file mode 0600)."""
    sys.path.insert(0, str(ROOT))
    from nhictl.sandbox.dataset import generate

    data = generate(count, seed=3).export()
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def measure(argv: list[str], *, env: dict[str, str], ok: tuple[int, ...] = (0,),
            stdout: Any = subprocess.DEVNULL) -> dict[str, Any]:
    """Run ``argv``; wall seconds, peak RSS in MB and the child's stderr."""
    use_time = os.path.exists(TIME_BIN)
    cmd = [TIME_BIN, "-v", *argv] if use_time else argv
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    start = time.perf_counter()
    proc = subprocess.run(cmd, env=env, stdout=stdout, stderr=subprocess.PIPE, text=True,
                          check=False)
    wall = time.perf_counter() - start
    err = proc.stderr
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv)}: exit {proc.returncode}: {err[-2000:]}")
    peak_kb = 0
    if use_time:
        m = re.search(r"Maximum resident set size \(kbytes\): (\d+)", err)
        peak_kb = int(m.group(1)) if m else 0
        err = err[: err.rfind("\tCommand being timed")] if "\tCommand being timed" in err else err
    if not peak_kb:
        after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        peak_kb = after if after > before else 0  # a lower bound only: max over children
    out = proc.stdout if isinstance(proc.stdout, str) else ""
    return {"wall_s": wall, "peak_mb": peak_kb / 1024.0, "stderr": err, "stdout": out}


def _row(step: str, got: dict[str, Any], floor: dict[str, Any]) -> dict[str, Any]:
    ratio = got["wall_s"] / floor["wall_s"] if floor["wall_s"] > 0 else float("inf")
    met = got["wall_s"] < TARGET_S and got["peak_mb"] < TARGET_MB and ratio <= TARGET_RATIO
    return {"bench": "inventory 100k", "step": step, "wall_s": got["wall_s"],
            "peak_mb": got["peak_mb"], "floor_s": floor["wall_s"],
            "floor_mb": floor.get("peak_mb"), "ratio": ratio,
            "target": f"<{TARGET_S:g} s, <{TARGET_MB:g} MB, <={TARGET_RATIO:g}x floor",
            "met": met}


def run(report: Any = print, *, bindings: int = 100_000, keep: Path | None = None
        ) -> list[dict[str, Any]]:
    tmp = Path(tempfile.mkdtemp(prefix="nhictl-bench-"))
    os.chmod(tmp, 0o700)
    try:
        export = tmp / "export.json"
        db = tmp / "inventory.db"
        t0 = time.perf_counter()
        make_export(export, bindings)
        if report:
            report(f"inventory 100k: export of {bindings} bindings generated in "
                   f"{time.perf_counter() - t0:.1f} s ({export.stat().st_size / 1e6:.0f} MB)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NHICTL_")}
        env.update(NHICTL_DB=str(db), NO_COLOR="1", NHICTL_CONFIG=str(tmp / "none.toml"))
        (tmp / "none.toml").write_text("")
        nhictl = [PYTHON, "-m", "nhictl"]
        measure([*nhictl, "init"], env=env)
        rows: list[dict[str, Any]] = []
        got = measure([*nhictl, "reconcile", "--source", f"file:{export}", "--no-validate"],
                      env=env)
        floor_db = tmp / "floor.db"
        floor = measure([PYTHON, "-c", FLOOR_INSERT, str(export), str(db), str(floor_db)],
                        env=env, stdout=subprocess.PIPE)
        inner = _last_json(floor)
        floor_insert = {"wall_s": inner or floor["wall_s"], "peak_mb": floor["peak_mb"]}
        rows.append(_row("reconcile --no-validate", got, floor_insert))

        sel = measure([PYTHON, "-c", FLOOR_SELECT, str(db)], env=env)
        floor_select = {"wall_s": sel["wall_s"], "peak_mb": sel["peak_mb"]}
        steps: list[tuple[str, list[str], tuple[int, ...]]] = [
            ("inventory list -o csv", ["inventory", "list", "-o", "csv"], (0,)),
        ]
        if _has_command("check"):
            steps.append(("check -o json", ["check", "-o", "json"], (0, 1)))
        if _has_command("report"):
            steps.append(("report access-review -o csv",
                          ["report", "access-review", "-o", "csv"], (0, 1)))
        for label, args, ok in steps:
            got = measure([*nhictl, *args], env=env, ok=ok)
            rows.append(_row(label, got, floor_select))
        rows.append({"bench": "inventory 100k", "step": "floor: sqlite3 insert (+json parse)",
                     "wall_s": floor_insert["wall_s"], "peak_mb": floor_insert["peak_mb"]})
        rows.append({"bench": "inventory 100k", "step": "floor: sqlite3 select to csv",
                     "wall_s": floor_select["wall_s"], "peak_mb": floor_select["peak_mb"]})
        if report:
            for r in rows:
                extra = (f"  {r['ratio']:.1f}x floor  {'met' if r['met'] else 'NOT MET'}"
                         if "ratio" in r else "")
                report(f"  {r['step']:<40} {r['wall_s']:6.2f} s {r['peak_mb']:7.0f} MB{extra}")
        return rows
    finally:
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)


def _last_json(result: dict[str, Any]) -> float | None:
    """The floor's own timing of its work (without reading the rows it copies)."""
    for line in reversed(str(result.get("stdout") or "").splitlines()):
        try:
            return float(json.loads(line)["wall_s"])
        except (ValueError, KeyError, TypeError):
            continue
    return None


def _has_command(name: str) -> bool:
    import importlib.util

    return importlib.util.find_spec(f"nhictl.cli.{name}_cmd") is not None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bindings", type=int, default=100_000)
    parser.add_argument("--keep", type=Path, default=None, help="Copy the work dir here.")
    ns = parser.parse_args()
    run(print, bindings=ns.bindings, keep=ns.keep)


if __name__ == "__main__":
    main()
