"""Files: writing safely (atomic replace, mode 0600, parent directories 0700) and reading
input files safely (regular files only, bounded size)."""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Iterator
from pathlib import Path


def atomic_write_text(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` via a temporary file and rename, so readers never see half."""
    path = Path(path)
    try:
        private_dirs(path.parent)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    except OSError as exc:
        raise write_error(path, exc) from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException as exc:
        if os.path.exists(tmp):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise write_error(path, exc) from None
        raise


def write_error(path: Path, exc: OSError) -> Exception:
    """An OSError met writing ``path`` as an nhictl error: no space -> exit 4, else exit 3
    (read-only file system, permissions, a directory in the way)."""
    import errno

    from nhictl.errors import InvalidInputError, StorageFullError

    if exc.errno in (errno.ENOSPC, errno.EFBIG, errno.EDQUOT):
        return StorageFullError(f"cannot write {path}: {exc.strerror}; it was left as it was",
                                hint="free some space and run the command again")
    return InvalidInputError(f"cannot write {path}: {exc.strerror or exc}")


def private_dirs(path: Path) -> None:
    """Create ``path`` and every missing parent with mode 0700 (``mkdir -p`` would give the
    parents the umask's mode)."""
    missing: list[Path] = []
    current = Path(path)
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    if not current.is_dir():
        import errno

        raise NotADirectoryError(errno.ENOTDIR, "Not a directory", str(current))
    for directory in reversed(missing):
        directory.mkdir(mode=0o700, exist_ok=True)


# -- reading input files ---------------------------------------------------------------------
# Every file nhictl is pointed at is read through :func:`read_input_bytes`: a regular file of
# at most a per-kind size (generous, but finite, so a wrong path such as /dev/zero or a
# multi-gigabyte log cannot exhaust memory). FIFOs, devices, sockets and directories are
# refused before any read, so a named pipe nobody writes to never blocks a cron run.

MIB = 1024 * 1024
MAX_EXPORT_BYTES = 512 * MIB  # export files (JSON, JSON Lines, CSV)
MAX_USAGE_BYTES = 512 * MIB  # usage evidence (JSON Lines)
MAX_REVIEW_CSV_BYTES = 64 * MIB  # a filled review packet
MAX_TOML_BYTES = 1 * MIB  # nhictl.toml, policy and suppressions files
MAX_SCENARIO_BYTES = 64 * MIB  # sandbox scenario files
MAX_KEY_FILE_BYTES = 4096  # the fingerprint key (32 bytes)
MAX_STDIN_BYTES = 64 * 1024  # a token on stdin


def not_regular_reason(mode: int) -> str | None:
    """Why a file of this mode is not readable as input (None for a regular file)."""
    if stat.S_ISREG(mode):
        return None
    if stat.S_ISDIR(mode):
        return "is a directory, not a file"
    if stat.S_ISFIFO(mode):
        return "is a named pipe (FIFO), not a regular file"
    if stat.S_ISCHR(mode) or stat.S_ISBLK(mode):
        return "is a device, not a regular file"
    if stat.S_ISSOCK(mode):
        return "is a socket, not a regular file"
    return "is not a regular file"


def iter_input_chunks(path: str | Path, what: str, limit: int,
                      chunk_size: int = 8 * MIB) -> Iterator[bytes]:
    """The bytes of the regular file ``path`` (a symlink to one is fine) in chunks of at most
    ``chunk_size``, at most ``limit`` in all: a caller that parses as it reads never holds
    the whole file.

    Raises :class:`~nhictl.errors.InputFileError` (exit 3) naming the file: missing,
    unreadable, not a regular file, or larger than ``limit`` (checked before the first chunk,
    and again as it is read, should it grow meanwhile).
    """
    from nhictl.errors import InputFileError

    name = str(path)
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise InputFileError(name, None, f"no such file ({what} not found)") from None
    except OSError as exc:
        raise InputFileError(name, None, f"cannot read {what}: {exc.strerror or exc}") from None
    problem = not_regular_reason(info.st_mode)
    if problem:
        raise InputFileError(name, None, f"{problem} ({what})")
    if info.st_size > limit:
        raise InputFileError(name, None, f"{what} is {info.st_size} bytes; the limit is {limit}")
    try:
        # O_NONBLOCK: should the path be swapped for a FIFO after the stat, open() must not
        # wait for a writer; the fstat below then refuses it.
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise InputFileError(name, None, f"cannot read {what}: {exc.strerror or exc}") from None
    try:
        problem = not_regular_reason(os.fstat(fd).st_mode)
        if problem:
            raise InputFileError(name, None, f"{problem} ({what})")
        total = 0
        while total <= limit:
            try:
                chunk = os.read(fd, min(chunk_size, limit + 1 - total))
            except OSError as exc:
                raise InputFileError(name, None,
                                     f"cannot read {what}: {exc.strerror or exc}") from None
            if not chunk:
                break
            total += len(chunk)
            if total > limit:  # it grew while we read
                raise InputFileError(name, None, f"{what} is larger than {limit} bytes")
            yield chunk
    finally:
        os.close(fd)


def read_input_bytes(path: str | Path, what: str, limit: int) -> bytes:
    """The bytes of the regular file ``path``, at most ``limit`` (see
    :func:`iter_input_chunks` for what is refused)."""
    return b"".join(iter_input_chunks(path, what, limit))


def read_input_text(path: str | Path, what: str, limit: int) -> str:
    """:func:`read_input_bytes` decoded as UTF-8 (a BOM is dropped); the error names the
    line of the first invalid byte."""
    from nhictl.errors import InputFileError

    raw = read_input_bytes(path, what, limit)
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise InputFileError(str(path), f"line {line}", "not valid UTF-8 text") from None


def read_stdin_text(what: str, limit: int = MAX_STDIN_BYTES) -> str:
    """Standard input as strict UTF-8 text, at most ``limit`` bytes (exit 3 otherwise)."""
    import sys

    from nhictl.errors import InputFileError

    stream = sys.stdin
    if stream is None:
        raise InputFileError("stdin", None, f"no standard input ({what})")
    buffer = getattr(stream, "buffer", None)
    try:
        if buffer is not None:
            raw = buffer.read(limit + 1)
        else:  # a text stream (tests): refuse what a byte stream would not have decoded
            raw = stream.read(limit + 1).encode("utf-8")
    except (UnicodeError, ValueError):
        raise InputFileError("stdin", None, f"{what} is not valid UTF-8 text") from None
    except OSError as exc:
        raise InputFileError("stdin", None, f"cannot read {what}: {exc.strerror}") from None
    if len(raw) > limit:
        raise InputFileError("stdin", None, f"{what} is larger than {limit} bytes")
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise InputFileError("stdin", None, f"{what} is not valid UTF-8 text") from None
