"""The inventory's fingerprint key: a file (NHICTL_KEY_FILE, or next to a SQLite inventory)
or the key itself in NHICTL_KEY (base64 of 32 bytes). Never stored in the database."""

from __future__ import annotations

import base64
import binascii
import os
import secrets
import stat
from pathlib import Path

from nhictl.errors import InputFileError, InvalidInputError, NotInitializedError
from nhictl.fsutil import MAX_KEY_FILE_BYTES, private_dirs, read_input_bytes
from nhictl.store.urls import display_location
from nhictl.untrusted import register_secret

KEY_BYTES = 32
KEY_ENV = "NHICTL_KEY"  # the fingerprint key itself, base64 of KEY_BYTES bytes
KEY_FILE_ENV = "NHICTL_KEY_FILE"


def key_path_for(db: str, path: Path | None) -> Path:
    explicit = os.environ.get(KEY_FILE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    if path is not None:
        return path.with_name(path.name + ".key")
    raise InvalidInputError(
        f"inventory {display_location(db)} is not a file, so its fingerprint key has no "
        f"default place: set {KEY_FILE_ENV} to a key file path (`nhictl init` creates it, "
        f"mode 600) or {KEY_ENV} to the key itself (base64 of {KEY_BYTES} random bytes: "
        f"head -c {KEY_BYTES} /dev/urandom | base64)",
        hint="every host sharing this inventory needs the same key; it is never stored in "
        "the database",
    )


def key_from_env() -> bytes | None:
    """The fingerprint key held by ``NHICTL_KEY`` (base64 of 32 bytes), if set."""
    value = os.environ.get(KEY_ENV)
    if not value:
        return None
    register_secret(value.strip())
    if os.environ.get(KEY_FILE_ENV):
        raise InvalidInputError(f"both {KEY_ENV} and {KEY_FILE_ENV} are set; set only one "
                                "(the fingerprint key must come from one place)")
    try:
        key = base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        key = b""
    if len(key) != KEY_BYTES:
        raise InvalidInputError(
            f"{KEY_ENV} is not a base64-encoded {KEY_BYTES}-byte key (value not shown)",
            hint=f"make one with: head -c {KEY_BYTES} /dev/urandom | base64",
        )
    return key


def _read_key(key_path: Path) -> bytes:
    try:
        mode = key_path.stat().st_mode
    except FileNotFoundError as exc:
        raise NotInitializedError(
            f"fingerprint key {key_path} is missing",
            hint="restore it from your backup (or point NHICTL_KEY_FILE at it); "
            "`nhictl init --new-key` if it is lost for good",
        ) from exc
    except OSError as exc:
        raise InvalidInputError(f"cannot read fingerprint key {key_path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInputError(
            f"fingerprint key {key_path} is readable by group or others",
            hint=f"chmod 600 {key_path}",
        )
    try:  # a regular file (a FIFO put there must not block), of bounded size
        data = read_input_bytes(key_path, "fingerprint key", MAX_KEY_FILE_BYTES)
    except InputFileError as exc:
        raise InvalidInputError(exc.message) from None
    if len(data) != KEY_BYTES:
        raise InvalidInputError(
            f"fingerprint key {key_path} is not a {KEY_BYTES}-byte key (damaged or not a key)",
            hint=f"restore it from your backup; if it is lost for good, move it aside "
            f"(mv {key_path} {key_path}.damaged) and run `nhictl init --new-key`",
        )
    return data


def resolve_key(env_key: bytes | None, key_path: Path | None, *, create: bool) -> bytes:
    """The key from NHICTL_KEY, else the key file (made when ``create`` and absent)."""
    if env_key is not None:
        return env_key
    assert key_path is not None  # key_path_for gives one whenever NHICTL_KEY is unset
    if create and not key_path.exists():
        return _write_key(key_path)
    return _read_key(key_path)


def _write_key(key_path: Path) -> bytes:
    key = secrets.token_bytes(KEY_BYTES)
    try:
        private_dirs(key_path.parent)
        fd = os.open(key_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
        with os.fdopen(fd, "wb") as fh:
            fh.write(key)
    except OSError as exc:
        raise InvalidInputError(
            f"cannot create fingerprint key {key_path}: {exc.strerror or exc}"
        ) from None
    return key


def lost_key(location: str, key_path: Path) -> InvalidInputError:
    """An initialized inventory without its key: a new key would make every stored
    fingerprint read as a different token, so the key is never minted silently."""
    return InvalidInputError(
        f"inventory {location} exists but its fingerprint key {key_path} is missing; "
        "no new key was made",
        hint=f"restore the key file from your backup to {key_path} (mode 600), or point "
        "NHICTL_KEY_FILE at it; if it is lost for good, run `nhictl init --new-key` "
        "(every stored fingerprint is then cleared and re-learnt at the next reconcile)",
    )
