"""The one exception tree of nhictl.

Every error a user can cause or meet is a subclass of :class:`NhictlError`, carrying the
process exit code the CLI uses and an optional hint. Foreign exceptions (sqlalchemy, httpx,
slack_sdk, OSError) are translated into these at the seam where they occur; the CLI has one
handler. Messages never contain token bytes.
"""

from __future__ import annotations


class ExitCode:
    OK = 0
    FINDINGS = 1
    USAGE = 2
    INVALID_INPUT = 3
    PARTIAL = 4
    REVOKE_FAILED = 5
    INTERNAL = 70


class NhictlError(Exception):
    """Base of every nhictl error."""

    exit_code: int = ExitCode.INTERNAL

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        return self.message


class UsageError(NhictlError):
    """The command line itself is wrong (unknown id, conflicting options)."""

    exit_code = ExitCode.USAGE


class InvalidInputError(NhictlError):
    """A file, config, policy or database nhictl was given is invalid; nothing was written."""

    exit_code = ExitCode.INVALID_INPUT


class ConfigError(InvalidInputError):
    """nhictl.toml or a policy/suppression file is invalid."""

    @classmethod
    def at(cls, path: object, key: str, message: str, hint: str | None = None) -> ConfigError:
        """``<file>: <key>: <message>``, the one shape every config error takes."""
        return cls(f"{path}: {key}: {message}", hint=hint)


class InputFileError(InvalidInputError):
    """An input file (export, review CSV, usage JSONL) is malformed."""

    def __init__(
        self, path: str, where: str | None, message: str, *, hint: str | None = None
    ) -> None:
        location = f"{path}:{where}" if where else path
        super().__init__(f"{location}: {message}", hint=hint)
        self.path = path
        self.where = where


class InsecureFileError(InvalidInputError):
    """A file holding secrets is readable by group or others."""


class SchemaVersionError(InvalidInputError):
    """The inventory was written by a newer nhictl (or is not an nhictl inventory)."""


class NotInitializedError(InvalidInputError):
    """The inventory does not exist yet."""


class UnavailableError(NhictlError):
    """Something outside nhictl could not be reached (source, Slack); a partial result."""

    exit_code = ExitCode.PARTIAL


class SourceError(UnavailableError):
    """A binding source could not be read completely."""

    def __init__(self, source: str, message: str, *, hint: str | None = None) -> None:
        super().__init__(f"source {source!r}: {message}", hint=hint)
        self.source = source


class LedgerError(UnavailableError):
    """A Slack-side ledger collector could not read its log completely (exit 4); what it
    read is kept and its checkpoint does not move, so the next run reads the rest."""


class NetworkLimitError(UnavailableError):
    """A request stopped by nhictl's network rules: a redirect on a credentialed request (never
    followed), a response over the size cap, or the request's or the run's deadline."""

    def __init__(self, message: str, *, retryable: bool, hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.retryable = retryable


class LockedError(UnavailableError):
    """Another nhictl process holds the inventory's write lock."""


class RevokeFailedError(NhictlError):
    """At least one revocation failed."""

    exit_code = ExitCode.REVOKE_FAILED


class InternalError(NhictlError):
    """A bug in nhictl."""

    exit_code = ExitCode.INTERNAL


class ReadOnlyInventoryError(InvalidInputError):
    """The inventory (or its directory) cannot be written; nothing was changed."""


class StorageFullError(UnavailableError):
    """A write failed for want of space (disk full, file size limit) or an I/O error; the
    transaction in progress was rolled back, earlier committed steps stay."""


class NotifyFailedError(UnavailableError):
    """A notification was not delivered (``maybe_delivered``: the failure came after the
    request was sent, so the receiver may have it); nothing was recorded as announced, so the
    next run sends that news again."""

    def __init__(self, message: str, *, maybe_delivered: bool = False,
                 hint: str | None = None) -> None:
        super().__init__(message, hint=hint)
        self.maybe_delivered = maybe_delivered
