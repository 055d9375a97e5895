"""The interface every binding source implements.

A source is read-only. ``collect`` yields every connection it holds; it raises
:class:`nhictl.errors.SourceError` when it cannot read them all, and the reconciler then
never sweeps that source (no false ``removed``). Tokens travel inside records as
:class:`nhictl.secret.Secret` or are fetched on demand from their holder with
``fetch_token`` (brokers refresh them; nhictl never spends a refresh token it does not own).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from nhictl.models import SourceObservation, SourceRecord
from nhictl.secret import Secret


@dataclass(frozen=True)
class TokenFetch:
    """Outcome of asking a holder for a fresh token.

    Exactly one of ``token`` (usable now) or ``dead_reason`` (the holder says the grant is
    dead, e.g. ``needs_reauthorization``) is set; transient failures raise SourceError.
    """

    token: Secret | None = None
    dead_reason: str | None = None
    expires_at: str | None = None
    granted_scopes: tuple[str, ...] | None = None
    missing_scopes: tuple[str, ...] = ()


@runtime_checkable
class Source(Protocol):
    name: str
    kind: str

    def collect(self) -> Iterator[SourceRecord]:
        """Every connection this source holds. Raises SourceError if not read completely."""
        ...

    def fetch_token(self, record: SourceRecord) -> TokenFetch:
        """The current token for a record (on demand, from its holder)."""
        ...

    def describe(self) -> str:
        """A one-line human description (never a secret)."""
        ...


@runtime_checkable
class RemovableSource(Source, Protocol):
    """A source whose holder can delete a connection (broker removal hook for revoke)."""

    def remove(self, record: SourceRecord) -> None:
        """Delete the connection at its holder. Raises SourceError on failure."""
        ...


class InMemoryTokenMixin:
    """For sources that carry the token in the record itself (files, installation stores)."""

    def fetch_token(self, record: SourceRecord) -> TokenFetch:
        if record.token is None:
            return TokenFetch()
        return TokenFetch(token=record.token)


@runtime_checkable
class FindableSource(Source, Protocol):
    """A source that can look one connection up without listing all of them (brokers);
    revoke uses it so that revoking one binding fetches one token."""

    def find(self, connection_id: str, owner_id: str | None = None) -> SourceRecord | None:
        """The record ``collect`` would give for this connection, or None if gone."""
        ...


@runtime_checkable
class ObservingSource(Source, Protocol):
    """A source that notices facts about its holder while reading it (an installation store
    whose files others can read); the reconciler keeps them per source for the rules."""

    def observations(self) -> list[SourceObservation]:
        """What the last complete ``collect`` noticed."""
        ...


@dataclass(frozen=True, slots=True)
class UnchangedRecord:
    """A record its source found byte-identical to what the inventory holds (its digest equals
    the stored ``content_hash``): nothing to validate, merge or write. It carries only what
    reconcile still needs: the id (the sweep keeps the binding) and where a shard places it."""

    connection_id: str
    source_team_id: str | None = None
    enterprise_id: str | None = None


@runtime_checkable
class IncrementalSource(Source, Protocol):
    """A source that can tell an unchanged record from its raw form, before parsing and
    validating it into a :class:`SourceRecord` (export files: the repeat cron run)."""

    def collect_incremental(
        self, known: Mapping[str, str], salt: bytes
    ) -> Iterable[SourceRecord | UnchangedRecord]:
        """Like ``collect``; a record whose digest equals ``known[connection_id]`` (the stored
        ``content_hash`` of a live binding) comes back as an :class:`UnchangedRecord`, every
        other one as a SourceRecord with ``content_digest`` set. The digest is keyed with
        ``salt`` (secret, derived by reconcile from the inventory key and the source spec) and
        covers the record's exact bytes and every source setting that changes its meaning."""
        ...
