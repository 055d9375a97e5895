"""The inventory at scale: reconcile (first, unchanged repeat, 1 % changed), list, check, packet.

Each step runs ``python -m nhictl`` as a child process; wall time and its peak memory (the
child's own ``ru_maxrss`` from ``os.wait4``) are measured next to a floor measured in the
same run on the same rows:

* SQLite: raw stdlib ``sqlite3`` with the same schema and indexes: parse the export and
  ``executemany`` the same rows (first reconcile); parse it and select every row, plus
  updating the changed rows (repeat reconciles); select every row to CSV (the read steps).
* PostgreSQL: psycopg ``COPY`` into a copy of the table (``LIKE bindings INCLUDING ALL``),
  ``COPY ... TO STDOUT`` for the reads.

Targets (issue 13): every step within 3x its floor at 100k, the unchanged repeat under 3 s
and 300 MB; at 1M every step under 2 minutes and 1.5 GB.

Run: ``.venv/bin/python bench/inventory.py [--bindings 100000] [--pg] [--keep DIR]``.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
CHANGED_SHARE = 0.01

SQLITE_COPY = r"""
import json, sqlite3, sys, time
export, src, dst = sys.argv[1:4]
s = sqlite3.connect(src)
tables = {}
for name in ("bindings", "events"):
    ddl = [r[0] for r in s.execute(
        "SELECT sql FROM sqlite_master WHERE tbl_name = ? AND sql IS NOT NULL "
        "ORDER BY type DESC", (name,))]
    tables[name] = (ddl, s.execute(f"SELECT * FROM {name}").fetchall())
s.close()
t0 = time.perf_counter()
with open(export, encoding="utf-8") as fh:
    records = json.load(fh)
d = sqlite3.connect(dst)
d.execute("PRAGMA journal_mode=WAL")
d.execute("PRAGMA synchronous=NORMAL")
for name, (ddl, rows) in tables.items():
    for stmt in ddl:
        d.execute(stmt)
    if rows:
        d.executemany(f"INSERT INTO {name} VALUES ({','.join('?' * len(rows[0]))})", rows)
d.commit()
print(json.dumps({"wall_s": time.perf_counter() - t0, "records": len(records)}))
"""

SQLITE_REPEAT = r"""
import json, sqlite3, sys, time
export, db, changed = sys.argv[1], sys.argv[2], int(sys.argv[3])
t0 = time.perf_counter()
with open(export, encoding="utf-8") as fh:
    records = json.load(fh)
c = sqlite3.connect(db)
c.execute("PRAGMA synchronous=NORMAL")
rows = {r[0]: r for r in c.execute("SELECT * FROM bindings")}
ids = sorted(rows)[:changed]
c.executemany("UPDATE bindings SET owner_email = owner_email WHERE id = ?", [(i,) for i in ids])
c.commit()
print(json.dumps({"wall_s": time.perf_counter() - t0, "rows": len(rows)}))
"""

SQLITE_SELECT = r"""
import csv, json, sqlite3, sys, time
t0 = time.perf_counter()
c = sqlite3.connect(sys.argv[1])
cur = c.execute("SELECT * FROM bindings ORDER BY tenant, owner_email, id")
w = csv.writer(sys.stdout)
w.writerow([d[0] for d in cur.description])
for row in cur:
    w.writerow(row)
sys.stdout.flush()
print(json.dumps({"wall_s": time.perf_counter() - t0}), file=sys.stderr)
"""

SQLITE_SELECT_JSON = r"""
import json, sqlite3, sys, time
t0 = time.perf_counter()
c = sqlite3.connect(sys.argv[1])
cur = c.execute("SELECT * FROM bindings ORDER BY tenant, owner_email, id")
names = [d[0] for d in cur.description]
w = sys.stdout.write
w("[")
for i, row in enumerate(cur):
    w(("," if i else "") + json.dumps(dict(zip(names, row))))
w("]")
sys.stdout.flush()
print(json.dumps({"wall_s": time.perf_counter() - t0}), file=sys.stderr)
"""

PG_READ = r"""
import json, sys, time, psycopg
export, url = sys.argv[1:3]
t0 = time.perf_counter()
if export != "-":
    with open(export, encoding="utf-8") as fh:
        json.load(fh)
with psycopg.connect(url) as c:
    n = 0
    with c.cursor().copy("COPY (SELECT * FROM bindings ORDER BY tenant, owner_email, id) "
                         "TO STDOUT WITH (FORMAT csv)") as cp:
        for chunk in cp:
            n += len(chunk)
print(json.dumps({"wall_s": time.perf_counter() - t0, "bytes": n}))
"""


def make_export(path: Path, count: int) -> None:
    """A realistic export of ``count`` connections with fake tokens (file mode 0600)."""
    sys.path.insert(0, str(ROOT))
    from nhictl.sandbox.dataset import generate

    data = generate(count, seed=3).export()
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)


def change_some(src: Path, dst: Path, share: float) -> int:
    """``src`` with every 1/share-th record's owner changed (the same ids)."""
    with open(src, encoding="utf-8") as fh:
        data = json.load(fh)
    records = data["connections"] if isinstance(data, dict) else data
    step = max(1, round(1 / share))
    for i in range(0, len(records), step):
        records[i]["owner_email"] = f"moved.{i}@example.com"
    fd = os.open(dst, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    return len(range(0, len(records), step))


def measure(argv: list[str], *, env: dict[str, str], ok: tuple[int, ...] = (0,),
            capture: bool = False) -> dict[str, Any]:
    """Run ``argv`` as a child; wall seconds, the child's own peak RSS (os.wait4), output."""
    with tempfile.TemporaryFile() as err, tempfile.TemporaryFile() as out:
        start = time.perf_counter()
        proc = subprocess.Popen(argv, env=env, stdout=out if capture else subprocess.DEVNULL,
                                stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        proc.returncode = os.waitstatus_to_exitcode(status)
        err.seek(0)
        out.seek(0)
        err_text = err.read().decode("utf-8", "replace")
        out_text = out.read().decode("utf-8", "replace")
    if proc.returncode not in ok:
        raise RuntimeError(f"{' '.join(argv[:6])}: exit {proc.returncode}: {err_text[-2000:]}")
    return {"wall_s": wall, "cpu_s": usage.ru_utime + usage.ru_stime,
            "peak_mb": usage.ru_maxrss / 1024.0, "stderr": err_text, "stdout": out_text}


def _inner(result: dict[str, Any], stream: str = "stdout") -> dict[str, Any]:
    """A floor's own timing of its work (the child prints it as its last JSON line)."""
    for line in reversed(str(result.get(stream) or "").splitlines()):
        try:
            inner = float(json.loads(line)["wall_s"])
        except (ValueError, KeyError, TypeError):
            continue
        # The child's CPU time less its set-up (reading the rows it copies), pro rata.
        share = inner / result["wall_s"] if result["wall_s"] > 0 else 1.0
        return {"wall_s": inner, "cpu_s": result["cpu_s"] * min(1.0, share),
                "peak_mb": result["peak_mb"]}
    return {"wall_s": result["wall_s"], "cpu_s": result["cpu_s"], "peak_mb": result["peak_mb"]}


@contextmanager
def _postgres() -> Iterator[str]:
    sys.path.insert(0, str(ROOT))
    from tools.pgcluster import find_binaries, pg_cluster

    _, why = find_binaries()
    if why:
        raise RuntimeError(f"no PostgreSQL here: {why}")
    with pg_cluster() as cluster:
        yield cluster.create_database("bench")


def run(report: Any = print, *, bindings: int = 100_000, engine: str = "sqlite",
        keep: Path | None = None) -> list[dict[str, Any]]:
    """The table rows of one size on one engine."""
    label = f"{engine} {bindings // 1000}k" if bindings < 1_000_000 else \
        f"{engine} {bindings / 1e6:g}M"
    tmp = Path(tempfile.mkdtemp(prefix="nhictl-bench-"))
    os.chmod(tmp, 0o700)
    try:
        export, changed = tmp / "export.json", tmp / "export-changed.json"
        t0 = time.perf_counter()
        # In a child: this process stays small, so its children's peak memory is their own
        # (a forked child starts out with a copy of this process's pages).
        made = measure([PYTHON, __file__, "--make-export", str(export), str(changed),
                        "--bindings", str(bindings)], env=dict(os.environ), capture=True)
        n_changed = int(made["stdout"].split()[-1])
        if report:
            report(f"{label}: export of {bindings} bindings generated in "
                   f"{time.perf_counter() - t0:.1f} s ({export.stat().st_size / 1e6:.0f} MB)")
        env = {k: v for k, v in os.environ.items() if not k.startswith("NHICTL_")}
        env.update(NO_COLOR="1", NHICTL_CONFIG=str(tmp / "none.toml"),
                   NHICTL_KEY_FILE=str(tmp / "bench.key"))
        (tmp / "none.toml").write_text("")
        with (_postgres() if engine == "postgresql" else _nothing()) as url:
            env["NHICTL_DB"] = url or str(tmp / "inventory.db")
            return _steps(label, bindings, export, changed, n_changed, env, url, tmp, report)
    finally:
        if keep is not None:
            shutil.copytree(tmp, keep, dirs_exist_ok=True)
        shutil.rmtree(tmp, ignore_errors=True)


@contextmanager
def _nothing() -> Iterator[None]:
    yield None


def _steps(label: str, bindings: int, export: Path, changed: Path, n_changed: int,
           env: dict[str, str], url: str | None, tmp: Path, report: Any
           ) -> list[dict[str, Any]]:
    nhictl = [PYTHON, "-m", "nhictl"]
    db = tmp / "inventory.db"
    measure([*nhictl, "init"], env=env)
    reconcile = [*nhictl, "reconcile", "--no-validate", "--source"]
    got: dict[str, dict[str, Any]] = {}
    got["first reconcile"] = measure([*reconcile, f"file:{export}"], env=env)
    got["repeat reconcile, unchanged"] = measure([*reconcile, f"file:{export}"], env=env)
    os.replace(changed, export)  # the same source (its name is its path), 1 % changed
    got[f"repeat reconcile, 1% changed ({n_changed})"] = measure(
        [*reconcile, f"file:{export}"], env=env)
    for step, args, ok in (("inventory list -o csv", ["inventory", "list", "-o", "csv"], (0,)),
                           ("check -o json", ["check", "-o", "json"], (0, 1)),
                           ("report access-review -o csv",
                            ["report", "access-review", "-o", "csv"], (0, 1))):
        got[step] = measure([*nhictl, *args], env=env, ok=ok)
    floors: dict[str, dict[str, Any]] = {}
    if url is None:
        floors["insert"] = _inner(measure(
            [PYTHON, "-c", SQLITE_COPY, str(export), str(db), str(tmp / "floor.db")], env=env,
            capture=True))
        floors["repeat"] = _inner(measure(
            [PYTHON, "-c", SQLITE_REPEAT, str(export), str(tmp / "floor.db"), "0"], env=env,
            capture=True))
        floors["changed"] = _inner(measure(
            [PYTHON, "-c", SQLITE_REPEAT, str(export), str(tmp / "floor.db"),
             str(n_changed)], env=env, capture=True))
        floors["read"] = _inner(measure([PYTHON, "-c", SQLITE_SELECT, str(db)], env=env),
                                "stderr")
        floors["read_json"] = _inner(measure([PYTHON, "-c", SQLITE_SELECT_JSON, str(db)],
                                             env=env), "stderr")
        names = {"insert": "floor: sqlite3 executemany (+json parse)",
                 "repeat": "floor: sqlite3 select all (+json parse)",
                 "changed": "floor: sqlite3 select all + update 1% (+json parse)",
                 "read": "floor: sqlite3 select to csv",
                 "read_json": "floor: sqlite3 select to json (C encoder, one row at a time)"}
    else:
        floors["insert"] = _pg_floor_insert(export, url, env)
        floors["repeat"] = _inner(measure([PYTHON, "-c", PG_READ, str(export), url], env=env,
                                          capture=True))
        floors["changed"] = floors["repeat"]
        floors["read"] = _inner(measure([PYTHON, "-c", PG_READ, "-", url], env=env,
                                        capture=True))
        floors["read_json"] = floors["read"]
        names = {"insert": "floor: psycopg COPY in (+json parse)",
                 "repeat": "floor: psycopg COPY out (+json parse)",
                 "changed": "floor: (same as above)",
                 "read": "floor: psycopg COPY out",
                 "read_json": "floor: (same as above)"}
    # csv outputs against the csv floor, the JSON output against the JSON one.
    which = ["insert", "repeat", "changed", "read", "read_json", "read"]
    rows = [_row(label, bindings, step, result, floors[f])
            for (step, result), f in zip(got.items(), which, strict=True)]
    rows += [{"bench": label, "step": names[k], "wall_s": v["wall_s"], "cpu_s": v["cpu_s"],
              "peak_mb": v["peak_mb"]}
             for k, v in floors.items() if names[k] != "floor: (same as above)"]
    if report:
        for r in rows:
            extra = (f"  {r['ratio']:.1f}x floor  {'met' if r['met'] else 'NOT MET'}"
                     if "ratio" in r else "")
            report(f"  {r['step']:<44} {r['wall_s']:7.2f} s (cpu {r['cpu_s']:6.2f} s) "
                   f"{r['peak_mb']:7.0f} MB{extra}")
    return rows


PG_INSERT = r"""
import io, json, sys, time, psycopg
export, url = sys.argv[1:3]
with psycopg.connect(url) as c:
    buf = io.BytesIO()
    with c.cursor().copy("COPY bindings TO STDOUT") as cp:
        for chunk in cp:
            buf.write(chunk)
    c.execute("DROP TABLE IF EXISTS floor_bindings")
    c.execute("CREATE TABLE floor_bindings (LIKE bindings INCLUDING ALL)")
    c.commit()
    t0 = time.perf_counter()
    with open(export, encoding="utf-8") as fh:
        json.load(fh)
    with c.cursor().copy("COPY floor_bindings FROM STDIN") as cp:
        cp.write(buf.getvalue())
    c.commit()
    wall = time.perf_counter() - t0
    c.execute("DROP TABLE floor_bindings")
    c.commit()
print(json.dumps({"wall_s": wall}))
"""


def _pg_floor_insert(export: Path, url: str, env: dict[str, str]) -> dict[str, Any]:
    return _inner(measure([PYTHON, "-c", PG_INSERT, str(export), url], env=env, capture=True))


def _row(label: str, bindings: int, step: str, got: dict[str, Any],
         floor: dict[str, Any]) -> dict[str, Any]:
    ratio = got["wall_s"] / floor["wall_s"] if floor["wall_s"] > 0 else float("inf")
    cpu_ratio = got["cpu_s"] / floor["cpu_s"] if floor["cpu_s"] > 0 else float("inf")
    if bindings >= 1_000_000:
        target, met = "<120 s, <1500 MB", got["wall_s"] < 120 and got["peak_mb"] < 1500
    else:
        target, met = "<=3x floor", ratio <= 3.0
        if step.startswith("repeat reconcile, unchanged"):
            target = "<=3x floor, <3 s, <300 MB"
            met = met and got["wall_s"] < 3.0 and got["peak_mb"] < 300
    return {"bench": label, "step": step, "wall_s": got["wall_s"], "cpu_s": got["cpu_s"],
            "peak_mb": got["peak_mb"], "floor_s": floor["wall_s"], "floor_cpu_s": floor["cpu_s"],
            "ratio": ratio, "cpu_ratio": cpu_ratio, "target": target, "met": met}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--bindings", type=int, default=100_000)
    parser.add_argument("--pg", action="store_true", help="PostgreSQL (tools/pgcluster.py)")
    parser.add_argument("--keep", type=Path, default=None, help="Copy the work dir here.")
    parser.add_argument("--make-export", nargs=2, type=Path, metavar=("EXPORT", "CHANGED"),
                        help=argparse.SUPPRESS)
    ns = parser.parse_args()
    if ns.make_export:
        make_export(ns.make_export[0], ns.bindings)
        print(change_some(ns.make_export[0], ns.make_export[1], CHANGED_SHARE))
        return
    run(print, bindings=ns.bindings, engine="postgresql" if ns.pg else "sqlite", keep=ns.keep)


if __name__ == "__main__":
    main()
