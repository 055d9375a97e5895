"""The ``file:`` source: an app's export of its Slack connections.

Accepted shapes: a JSON array, an object ``{"connections": [...]}``, JSON Lines, or CSV with
the same column names. Every record is validated before any is returned, so a bad file writes
nothing; errors name the file, the record (index for JSON, line for JSONL and CSV) and field.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nhictl.clock import iso, parse_time
from nhictl.errors import InputFileError
from nhictl.fsutil import MAX_EXPORT_BYTES
from nhictl.jsonin import MAX_JSON_STRING_CHARS, JsonProblem, check_value
from nhictl.logs import log
from nhictl.models import SourceRecord
from nhictl.secret import Secret, token_kind_of
from nhictl.sources.base import InMemoryTokenMixin, UnchangedRecord
from nhictl.sources.export_fast import (
    CANONICAL_TIME,
    KNOWN_FIELDS,
    MAX_ID_CHARS,
    NO_METADATA,
    NO_SCOPES,
    PlainRecords,
)
from nhictl.sources.export_secrets import (
    any_secret_shape,
    named_secret_inside,
    secret_shape,
    shaped_secret_inside,
)
from nhictl.sources.export_shapes import ShapeReader, canonical_text
from nhictl.sources.field_names import check_field_names
from nhictl.sources.fileperm import ensure_private

MAX_FILE_BYTES = MAX_EXPORT_BYTES
MAX_FIELD_CHARS = MAX_JSON_STRING_CHARS
STRING_FIELDS = (
    "provider",
    "owner_id",
    "owner_email",
    "owner_name",
    "owner_status",
    "tenant",
    "team_id",
    "slack_user_id",
    "channel_id",
    "token_kind",
)
LIST_FIELDS = ("purpose", "scopes")
TIME_FIELDS = ("created_at", "expires_at")
SECRET_FIELDS = ("access_token", "refresh_token")
KNOWN = KNOWN_FIELDS  # = {"id", *STRING_FIELDS, *LIST_FIELDS, *TIME_FIELDS, *SECRET_FIELDS}
OWNER_STATUSES = ("active", "deactivated")
# Unknown fields are kept as metadata, except secrets (see export_secrets): secret-named
# fields are dropped with a warning, secret-shaped values refuse the file.
TOKEN_CHECKED = (*STRING_FIELDS, *LIST_FIELDS, *TIME_FIELDS, "id")
# Names with a meaning (installer_user_id is metadata that reconcile reads).
MEANINGFUL = (*KNOWN, "installer_user_id")


def _split_list(value: str) -> list[str]:
    return [p for p in value.replace(",", " ").split() if p]


class ExportFileSource(InMemoryTokenMixin):
    kind = "file"

    def __init__(
        self,
        name: str,
        path: str | Path,
        *,
        tenant: str | None = None,
        default_purpose: list[str] | None = None,
    ) -> None:
        self.name = name
        self.path = Path(path)
        self.tenant = tenant
        self.default_purpose = default_purpose or []
        self.skipped_other_providers = 0
        self.dropped_secret_fields: set[str] = set()
        self._secret_metadata = False
        self.strict = False  # near-miss field names are errors (reconcile --strict)
        self.field_warnings: list[str] = []
        self._plain = PlainRecords(tenant, self.default_purpose)
        self._reader = ShapeReader(self.path, self._error)

    def describe(self) -> str:
        return f"export file {self.path}"

    def check(self) -> str:
        records = list(self.collect())
        return f"ok: {len(records)} Slack connections readable"

    def collect(self) -> Iterator[SourceRecord]:
        return iter(self.read_all())

    # -- parsing ---------------------------------------------------------------------------

    def _error(self, where: str | None, message: str) -> InputFileError:
        return InputFileError(str(self.path), where, message)

    def _record(self, where: str, raw: Any) -> SourceRecord | None:
        if not isinstance(raw, dict):
            raise self._error(where, f"expected an object, got {type(raw).__name__}")
        rec_id = raw.get("id")
        if rec_id is None or (isinstance(rec_id, str) and not rec_id.strip()):
            raise self._error(where, 'missing required field "id"')
        if not isinstance(rec_id, str | int) or isinstance(rec_id, bool):
            raise self._error(where, 'field "id": expected a string')
        if len(str(rec_id)) > MAX_ID_CHARS:
            raise self._error(where, f'field "id": longer than {MAX_ID_CHARS} characters')
        values: dict[str, Any] = {}
        # One C-level look at the whole record: ASCII names and values (no surrogate, no
        # escape to check), nothing nested, all within the length cap. Such a record (nearly
        # every one) needs neither the Unicode nor the JSON-value walk per field.
        plain, shape_texts = _plain_record(raw)
        share = self._plain.share
        for key, value in raw.items():
            kind = _FIELD_KIND.get(key) if type(key) is str else None
            if plain and kind is None:
                continue  # metadata: checked below with the other unknown fields
            if not plain:
                if not isinstance(key, str):
                    raise self._error(where, "field names must be strings")
                if key in KNOWN:
                    self._check_unicode(where, key, value)
                if isinstance(value, str) and len(value) > MAX_FIELD_CHARS:
                    raise self._error(where,
                                      f'field "{key}": longer than {MAX_FIELD_CHARS} chars')
            if kind == "string":
                if value is not None and not isinstance(value, str):
                    raise self._error(where, f'field "{key}": expected a string')
                text = value.strip() or None if isinstance(value, str) else None
                # Few distinct tenants, teams, statuses: one string object each, not one per
                # record (a million records).
                values[key] = share(text) if text and key in _SHARED else text
            elif kind == "list":
                values[key] = [share(v) for v in self._list_field(where, key, value)]
            elif kind == "time":
                when = self._time_field(where, key, value)
                values[key] = share(when) if when else when
            elif kind == "secret":
                if value is not None and not isinstance(value, str):
                    raise self._error(where, f'field "{key}": expected a string')
                values[key] = value.strip() if isinstance(value, str) and value.strip() else None
            if plain or (_plain_text(key) and (value is None or _plain_text(value) or (
                    isinstance(value, list) and all(_plain_text(v) for v in value)))):
                continue  # the common case: nothing for check_value to find, at a tenth the cost
            try:
                check_value({key: value})  # depth, length, Unicode of the name and value
            except JsonProblem as exc:
                raise self._error(where, f'field "{ascii(key)[1:-1][:80]}": {exc.message}') \
                    from None
        provider = (values.get("provider") or "slack").lower()
        if provider != "slack":
            self.skipped_other_providers += 1
            return None
        status = values.get("owner_status")
        if status is not None and status.lower() not in OWNER_STATUSES:
            raise self._error(
                where, f'field "owner_status": {status!r} is not one of {", ".join(OWNER_STATUSES)}'
            )
        for key in self._shaped_fields(raw, shape_texts):
            value = raw.get(key)
            if value is None:
                continue
            texts = value if isinstance(value, list) else (value,)
            for text in texts:
                what = secret_shape(text) if isinstance(text, str) else None
                if what:
                    # Most likely a shifted CSV column: storing it would store a secret.
                    raise self._error(where, f'field "{key}" holds what looks like {what} '
                                      "(a shifted column?); nothing was stored")
        token_value = values.get("access_token")
        kind = values.get("token_kind") or (token_kind_of(token_value) if token_value else None)
        if kind is not None and kind not in ("user", "bot"):
            raise self._error(where, f'field "token_kind": {kind!r} is not user or bot')
        extra = {k: v for k, v in raw.items() if k not in KNOWN}
        metadata = self._metadata(where, extra) if extra else NO_METADATA
        return SourceRecord(
            connection_id=str(rec_id).strip(),
            provider="slack",
            tenant=values.get("tenant") or self.tenant,
            owner_id=values.get("owner_id"),
            owner_email=values.get("owner_email"),
            owner_name=values.get("owner_name"),
            owner_status=status.lower() if status else None,
            purpose=values.get("purpose") or list(self.default_purpose),
            declared_scopes=sorted(set(values.get("scopes") or [])),
            source_team_id=values.get("team_id"),
            source_slack_user_id=values.get("slack_user_id"),
            channel_id=values.get("channel_id"),
            token_kind=kind,
            created_at=values.get("created_at"),
            token_expires_at=values.get("expires_at"),
            has_refresh_token=bool(values.get("refresh_token")),
            metadata=metadata or NO_METADATA,
            missing_scopes=NO_SCOPES,
            token=Secret(token_value) if token_value else None,
        )

    @staticmethod
    def _shaped_fields(raw: dict[str, Any], texts: list[str] | None) -> tuple[str, ...]:
        """The checked fields to scan one by one: none when one search over all of them
        (``texts``, when the caller collected them) finds no secret shape (the scan then
        names the first field that holds one)."""
        if texts is None:
            texts = []
            for key in TOKEN_CHECKED:
                value = raw.get(key)
                if type(value) is str:
                    texts.append(value)
                elif isinstance(value, list):
                    texts.extend(v for v in value if isinstance(v, str))
        return TOKEN_CHECKED if any_secret_shape(texts) else ()

    def _metadata(self, where: str, extra: dict[str, Any]) -> dict[str, Any]:
        """The unknown fields kept as metadata: secret-named ones dropped (and remembered for
        one warning), a secret-shaped value anywhere refuses the file."""
        for key in list(extra):
            named = named_secret_inside(key, extra[key])
            if named is not None:
                del extra[key]
                self.dropped_secret_fields.add(named)
                self._secret_metadata = True
                continue
            shaped = shaped_secret_inside(key, extra[key])
            if shaped is not None:
                raise self._error(where, f'field "{shaped[0]}" holds what looks like '
                                  f"{shaped[1]}; nhictl does not store secrets outside "
                                  "access_token/refresh_token, so nothing was stored")
        try:
            json.dumps(extra, allow_nan=False)
        except (TypeError, ValueError):
            raise self._error(where, "extra fields must be JSON values") from None
        return extra

    def _check_unicode(self, where: str, key: str, value: Any) -> None:
        """Strings must be storable as UTF-8 (JSON escapes can smuggle lone surrogates)."""
        for item in value if isinstance(value, list) else [value]:
            if isinstance(item, str) and not item.isascii():  # ASCII cannot hold a surrogate
                try:
                    item.encode("utf-8")
                except UnicodeEncodeError:
                    raise self._error(
                        where, f'field "{key}": invalid Unicode (unpaired surrogate)'
                    ) from None

    def _list_field(self, where: str, key: str, value: Any) -> list[str]:
        if value is None:
            return []
        if isinstance(value, str):
            return _split_list(value)
        if isinstance(value, list) and all(isinstance(v, str) for v in value):
            return [v.strip() for v in value if v.strip()]
        raise self._error(where, f'field "{key}": expected a list of strings or a string')

    def _time_field(self, where: str, key: str, value: Any) -> str | None:
        if value is None or value == "":
            return None
        if isinstance(value, int | float) and not isinstance(value, bool):
            # Epoch seconds, as many apps store expiries (slack_sdk does too).
            if not 0 <= value < 253402300800:  # up to 9999-12-31
                raise self._error(where, f'field "{key}": epoch {value!r} is out of range')
            return iso(datetime.fromtimestamp(value, UTC))
        if not isinstance(value, str):
            raise self._error(where, f'field "{key}": expected an ISO 8601 date-time string '
                              "or epoch seconds")
        if CANONICAL_TIME.fullmatch(value):  # already the stored form: only check the date
            try:
                datetime.fromisoformat(value[:-1])
                return value
            except ValueError:
                pass  # the full parse below names the problem
        if value.strip().isdigit() and len(value.strip()) <= 11:
            return self._time_field(where, key, int(value.strip()))  # CSV cells are text
        try:
            return iso(parse_time(value))
        except (ValueError, OverflowError):
            raise self._error(where, f'field "{key}": {value[:40]!r} is not ISO 8601') from None

    def read_all(self) -> list[SourceRecord]:
        """Parse and validate the whole file; raise on the first bad record."""
        return [r for r in self._read(None, None) if isinstance(r, SourceRecord)]

    def collect_incremental(
        self, known: Mapping[str, str], salt: bytes
    ) -> Iterator[SourceRecord | UnchangedRecord]:
        """See :class:`~nhictl.sources.base.IncrementalSource`. A generator: the whole-file
        checks (duplicate ids, the file's mode, strict field names) raise when it ends, so
        consume it completely before writing anything."""
        return self._read(known, salt)

    def _digest_base(self, salt: bytes) -> Any:
        """The keyed hash every record's digest continues: the settings that change what a
        record means (the shape, a CSV header, tenant, default purpose, strictness, and
        this code's version), so that changing any of them revalidates every record."""
        key = salt if 0 < len(salt) <= 64 else hashlib.blake2b(salt).digest()
        base = hashlib.blake2b(key=key, digest_size=16, person=b"nhictl-export")
        settings = [DIGEST_VERSION, self._reader.shape, self._reader.csv_header, self.tenant,
                    self.default_purpose, self.strict]
        base.update(json.dumps(settings).encode() + b"\x00")
        return base

    def _read(self, known: Mapping[str, str] | None,
              salt: bytes | None) -> Iterator[SourceRecord | UnchangedRecord]:
        reader = self._reader = ShapeReader(self.path, self._error)
        self._plain = PlainRecords(self.tenant, self.default_purpose)
        self.skipped_other_providers = 0
        self._secret_metadata = False
        self.dropped_secret_fields = set()
        names: set[str] = set()
        seen: dict[str, int] = {}
        has_tokens = False
        base = None
        for n, raw, text in reader.records():  # each parsed object is freed once handled
            digest = None
            if salt is not None:
                if base is None:
                    base = self._digest_base(salt)
                hasher = base.copy()
                hasher.update((text if text is not None else canonical_text(raw)).encode())
                digest = hasher.hexdigest()
                cid = _raw_id(raw) if known else None
                if cid is not None and known is not None and known.get(cid) == digest:
                    # Byte for byte what was validated and stored, under the same settings:
                    # only the whole-file facts are gathered, nothing is validated again.
                    self._check_unique(seen, cid, n)
                    if not raw.keys() <= KNOWN_FIELDS:
                        self._unchanged_metadata(raw, names)
                    if not has_tokens:
                        has_tokens = any(isinstance(v, str) and v.strip() for v in (
                            raw.get("access_token"), raw.get("refresh_token")))
                    team = raw.get("team_id")
                    team = team.strip() if isinstance(team, str) else None
                    yield UnchangedRecord(cid, self._plain.share(team) if team else None)
                    continue
            record = self._validated(n, raw)
            if record is None:
                continue
            self._check_unique(seen, record.connection_id, n)
            has_tokens = has_tokens or record.token is not None or record.has_refresh_token
            if record.metadata:
                names.update(record.metadata)
            if digest is not None:
                record.content_digest = digest
            yield record
        self._plain = PlainRecords(self.tenant, self.default_purpose)  # drop the caches
        if has_tokens or self._secret_metadata:
            ensure_private(self.path, "export file")
        if self.dropped_secret_fields:
            names_ = ", ".join(ascii(n)[1:-1][:80] for n in sorted(self.dropped_secret_fields)[:5])
            log(f"warning: {self.path}: secret-named field(s) not kept as metadata: {names_}",
                logging.WARNING)
        self.field_warnings = check_field_names(
            str(self.path), names, MEANINGFUL, strict=self.strict,
            dropped=self.dropped_secret_fields)

    def _validated(self, n: int, raw: Any) -> SourceRecord | None:
        """The record, fully validated: the fast path for a plain one, else field by field."""
        return self._plain.build(raw) or self._record(self._reader.where(n), raw)

    def _check_unique(self, seen: dict[str, int], cid: str, n: int) -> None:
        first = seen.setdefault(cid, n)
        if first != n:
            raise self._error(self._reader.where(n),
                              f"duplicate id {cid!r} (first at {self._reader.where(first)})")

    def _unchanged_metadata(self, raw: dict[str, Any], names: set[str]) -> None:
        """For a record not validated again: its metadata field names (for the near-miss
        check) and its secret-named fields (dropped, as when it was validated)."""
        for key, value in raw.items():
            if key in KNOWN:
                continue
            named = named_secret_inside(key, value)
            if named is None:
                names.add(key)
            else:
                self.dropped_secret_fields.add(named)
                self._secret_metadata = True


DIGEST_VERSION = 1  # bump when validation or SourceRecord building changes meaning


def _raw_id(raw: Any) -> str | None:
    """The connection id a raw record would get, if it has a usable one."""
    if type(raw) is not dict:
        return None
    rec_id = raw.get("id")
    if type(rec_id) is str:
        return rec_id.strip()
    return str(rec_id) if type(rec_id) is int else None


_CHECKED = frozenset(TOKEN_CHECKED)
_SHARED = frozenset({"provider", "tenant", "owner_status", "team_id", "token_kind"})
_FIELD_KIND = {**{k: "string" for k in STRING_FIELDS}, **{k: "list" for k in LIST_FIELDS},
               **{k: "time" for k in TIME_FIELDS}, **{k: "secret" for k in SECRET_FIELDS},
               "id": "id"}
_SCALARS = (str, int, float, bool, type(None))


def _plain_record(raw: dict[str, Any]) -> tuple[bool, list[str] | None]:
    """Whether every name is a string, every value a scalar or a list of strings, all of it
    ASCII and within the string cap (nothing for the Unicode, length or depth checks to
    find); and, when so, the strings of the secret-checked fields."""
    texts: list[str] = []
    checked: list[str] = []
    for key, value in raw.items():
        if type(key) is not str:
            return False, None
        texts.append(key)
        kind = type(value)
        if kind is str:
            texts.append(value)
            if key in _CHECKED:
                checked.append(value)
        elif kind is list:
            for item in value:
                if type(item) is not str:
                    return False, None
            texts.extend(value)
            if key in _CHECKED:
                checked.extend(value)
        elif kind not in _SCALARS:
            return False, None
    joined = "\x00".join(texts)
    if joined.isascii() and len(joined) <= MAX_JSON_STRING_CHARS:
        return True, checked
    return False, None


def _plain_text(value: Any) -> bool:
    """An ASCII string within the length cap: valid UTF-8, no depth, nothing to check."""
    return isinstance(value, str) and value.isascii() and len(value) <= MAX_JSON_STRING_CHARS
