"""Merge what a source reported and what Slack said into a bindings row, and the events.

Pure functions: given the previous row (or None), a SourceRecord, an optional validation
result and the time, return the new row values and the events to append. The reconciler
does the I/O around them.
"""

from __future__ import annotations

import hashlib
import json
import operator
from dataclasses import dataclass, field, fields
from typing import Any

from nhictl import untrusted
from nhictl.models import (
    DEAD_TOKEN_STATUS,
    EventType,
    SourceRecord,
    Status,
    ValidationResult,
    binding_id,
)

# Row columns written from the source record, and the record attribute each comes from.
SOURCE_COLUMNS: dict[str, str] = {
    "provider": "provider",
    "tenant": "tenant",
    "owner_id": "owner_id",
    "owner_email": "owner_email",
    "owner_name": "owner_name",
    "owner_status": "owner_status",
    "purpose": "purpose",
    "declared_scopes": "declared_scopes",
    "source_team_id": "source_team_id",
    "source_slack_user_id": "source_slack_user_id",
    "channel_id": "channel_id",
    "created_at": "created_at",
    "has_refresh_token": "has_refresh_token",
    "source_state": "source_state",
    "missing_scopes": "missing_scopes",
    "metadata_json": "metadata",
}
EMPTY = (None, "", "[]", "{}", "null")
JSON_COLUMNS = {"purpose", "declared_scopes", "missing_scopes", "metadata_json"}


# Everything a record tells merge(), in a fixed order (not the token, which is never stored:
# its fingerprint is hashed instead). Bump the salt when merge() starts reading more.
_HASHED = tuple(f.name for f in fields(SourceRecord) if f.name not in ("token",))
_SALT = b"nhictl-merge-1\x00"
_hashed_values = operator.attrgetter(*_HASHED)  # one C call for the whole tuple


def content_hash(record: SourceRecord, *, source_spec: str | None,
                 fingerprint: str | None) -> str:
    """A digest of what ``merge`` reads from the source: equal digests, equal merges (given
    the same previous row), so an unchanged repeat reconcile can skip the row."""
    values = _hashed_values(record)
    # repr is exact for the str/int/bool/None/list/dict values a record holds.
    text = repr((values, source_spec, fingerprint))
    return hashlib.blake2b(_SALT + text.encode("utf-8", "surrogatepass"),
                           digest_size=16).hexdigest()


# Enum values as plain constants: merge() runs once per record (an Enum lookup is not free).
_ACTIVE = Status.ACTIVE.value
_CHANGED = EventType.CHANGED.value
_DISCOVERED = EventType.DISCOVERED.value
_IDENTITY_CHANGED = EventType.IDENTITY_CHANGED.value
_REAPPEARED = EventType.REAPPEARED.value
_REMOVED = Status.REMOVED.value
_REVOKED = Status.REVOKED.value
_SCOPE_CHANGED = EventType.SCOPE_CHANGED.value
_STATUS_CHANGED = EventType.STATUS_CHANGED.value
_UNVALIDATED = Status.UNVALIDATED.value


@dataclass
class Merge:
    row: dict[str, Any]
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    is_new: bool = False
    changed: bool = False
    status_changed: bool = False


# json.dumps(value, sort_keys=True) builds an encoder per call; one, built once, says the same.
dumps_sorted = json.JSONEncoder(sort_keys=True).encode
# Lists of strings repeat across records (scopes, purposes): each distinct one is encoded once.
_LISTS: dict[tuple[bool, tuple[str, ...]], str] = {}
_MAX_LISTS = 4096
_ONLY_STR = frozenset({str})


def encode_list(value: list[Any], keep_order: bool) -> str:
    """``json.dumps`` of the list (sorted unless ``keep_order``), with sorted keys."""
    if _ONLY_STR.issuperset(map(type, value)):
        key = (keep_order, tuple(value))
        text = _LISTS.get(key)
        if text is None:
            text = dumps_sorted(value if keep_order else sorted(value))
            if len(_LISTS) < _MAX_LISTS:
                _LISTS[key] = text
        return text
    return dumps_sorted(value if keep_order else sorted(value))


def _encode(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS:
        if isinstance(value, list):
            return encode_list(value, column == "purpose")
        return dumps_sorted(value)
    return value


# (column, whether it is JSON text) in SOURCE_COLUMNS order, and their record values at once.
_SOURCE_ITEMS = tuple((column, column in JSON_COLUMNS) for column in SOURCE_COLUMNS)
_source_values = operator.attrgetter(*SOURCE_COLUMNS.values())


def _decode(column: str, value: Any) -> Any:
    if column in JSON_COLUMNS and isinstance(value, str):
        return json.loads(value)
    return value


def merge(
    previous: dict[str, Any] | None,
    record: SourceRecord,
    *,
    source: str,
    source_spec: str | None,
    fingerprint: str | None,
    validation: ValidationResult | None,
    now: str,
    run_id: str,
    bid: str | None = None,
) -> Merge:
    """The new bindings row for one record, with its events (see module docstring);
    ``bid``: its binding id when the caller has it already."""
    row: dict[str, Any] = dict(previous) if previous else {
        "id": bid or binding_id(source, record.connection_id),
        "source": source,
        "connection_id": record.connection_id,
        "first_seen_at": now,
        "status": _UNVALIDATED,
        "status_changed_at": now,
        "granted_scopes": None,
        "used_scopes": "[]",
        "slack_user_checked": False,
    }
    result = Merge(row=row, is_new=previous is None)
    row["source_spec"] = source_spec
    row["last_seen_at"] = now
    row["run_id"] = run_id

    diff: dict[str, list[Any]] = {}
    keep_known = bool(record.dead_reason or record.partial)
    for (column, is_json), value in zip(_SOURCE_ITEMS, _source_values(record), strict=True):
        new = _encode(column, value) if is_json else value
        if previous is None:
            row[column] = new
            continue
        if keep_known and new in EMPTY and previous.get(column) not in EMPTY:
            # A dead connection's holder often cannot describe it any more (no credentials,
            # no scopes): keep what was known rather than blank it.
            new = previous.get(column)
        if previous.get(column) != new:
            diff[column.removesuffix("_json")] = [_decode(column, previous.get(column)),
                                                  _decode(column, new)]
        row[column] = new
    # Values a source may not know on every read: keep the last known one.
    for column, value in (
        ("token_fingerprint", fingerprint),
        ("token_kind", record.token_kind),
    ):
        if value is not None:
            if previous is not None and previous.get(column) not in (None, value):
                diff[column] = [previous.get(column), value]
            row[column] = value
        else:
            row.setdefault(column, None)
    # Expiry: Slack's answer (expires_in) wins over the source's note; never a diff of its
    # own, since a rotating token's expiry moves on every refresh.
    if record.token_expires_at is not None and (
        previous is None or previous.get("last_validated_at") is None
    ):
        row["token_expires_at"] = record.token_expires_at
    row.setdefault("token_expires_at", None)
    row.setdefault("workspace_id", record.source_team_id)
    row.setdefault("slack_user_id", record.source_slack_user_id)
    if row.get("last_validated_at") is None:
        # Until Slack tells us, the identity is what the source recorded.
        row["workspace_id"] = record.source_team_id
        row["slack_user_id"] = record.source_slack_user_id
        row["enterprise_id"] = record.enterprise_id
    elif row.get("enterprise_id") is None:
        row["enterprise_id"] = record.enterprise_id  # Slack did not say; the holder did

    if result.is_new:
        result.events.append((_DISCOVERED, {
            "connection_id": record.connection_id, "source": source}))
    elif diff:
        result.events.append((_CHANGED, {"fields": diff}))
        result.changed = True

    old_status = row["status"]
    new_status, reason = _next_status(previous, record, validation)
    if previous is not None and old_status == _REMOVED:
        result.events.append((_REAPPEARED, {}))
    if validation is not None:
        _apply_validation(row, previous, record, validation, now, result)
    if new_status != old_status:
        row["status"] = new_status
        row["status_reason"] = reason
        row["status_changed_at"] = now
        if not result.is_new or new_status != _UNVALIDATED:
            result.events.append((_STATUS_CHANGED, {
                "from": old_status, "to": new_status, "reason": reason}))
            result.status_changed = True
    elif reason is not None and new_status != _ACTIVE:
        row["status_reason"] = reason
    return result


def _next_status(
    previous: dict[str, Any] | None,
    record: SourceRecord,
    validation: ValidationResult | None,
) -> tuple[str, str | None]:
    current = previous["status"] if previous else _UNVALIDATED
    current_reason = previous.get("status_reason") if previous else None
    if current == _REVOKED:
        return current, current_reason  # terminal: revoked through nhictl
    if record.dead_reason:
        # Holders' and Slack's words are kept only when code-shaped (nhictl.untrusted).
        dead = untrusted.code(record.dead_reason, untrusted.UNRECOGNISED)
        status = DEAD_TOKEN_STATUS.get(dead or "", Status.NEEDS_RECONNECT)
        return status.value, f"source: {dead}"
    if validation is not None:
        if validation.outcome == "ok":
            return _ACTIVE, None
        if validation.outcome == "dead" and validation.error:
            error = untrusted.code(validation.error, untrusted.UNRECOGNISED)
            status = DEAD_TOKEN_STATUS.get(error or "", Status.NEEDS_RECONNECT)
            # detail: what the code honestly means (deleted user? revoked? uninstalled?)
            meaning = f" ({validation.detail})" if validation.detail else ""
            return status.value, f"slack: {error}{meaning}"
    if current == _REMOVED:
        return _UNVALIDATED, "reappeared in its source"
    return current, current_reason


def _apply_validation(
    row: dict[str, Any],
    previous: dict[str, Any] | None,
    record: SourceRecord,
    v: ValidationResult,
    now: str,
    result: Merge,
) -> None:
    row["last_validation_outcome"] = v.outcome
    error = untrusted.code(v.error, untrusted.UNRECOGNISED) if v.error else None
    row["last_validation_error"] = error or v.detail if v.outcome != "ok" else None
    if v.outcome != "ok":
        if v.outcome == "dead":
            row["last_validated_at"] = now
            if v.slack_user_checked:  # a dead user token's user, asked about another way
                row["slack_user_checked"] = True
                row["slack_user_deleted"] = v.slack_user_deleted
        return
    first_validation = previous is None or previous.get("last_validated_at") is None or \
        previous.get("granted_scopes") is None
    row["last_validated_at"] = now
    granted = sorted(set(v.granted_scopes or []))
    old_granted = json.loads(previous["granted_scopes"]) if previous and \
        previous.get("granted_scopes") else None
    basis_scopes, basis = (
        (old_granted, "previous_validation") if old_granted is not None
        else (sorted(set(record.declared_scopes)), "source")
    )
    added = sorted(set(granted) - set(basis_scopes))
    removed = sorted(set(basis_scopes) - set(granted))
    if (added or removed) and (basis == "previous_validation" or record.declared_scopes):
        result.events.append((_SCOPE_CHANGED, {
            "added": added, "removed": removed, "basis": basis,
            "previous": basis_scopes, "current": granted}))
    row["granted_scopes"] = json.dumps(granted)

    identity = {"workspace_id": v.workspace_id, "slack_user_id": v.slack_user_id}
    if first_validation:
        expected = {"workspace_id": record.source_team_id,
                    "slack_user_id": record.source_slack_user_id}
        basis = "source"
    else:
        expected = {"workspace_id": row.get("workspace_id"),
                    "slack_user_id": row.get("slack_user_id")}
        basis = "previous_validation"
    changed = {k: [expected[k], identity[k]] for k in identity
               if expected[k] is not None and identity[k] is not None
               and expected[k] != identity[k]}
    if changed:
        result.events.append((_IDENTITY_CHANGED, {
            "fields": changed, "basis": basis}))
    for column, value in (
        ("workspace_id", v.workspace_id),
        ("workspace_name", v.workspace_name),
        ("enterprise_id", v.enterprise_id),
        ("slack_user_id", v.slack_user_id),
        ("bot_id", v.bot_id),
        ("token_kind", v.token_kind),
    ):
        if value is not None:
            row[column] = value
    if v.token_expires_at:
        row["token_expires_at"] = v.token_expires_at
    row["slack_user_checked"] = v.slack_user_checked
    row["slack_user_deleted"] = v.slack_user_deleted if v.slack_user_checked else None
