"""The ``nhictl`` entry point: global options, command registration, the one error handler."""

from __future__ import annotations

import contextlib
import importlib
import os
import signal
import sys
from typing import Annotated

import typer

from nhictl import __version__
from nhictl.cli.common import MAX_SECONDS, AppState, finite_seconds

app = typer.Typer(
    name="nhictl",
    help="Inventory, validate, review and revoke the delegated Slack credentials SaaS apps hold.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
    context_settings={"help_option_names": ["-h", "--help"]},
)

# Each module registers its commands with ``register(app)``; imported at start-up, so they
# keep heavy imports (sqlalchemy, slack_sdk, httpx) inside the command functions.
COMMAND_MODULES = (
    "nhictl.cli.core_cmds",
    "nhictl.cli.inventory_cmd",
    "nhictl.cli.check_cmd",
    "nhictl.cli.scopes_cmd",
    "nhictl.cli.usage_cmd",
    "nhictl.cli.sources_cmd",
    "nhictl.cli.report_cmd",
    "nhictl.cli.review_cmd",
    "nhictl.cli.revoke_cmd",
    "nhictl.cli.demo_cmd",
    "nhictl.cli.schema_cmd",
    "nhictl.cli.ledger_cmd",
    "nhictl.cli.notify_cmd",
)


def _short_name(value: str | None) -> str | None:
    """--actor is recorded in every event: a name, not a document."""
    if value is not None and len(value) > 200:
        raise typer.BadParameter(f"a name of at most 200 characters, not {len(value)}")
    return value


def _version(value: bool) -> None:
    if value:
        print(f"nhictl {__version__}")
        raise typer.Exit(0)


@app.callback()
def main(
    ctx: typer.Context,
    db: Annotated[
        str | None,
        typer.Option(
            "--db",
            envvar="NHICTL_DB",
            metavar="PATH|URL",
            help="Inventory: a SQLite file (default: per-user data dir) or "
            "postgresql://USER@HOST:PORT/DB (password from PGPASSWORD/~/.pgpass).",
        ),
    ] = None,
    config: Annotated[
        str | None,
        typer.Option(
            "--config",
            envvar="NHICTL_CONFIG",
            metavar="PATH",
            help="Config file (default ./nhictl.toml if present).",
        ),
    ] = None,
    slack_api_url: Annotated[
        str | None,
        typer.Option(
            "--slack-api-url",
            envvar="NHICTL_SLACK_API_URL",
            metavar="URL",
            help="Slack Web API base URL (default https://slack.com/api/).",
        ),
    ] = None,
    allow_insecure_http: Annotated[
        bool,
        typer.Option(
            "--allow-insecure-http",
            envvar="NHICTL_ALLOW_INSECURE_HTTP",
            help="Lab use only: allow plain http:// to non-loopback hosts for the Slack API "
            "and brokers (tokens and keys then cross the network in clear text).",
        ),
    ] = False,
    quiet: Annotated[
        bool, typer.Option("-q", "--quiet", envvar="NHICTL_QUIET", help="Print nothing on success.")
    ] = False,
    verbose: Annotated[
        bool,
        typer.Option(
            "-v",
            "--verbose",
            envvar="NHICTL_VERBOSE",
            help="More detail; tracebacks for internal errors.",
        ),
    ] = False,
    log_format: Annotated[
        str,
        typer.Option(
            "--log-format",
            metavar="text|json",
            envvar="NHICTL_LOG_FORMAT",
            help="text or json (one object per line on stderr).",
        ),
    ] = "text",
    no_color: Annotated[
        bool,
        typer.Option(
            "--no-color", envvar="NHICTL_NO_COLOR", help="No colour (also honoured: NO_COLOR)."
        ),
    ] = False,
    lock_timeout: Annotated[
        float,
        typer.Option(
            "--lock-timeout",
            envvar="NHICTL_LOCK_TIMEOUT",
            metavar="SECONDS",
            min=0,
            max=MAX_SECONDS,
            callback=finite_seconds,
            help="Wait this long for another nhictl writing the same inventory (default 0).",
        ),
    ] = 0.0,
    actor: Annotated[
        str | None,
        typer.Option(
            "--actor",
            metavar="NAME",
            envvar="NHICTL_ACTOR",
            callback=_short_name,
            help="Who is acting, recorded in events (default: the OS user).",
        ),
    ] = None,
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_version, is_eager=True, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """nhictl: govern delegated Slack OAuth tokens (inventory, validation, checks, reviews).

    Example: nhictl reconcile --source file:connections.json --no-validate
    """
    if log_format not in ("text", "json"):
        raise typer.BadParameter("must be text or json", param_hint="--log-format")
    if slack_api_url:
        from nhictl.errors import UsageError
        from nhictl.net import has_credentials, mask_url

        if has_credentials(slack_api_url):  # refused whatever the command (never recorded)
            raise UsageError(f"--slack-api-url {mask_url(slack_api_url)}: must not embed "
                             "credentials (user:password@)", hint="remove them from the URL")
    if db is not None:
        _no_password_on_command_line(ctx, db)
    ctx.obj = AppState(
        db=db,
        config_path=config,
        slack_api_url=slack_api_url,
        quiet=quiet,
        verbose=verbose,
        log_format=log_format,
        no_color=no_color or bool(os.environ.get("NO_COLOR")),
        lock_timeout=lock_timeout,
        actor=actor,
        allow_insecure_http=allow_insecure_http,
    )
    from nhictl import logs

    logs.setup(log_format)
    if config:
        # A config named explicitly must exist and parse, whatever the command reads.
        ctx.obj.config  # noqa: B018 (loads and validates)


def _no_password_on_command_line(ctx: typer.Context, db: str) -> None:
    """A password in ``--db`` is visible to every user (ps) and kept in shell history: refused
    (exit 2) before anything connects. NHICTL_DB may carry one; it is then masked."""
    from nhictl.errors import UsageError
    from nhictl.store.urls import display_location, url_password

    source = ctx.get_parameter_source("db")  # click's ParameterSource (typer may vendor it)
    if url_password(db) and getattr(source, "name", "") == "COMMANDLINE":
        raise UsageError(f"--db {display_location(db)}: a password on the command line is "
                         "visible in ps and shell history; refused",
                         hint="use PGPASSWORD, ~/.pgpass, a service file (PGSERVICE) or "
                         "[inventory] password_env in nhictl.toml")


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # a command group not built yet
        if _exc.name != _name:
            raise
        continue
    _module.register(app)


def _verbose_requested(argv: list[str]) -> bool:
    return "-v" in argv or "--verbose" in argv or bool(os.environ.get("NHICTL_VERBOSE"))


def run(argv: list[str] | None = None) -> None:
    """Console-script entry: map every outcome to the documented exit codes.

    typer/click handle usage errors (exit 2) and ``typer.Exit`` themselves in standalone
    mode; nhictl errors and bugs propagate here, to the one handler.
    """
    from nhictl.errors import ExitCode, NhictlError

    args = list(sys.argv[1:] if argv is None else argv)
    if argv is None and hasattr(signal, "SIGPIPE"):
        # `nhictl inventory list | head`: die quietly like other Unix tools (status 141)
        # instead of click's exit 1, which cron would read as "findings".
        signal.signal(signal.SIGPIPE, signal.SIG_DFL)
    from nhictl.cli import common

    common.INVOCATION = args
    from nhictl.cli.helptext import hide_argument_types

    command = hide_argument_types(typer.main.get_command(app))
    try:
        # Not standalone: usage errors come back here, so --log-format json covers them.
        result = command.main(args=args, prog_name="nhictl", standalone_mode=False)
        code: int = result if isinstance(result, int) else ExitCode.OK
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    except (KeyboardInterrupt, typer.Abort):
        print("nhictl: interrupted", file=sys.stderr)
        code = 130
    except NhictlError as exc:
        message, hint = _one_line(exc.message), _one_line(exc.hint) if exc.hint else None
        if _json_logs(args):
            _json_error(message, hint, exc.exit_code, type(exc).__name__)
        else:
            print(f"nhictl: error: {message}", file=sys.stderr)
            if hint:
                print(f"hint: {hint}", file=sys.stderr)
        code = exc.exit_code
    except BrokenPipeError:
        code = ExitCode.OK
    except Exception as exc:  # a bug: one line, traceback only with -v
        if _is_usage_error(exc):
            code = _usage_error(exc, args)
            sys.exit(code)
        if _verbose_requested(args):
            import traceback

            traceback.print_exc()
        message = f"internal error: {type(exc).__name__}: {_safe(exc)}"
        if _json_logs(args):
            _json_error(message, "run with -v for a traceback", ExitCode.INTERNAL, "InternalError")
        else:
            print(f"nhictl: {message} (run with -v for a traceback)", file=sys.stderr)
        code = ExitCode.INTERNAL
    with contextlib.suppress(BrokenPipeError):
        sys.stdout.flush()
    sys.exit(code)


def _is_usage_error(exc: Exception) -> bool:
    # click's ClickException family (vendored inside typer on recent versions): duck-typed.
    return hasattr(exc, "format_message") and isinstance(getattr(exc, "exit_code", None), int)


def _usage_error(exc: Exception, args: list[str]) -> int:
    code = int(exc.exit_code)  # type: ignore[attr-defined]
    if _json_logs(args):
        message = _one_line(exc.format_message())  # type: ignore[attr-defined]
        _json_error(message, "see --help", code, type(exc).__name__)
    else:
        exc.show()  # type: ignore[attr-defined]
    return code


def _json_logs(argv: list[str]) -> bool:
    """Whether errors should be JSON lines too (``--log-format json`` or its variable)."""
    for i, arg in enumerate(argv):
        if arg == "--log-format" and i + 1 < len(argv):
            return argv[i + 1] == "json"
        if arg.startswith("--log-format="):
            return arg.split("=", 1)[1] == "json"
    return os.environ.get("NHICTL_LOG_FORMAT") == "json"


def _json_error(message: str, hint: str | None, code: int, kind: str) -> None:
    import json

    from nhictl.clock import iso, system_clock

    record = {
        "time": iso(system_clock()),
        "level": "error",
        "event": message,
        "error": kind,
        "exit_code": code,
        "schema_version": 1,  # as every JSON log line (`nhictl schema log`)
    }
    if hint:
        record["hint"] = hint
    print(json.dumps(record), file=sys.stderr)


def _one_line(text: str, limit: int = 600) -> str:
    """Errors are one line: control characters shown escaped, long echoes of input cut,
    anything token-shaped masked (messages may quote what the user wrote)."""
    from nhictl.untrusted import inert

    flat = inert(text)
    if len(flat) <= limit:
        return flat
    # Keep both ends: the place (file, line) leads and the reason usually closes.
    return flat[: limit // 2] + " … " + flat[-(limit // 2) :]


def _safe(exc: BaseException) -> str:
    # Internal errors may come from foreign code; cut anything secret-shaped just in case.
    from nhictl.untrusted import inert

    text = str(exc).splitlines()[0] if str(exc) else ""
    return inert(text)[:300]
