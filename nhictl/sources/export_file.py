"""The ``file:`` source: an app's export of its Slack connections.

Accepted shapes: a JSON array, an object ``{"connections": [...]}``, JSON Lines, or CSV with
the same column names. Every record is validated before any is returned, so a bad file writes
nothing; errors name the file, the record (index for JSON, line for JSONL and CSV) and field.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from nhictl.clock import iso, parse_time
from nhictl.errors import InputFileError
from nhictl.fsutil import MAX_EXPORT_BYTES, read_input_bytes
from nhictl.jsonin import (
    MAX_JSON_STRING_CHARS,
    JsonProblem,
    check_value,
    iter_array_strict,
    loads_strict,
)
from nhictl.logs import log
from nhictl.models import SourceRecord
from nhictl.secret import Secret, token_kind_of
from nhictl.sources.base import InMemoryTokenMixin
from nhictl.sources.export_secrets import (
    any_secret_shape,
    named_secret_inside,
    secret_shape,
    shaped_secret_inside,
)
from nhictl.sources.field_names import check_field_names
from nhictl.sources.fileperm import ensure_private

MAX_FILE_BYTES = MAX_EXPORT_BYTES
MAX_FIELD_CHARS = MAX_JSON_STRING_CHARS
MAX_ID_CHARS = 512  # connection ids are typed back into commands; real ones are < 100
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
KNOWN = {"id", *STRING_FIELDS, *LIST_FIELDS, *TIME_FIELDS, *SECRET_FIELDS}
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
        self._shared: dict[str, str] = {}

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

    def _read_text(self) -> str:
        raw = read_input_bytes(self.path, "export file", MAX_FILE_BYTES)
        if b"\x00" in raw[:4096]:
            raise self._error(None, "binary data, not a JSON, JSON Lines or CSV export")
        try:
            return raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[: exc.start].count(b"\n") + 1
            raise self._error(f"line {line}", "not valid UTF-8") from None

    def _raw_records(self, text: str) -> Iterator[tuple[str, Any]]:
        """(location, record) pairs, shape detected from the content and the suffix; a JSON
        array is parsed one record at a time (a million parsed records are never all held)."""
        stripped = text.lstrip()
        if not stripped:
            raise self._error(None, "empty file: no connections")
        suffix = self.path.suffix.lower()
        if suffix == ".csv" or (suffix not in (".json", ".jsonl", ".ndjson") and
                                stripped[0] not in "[{"):
            return _drained(self._csv_records(text))
        if suffix in (".jsonl", ".ndjson"):
            return _drained(self._jsonl_records(text))
        if stripped[0] == "[":
            return self._array_records(text)
        return _drained(self._whole_records(text, stripped))

    def _array_records(self, text: str) -> Iterator[tuple[str, Any]]:
        try:
            for i, rec in enumerate(iter_array_strict(text)):
                yield f"record {i}", rec
        except JsonProblem as exc:
            raise self._error(f"line {exc.line}" if exc.line else None, exc.message) from None

    def _whole_records(self, text: str, stripped: str) -> list[tuple[str, Any]]:
        try:
            data = loads_strict(text, check=False)  # checked per record, naming it
        except JsonProblem as exc:
            if stripped[0] == "{" and (exc.line or 0) > 1:
                return self._jsonl_records(text)  # several objects, one per line
            raise self._error(f"line {exc.line}" if exc.line else None, exc.message) from None
        if isinstance(data, dict):
            if "connections" not in data:
                if "id" not in data:
                    lists = [k for k, v in data.items() if isinstance(v, list)][:3]
                    found = f" (found {', '.join(map(repr, lists))})" if lists else ""
                    raise self._error(None, "expected a JSON array of connections, an object "
                                      f'with a "connections" array{found}, or JSON Lines')
                return self._jsonl_records(text)  # JSON Lines holding a single record
            data = data["connections"]
        if not isinstance(data, list):
            raise self._error(None, "expected a JSON array of connections")
        return [(f"record {i}", rec) for i, rec in enumerate(data)]

    def _jsonl_records(self, text: str) -> list[tuple[str, Any]]:
        out: list[tuple[str, Any]] = []
        for n, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                out.append((f"line {n}", loads_strict(line, check=False)))
            except JsonProblem as exc:
                raise self._error(f"line {n}", exc.message) from None
        return out

    def _csv_records(self, text: str) -> list[tuple[str, Any]]:
        # strict: an unterminated quote is an error, not the rest of the file in one cell.
        reader = csv.reader(io.StringIO(text, newline=""), strict=True)
        out: list[tuple[str, Any]] = []
        header: list[str] | None = None
        start = 1
        try:
            while True:
                start = reader.line_num + 1  # the line this row starts on
                try:
                    cells = next(reader)
                except StopIteration:
                    break
                if header is None:
                    header = self._csv_header(cells, start)
                    continue
                if len(cells) > len(header):
                    raise self._error(f"line {start}", "more cells than header columns")
                if len(cells) < len(header):
                    if not any(c.strip() for c in cells):
                        continue  # an empty line
                    raise self._error(f"line {start}", "fewer cells than header columns")
                if not any(c.strip() for c in cells):
                    continue
                out.append((f"line {start}", {k: v for k, v in zip(header, cells, strict=True)
                                              if v}))
        except csv.Error as exc:
            problem = ("a quoted cell is never closed (unterminated quote)"
                       if "unexpected end of data" in str(exc) else f"invalid CSV: {exc}")
            raise self._error(f"line {start}", problem) from None
        if header is None:
            raise self._error("line 1", 'CSV header has no "id" column')
        return out

    def _csv_header(self, cells: list[str], line: int) -> list[str]:
        header = [c.strip() for c in cells]
        if "id" not in header:
            raise self._error(f"line {line}", 'CSV header has no "id" column')
        dupes = sorted({h for h in header if h and header.count(h) > 1})
        if dupes:  # csv.DictReader would keep only the last of them: data silently lost
            raise self._error(f"line {line}", f"duplicate CSV column(s): {', '.join(dupes)}")
        return header

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
        shared = self._shared.setdefault
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
                values[key] = shared(text, text) if text and key in _SHARED else text
            elif kind == "list":
                values[key] = [shared(v, v) for v in self._list_field(where, key, value)]
            elif kind == "time":
                when = self._time_field(where, key, value)
                values[key] = shared(when, when) if when else when
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
        metadata = self._metadata(where, extra) if extra else extra
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
            metadata=metadata,
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
        if _CANONICAL_TIME.fullmatch(value):  # already the stored form: only check the date
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
        pairs = self._raw_records(self._read_text())  # the text is freed once parsed
        records: list[SourceRecord] = []
        seen: dict[str, str] = {}
        has_tokens = False
        self._secret_metadata = False
        self.dropped_secret_fields = set()
        for where, raw in pairs:  # each parsed object is freed once it became a record
            record = self._record(where, raw)
            if record is None:
                continue
            if record.connection_id in seen:
                raise self._error(
                    where,
                    f"duplicate id {record.connection_id!r} "
                    f"(first at {seen[record.connection_id]})",
                )
            seen[record.connection_id] = where
            has_tokens = has_tokens or record.token is not None or record.has_refresh_token
            records.append(record)
        self._shared = {}  # the records keep their shared strings; the index can go
        if has_tokens or self._secret_metadata:
            ensure_private(self.path, "export file")
        if self.dropped_secret_fields:
            names = ", ".join(ascii(n)[1:-1][:80] for n in sorted(self.dropped_secret_fields)[:5])
            log(f"warning: {self.path}: secret-named field(s) not kept as metadata: {names}",
                logging.WARNING)
        self.field_warnings = check_field_names(
            str(self.path), {k for r in records for k in r.metadata}, MEANINGFUL,
            strict=self.strict, dropped=self.dropped_secret_fields)
        return records


def _drained(pairs: list[tuple[str, Any]]) -> Iterator[tuple[str, Any]]:
    """The pairs in order, each freed from the list once handed out."""
    for i in range(len(pairs)):
        item = pairs[i]
        pairs[i] = ("", None)
        yield item


_CANONICAL_TIME = re.compile(r"[1-9][0-9]{3}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z")
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
