"""Shared CLI plumbing: global state, option aliases, opening the inventory, output."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from nhictl.exporters.base import Document, Format
from nhictl.secret import mask_tokens
from nhictl.untrusted import inert

if TYPE_CHECKING:
    from collections.abc import Sequence

    from rich.console import Console

    from nhictl.config import Config
    from nhictl.net import HttpPolicy
    from nhictl.store.engine import Inventory
    from nhictl.store.lock import Locks, Scope


@dataclass
class AppState:
    db: str | None = None
    config_path: str | None = None
    slack_api_url: str | None = None
    quiet: bool = False
    verbose: bool = False
    log_format: str = "text"
    no_color: bool = False
    lock_timeout: float = 0.0
    actor: str | None = None
    allow_insecure_http: bool = False
    _config: Config | None = field(default=None, repr=False)

    @property
    def config(self) -> Config:
        if self._config is None:
            from nhictl.config import load_config

            self._config = load_config(self.config_path)
        return self._config

    def api_url(self) -> str:
        """The Slack API URL, checked: https, or http to loopback, or --allow-insecure-http;
        never with embedded credentials (exit 2 for the option, 3 for the config)."""
        from nhictl.config import DEFAULT_SLACK_API_URL
        from nhictl.errors import ConfigError, UsageError
        from nhictl.net import check_credentialed_url

        if self.slack_api_url:
            check_credentialed_url(self.slack_api_url, where="--slack-api-url",
                                   allow_insecure_http=self.allow_insecure_http, error=UsageError)
            return self.slack_api_url
        url = self.config.slack_api_url or DEFAULT_SLACK_API_URL
        check_credentialed_url(url, where=f"{self.config.path}: slack.api_url",
                               allow_insecure_http=self.allow_insecure_http, error=ConfigError)
        return url

    def http_policy(self, deadline_s: float | None = None) -> HttpPolicy:
        """The network policy of this run (``deadline_s``: the whole run's --deadline)."""
        from nhictl import net

        deadline = None if deadline_s is None else net.monotonic() + deadline_s
        return net.HttpPolicy(allow_insecure_http=self.allow_insecure_http, deadline=deadline)

    def open(self, create: bool = False) -> Inventory:
        inv, _ = self.open_inventory(create=create)
        return inv

    def open_inventory(self, create: bool = False,
                       new_key: bool = False) -> tuple[Inventory, str]:
        """Open the inventory (see :func:`nhictl.store.engine.open_inventory`), with the
        password the config's ``[inventory] password_env`` names for a PostgreSQL URL."""
        from nhictl.store.engine import open_inventory

        return open_inventory(self.db, create=create, new_key=new_key,
                              password=self.inventory_password())

    def inventory_password(self) -> str | None:
        """The PostgreSQL password from ``[inventory] password_env`` (None: libpq's own
        sources, PGPASSWORD, ~/.pgpass, PGSERVICE; or a SQLite inventory)."""
        from nhictl.store.urls import is_postgresql

        if not is_postgresql(self.db):
            return None  # a broken config does not stop a SQLite user's commands here
        var = self.config.inventory_password_env
        if not var:
            return None
        from nhictl.config import secret_from_env
        from nhictl.errors import ConfigError

        value = secret_from_env(var)
        if value is None:
            raise ConfigError(f"{self.config.path}: inventory.password_env: the variable "
                              f"{var} is not set (or empty)",
                              hint=f"export {var}, or remove password_env to use libpq's "
                              "PGPASSWORD/~/.pgpass")
        return value

    @contextlib.contextmanager
    def open_for_write(self, command: str, create: bool = False,
                       scopes: Sequence[Scope] | None = None) -> Iterator[Inventory]:
        """Open the inventory holding its locks (waits up to ``--lock-timeout``).

        Every state-changing command uses this: by default it holds the whole inventory
        exclusively; reconcile passes its per-source ``scopes`` (store/lock.py). Readers use
        :meth:`open` (WAL and MVCC let them read while a writer works).
        """
        if not create:
            self.open().dispose()  # a clear "not initialised" before creating a lock file
        with self.write_lock(command, create=create, scopes=scopes) as locks:
            inv, _ = self.open_inventory(create=create)
            inv.locks = locks
            try:
                yield inv
            finally:
                inv.dispose()

    @contextlib.contextmanager
    def write_lock(self, command: str, create: bool = False,
                   scopes: Sequence[Scope] | None = None,
                   timeout: float | None = None) -> Iterator[Locks]:
        """Hold the inventory's locks (default: all of it, exclusively): flocks next to a
        SQLite file, advisory locks on a PostgreSQL session of their own."""
        from nhictl.fsutil import private_dirs
        from nhictl.store.engine import default_db_path
        from nhictl.store.lock import file_location, hold, inventory_scope

        location = self.db or str(default_db_path())
        db_path = file_location(location)
        connect = None
        if db_path is None and location.startswith("postgres"):
            from nhictl.store.engine import key_from_env, key_path_for
            from nhictl.store.pglock import session_factory

            connect = session_factory(location, self.inventory_password())
            if key_from_env() is None:  # say a missing key before any connection is tried
                key_path_for(location, None)
        elif create and db_path is not None:
            try:
                private_dirs(db_path.parent)
            except OSError as exc:
                from nhictl.errors import InvalidInputError

                raise InvalidInputError(
                    f"cannot create inventory {db_path}: {exc.strerror or exc}"
                ) from None
        wanted = list(scopes) if scopes else [inventory_scope(exclusive=True)]
        wait = self.lock_timeout if timeout is None else timeout
        with hold(db_path or location, wanted, timeout=wait, command=command,
                  connect=connect) as locks:
            for stale in locks.took_over:
                self.info(f"took over a stale lock left by {stale.describe()}")
            locks.notify = self._interrupted
            yield locks

    def _interrupted(self, run: dict[str, Any]) -> None:
        where = f" on {run['host']}" if run.get("host") else ""
        pid = f"pid {run['pid']}{where}, " if run.get("pid") is not None else ""
        self.info(f"recorded run {run['id']} as interrupted ({pid}`{run.get('command') or '?'}`"
                  f", started {run.get('started_at') or '?'}): its process ended before it "
                  "finished")

    def stderr(self) -> Console:
        from rich.console import Console

        plain = self.no_color or bool(os.environ.get("NO_COLOR"))
        return Console(stderr=True, no_color=plain, color_system=None if plain else "auto",
                       highlight=False, soft_wrap=True)

    def info(self, message: str) -> None:
        """A human message on stderr (suppressed by -q, plain when not a terminal)."""
        if self.quiet:
            return
        message = inert(message)  # messages quote sources' and servers' words
        if self.log_format == "json":
            from nhictl.logs import log

            log(message)
            return
        self.stderr().print(message, markup=False)

    def warn(self, message: str) -> None:
        message = inert(message)
        if self.log_format == "json":
            import logging

            from nhictl.logs import log

            log(message, logging.WARNING)
            return
        self.stderr().print(f"nhictl: warning: {message}", markup=False)


def state(ctx: typer.Context) -> AppState:
    obj = ctx.find_root().obj
    if not isinstance(obj, AppState):
        obj = AppState()
        ctx.find_root().obj = obj
    return obj


MAX_SECONDS = 86400.0  # --deadline, --lock-timeout: a day is already far beyond any run


def finite_seconds(value: float | None) -> float | None:
    """Callback for options in seconds: NaN slips past click's min/max (it compares false)."""
    import math

    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a number of seconds")
    return value


def _no_html(value: Format) -> Format:
    if value is Format.HTML:
        raise typer.BadParameter("html is only for `nhictl report access-review`; "
                                 "use table, json, csv or markdown")
    if value in (Format.SARIF, Format.OCSF):
        raise typer.BadParameter(f"{value.value} is only for `nhictl check`; "
                                 "use table, json, csv or markdown")
    return value


OutputOpt = Annotated[
    Format,
    typer.Option("-o", "--output", help="Output format: table, json, csv or markdown.",
                 case_sensitive=False, callback=_no_html, metavar="FORMAT"),
]
def protected_paths(st: AppState) -> dict[str, Path]:
    """Files an output must never replace: the inventory, its SQLite side files, its lock,
    its fingerprint key and the config file."""
    from nhictl.store.engine import default_db_path

    found: dict[str, Path] = {}
    location = st.db or str(default_db_path())
    db: Path | None = None
    if "://" not in location:
        db = Path(location).expanduser()
    elif location.startswith("sqlite:///") and "?" not in location:
        db = Path(location.removeprefix("sqlite:///")).expanduser()
    if db is not None:
        found["the inventory"] = db
        for suffix in ("-wal", "-shm", "-journal", ".lock"):
            found[f"the inventory's {suffix.lstrip('-.')} file"] = Path(f"{db}{suffix}")
        found["the inventory's fingerprint key"] = Path(f"{db}.key")
    if os.environ.get("NHICTL_KEY_FILE"):
        found["the inventory's fingerprint key"] = Path(os.environ["NHICTL_KEY_FILE"]).expanduser()
    config = st.config_path or ("nhictl.toml" if Path("nhictl.toml").is_file() else None)
    if config:
        found["the config file"] = Path(config).expanduser()
    return found


def _same_file(a: Path, b: Path) -> bool:
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)  # hard links, bind mounts
    except OSError:
        return False


def _not_a_filled_packet(ctx: typer.Context, value: Path | None) -> Path | None:
    """Refuse to overwrite what nhictl depends on (the inventory, its key, the config) or a
    review packet that reviewers have filled in: that file is the review's evidence, and
    rewriting either is never what the user meant."""
    if value is None or str(value) == "-":
        return value
    for what, path in protected_paths(state(ctx)).items():
        if _same_file(value, path):
            raise typer.BadParameter(f"{value} is {what}; it is not overwritten "
                                     "(choose another file)")
    try:
        mode = value.stat().st_mode
    except OSError:
        return value  # not there yet: it is created
    from nhictl.fsutil import not_regular_reason

    # The atomic write renames a new file over the old one: over /dev/null (as root) or a
    # named pipe that would replace the device or the pipe itself.
    why = not_regular_reason(mode)
    if why:
        raise typer.BadParameter(f"{value} {why}; it is not replaced (use '-' or leave out "
                                 "--out to write to stdout)")
    from nhictl.review.csvread import has_decisions

    if has_decisions(value):
        raise typer.BadParameter(f"{value} is a review packet with reviewers' decisions; "
                                 "it is not overwritten (remove it or choose another name)")
    return value


OutFileOpt = Annotated[
    Path | None,
    typer.Option("--out", metavar="FILE", help="Write the output to this file instead of "
                 "stdout ('-' for stdout).", dir_okay=False, writable=True,
                 callback=_not_a_filled_packet),
]


WideOpt = Annotated[
    bool, typer.Option("--wide", help="Tables: show every cell whole (no cutting to the "
                       "terminal width).")]
CUT_HINT = "some cells were cut to fit the terminal width; --wide shows them whole"


def emit(st: AppState, doc: Document, fmt: Format, out: Path | None = None,
         wide: bool = False) -> None:
    """Render a document to stdout (or ``out``, written atomically with mode 0600).

    A table cut to the terminal width says so on stderr (never silently)."""
    from nhictl.exporters import exporter_for
    from nhictl.exporters.formats import PlainTableExporter

    if out is not None and str(out) == "-":
        out = None  # the usual spelling of "standard output"
    if out is not None:
        import io

        from nhictl.fsutil import atomic_write_text

        buffer = io.StringIO()
        exporter_for(fmt).write(doc, buffer)
        atomic_write_text(out, buffer.getvalue())
        st.info(f"wrote {out}")
        return
    if fmt is Format.TABLE and sys.stdout.isatty():
        from nhictl.cli.render import rich_table

        if rich_table(doc, no_color=st.no_color, wide=wide):
            st.info(CUT_HINT)
        return
    exporter = PlainTableExporter(wide=wide) if fmt is Format.TABLE else exporter_for(fmt)
    exporter.write(doc, sys.stdout)
    sys.stdout.flush()
    if isinstance(exporter, PlainTableExporter) and exporter.clipped:
        st.info(CUT_HINT)


def command_line() -> str:
    """This invocation as text for run records and lock messages (token-shaped parts
    masked: a spec or URL could quote one)."""
    import shlex

    args = INVOCATION if INVOCATION is not None else sys.argv[1:]
    return mask_tokens("nhictl " + " ".join(shlex.quote(a) for a in args))


# The arguments `run()` was given (tests call it in-process, where sys.argv is pytest's).
INVOCATION: list[str] | None = None


def now_iso() -> str:
    from nhictl.clock import iso, system_clock

    return iso(system_clock())


def example(text: str) -> str:
    """Help epilog with one example (shown verbatim)."""
    return f"Example:\n\n\b\n  {text}"


def json_default(value: Any) -> Any:
    return str(value)
