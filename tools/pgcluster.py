"""A throwaway PostgreSQL cluster from the machine's own packages, for tests and benchmarks.

    with pg_cluster() as cluster:   # initdb + pg_ctl start on a free loopback port
        url = cluster.create_database("t1")   # postgresql://nhictl@127.0.0.1:PORT/t1

The server runs as an unprivileged user (PostgreSQL refuses to run as root: ``nobody`` when
we are root, ourselves otherwise), listens on 127.0.0.1 only, trusts local connections
(a test cluster holds no data worth a password) and has fsync off (its data dies with it).
``find_binaries()`` says why no cluster can start (None when one can) so callers can skip.
"""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

SUPERUSER = "nhictl"


def _bin_dir() -> Path | None:
    for name in ("initdb", "pg_ctl"):
        found = shutil.which(name)
        if found:
            return Path(found).resolve().parent
    base = Path("/usr/lib/postgresql")
    if base.is_dir():
        versions = sorted((p for p in base.iterdir() if (p / "bin" / "initdb").exists()),
                          key=lambda p: int(p.name) if p.name.isdigit() else 0)
        if versions:
            return versions[-1] / "bin"
    return None


def find_binaries() -> tuple[Path | None, str | None]:
    """(bin dir, None) when a cluster can start here, (None, reason) otherwise."""
    bin_dir = _bin_dir()
    if bin_dir is None:
        return None, "PostgreSQL server binaries (initdb, pg_ctl) not installed"
    try:
        import psycopg  # noqa: F401
    except ImportError:
        return None, "psycopg is not installed (pip install 'psycopg[binary]')"
    return bin_dir, None


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _run_as() -> list[str]:
    if os.geteuid() != 0:
        return []
    runuser = shutil.which("runuser") or shutil.which("setpriv")
    if runuser is None:
        raise RuntimeError("running as root and neither runuser nor setpriv is available")
    if runuser.endswith("runuser"):
        return [runuser, "-u", "nobody", "--"]
    nobody = pwd.getpwnam("nobody")
    return [runuser, f"--reuid={nobody.pw_uid}", f"--regid={nobody.pw_gid}", "--clear-groups"]


@dataclass
class Cluster:
    bin_dir: Path
    data_dir: Path
    port: int
    prefix: list[str]

    def url(self, database: str = "postgres") -> str:
        return f"postgresql://{SUPERUSER}@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        import psycopg

        with psycopg.connect(self.url(), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def stop(self) -> None:
        subprocess.run([*self.prefix, str(self.bin_dir / "pg_ctl"), "-D", str(self.data_dir),
                        "-m", "immediate", "-w", "stop"], capture_output=True, check=False)


@contextlib.contextmanager
def pg_cluster() -> Iterator[Cluster]:
    """Start a cluster in a new directory of the system temp dir (its own, so the server
    user can reach it: pytest's tmp dirs are private to us) and remove both after."""
    bin_dir, reason = find_binaries()
    if bin_dir is None:
        raise RuntimeError(reason)
    prefix = _run_as()
    base = Path(tempfile.mkdtemp(prefix="nhictl-pg-"))
    if os.geteuid() == 0:
        nobody = pwd.getpwnam("nobody")
        os.chown(base, nobody.pw_uid, nobody.pw_gid)
    cluster: Cluster | None = None
    try:
        data = base / "data"
        subprocess.run([*prefix, str(bin_dir / "initdb"), "-D", str(data), "-A", "trust",
                        "-U", SUPERUSER, "-E", "UTF8", "--no-sync", "--locale=C"],
                       capture_output=True, check=True)
        port = free_port()
        options = (f"-p {port} -c listen_addresses=127.0.0.1 -k {base} -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        subprocess.run([*prefix, str(bin_dir / "pg_ctl"), "-D", str(data), "-o", options,
                        "-l", str(base / "server.log"), "-w", "-t", "60", "start"],
                       capture_output=True, check=True)
        cluster = Cluster(bin_dir=bin_dir, data_dir=data, port=port, prefix=prefix)
        yield cluster
    finally:
        if cluster is not None:
            cluster.stop()
        shutil.rmtree(base, ignore_errors=True)
