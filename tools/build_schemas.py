"""Write nhictl/schemas/*.schema.json (the published JSON Schemas) from this one file.

    python tools/build_schemas.py          # rewrite the files
    python tools/build_schemas.py --check  # exit 1 if a file differs (the tests run this)

Conventions: every JSON output is an object with ``schema_version`` and ``generated_at``;
top-level names are closed (``additionalProperties: false``), so a renamed key fails the
tests; rows list every name a consumer may rely on, and new names may be added to rows
within a ``schema_version`` (a rename or removal bumps it).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from nhictl.checks.model import FRAMEWORKS  # noqa: E402
from nhictl.models import EventType, Severity, Status  # noqa: E402
from nhictl.review.report import ACTIONS, DECISIONS, REVIEW_COLUMNS  # noqa: E402
from nhictl.sources.export_file import MAX_FIELD_CHARS, MAX_ID_CHARS  # noqa: E402

OUT = ROOT / "nhictl" / "schemas"
DRAFT = "https://json-schema.org/draft/2020-12/schema"
_DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
_TIME = r"([01]\d|2[0-3]):[0-5]\d(:[0-5]\d(\.\d{1,6})?)?"
_OFFSET = r"([Zz]|[+-]([01]\d|2[0-3]):?[0-5]\d)"
ISO_LENIENT = rf"{_DATE}([T ]{_TIME})?{_OFFSET}?"

STR: dict[str, Any] = {"type": "string"}
INT: dict[str, Any] = {"type": "integer", "minimum": 0}
BOOL: dict[str, Any] = {"type": "boolean"}
STAMP: dict[str, Any] = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$",
                         "description": "UTC, second precision: 2026-11-29T19:41:14Z"}
STRS: dict[str, Any] = {"type": "array", "items": STR}
COUNTS: dict[str, Any] = {"type": "object", "additionalProperties": INT}
OBJ: dict[str, Any] = {"type": "object"}


def null(schema: dict[str, Any]) -> dict[str, Any]:
    return {"anyOf": [schema, {"type": "null"}]}


def enum(values: Any, nullable: bool = False) -> dict[str, Any]:
    listed = [str(v) for v in values]
    return {"enum": [*listed, None] if nullable else listed}


def obj(props: dict[str, Any], *, closed: bool = False, optional: tuple[str, ...] = ()
        ) -> dict[str, Any]:
    return {"type": "object", "required": [k for k in props if k not in optional],
            "properties": props, "additionalProperties": not closed}


def rows(item: dict[str, Any]) -> dict[str, Any]:
    return {"type": "array", "items": item}


def output(name: str, title: str, command: str, props: dict[str, Any],
           optional: tuple[str, ...] = ()) -> dict[str, Any]:
    top = {"schema_version": {"const": 1}, "generated_at": STAMP, **props}
    return {"$schema": DRAFT, "$id": f"urn:nhictl:schema:{name}",
            "title": f"{name}: {title}", "description": f"Printed by `{command}`.",
            **obj(top, closed=True, optional=optional)}


SEVERITY = enum(s.value for s in Severity)
STATUS = enum(s.value for s in Status)
BY_SEVERITY = obj({s.value: INT for s in reversed(list(Severity))}, closed=True)
STATUSES = {"type": "object", "propertyNames": STATUS, "additionalProperties": INT,
            "description": "Bindings per status (the same name in every output and the log)."}
FRAMEWORK_MAP = obj({k: STRS for k in FRAMEWORKS}, closed=True)

BINDING = obj({
    "id": {"type": "string", "pattern": "^b-[0-9a-f]{10}$"}, "source": STR,
    "connection_id": STR, "provider": STR, "tenant": null(STR), "owner_id": null(STR),
    "owner_email": null(STR), "owner_name": null(STR), "owner_status": null(STR),
    "workspace_id": null(STR), "workspace_name": null(STR), "enterprise_id": null(STR),
    "slack_user_id": null(STR), "bot_id": null(STR), "token_kind": enum(("user", "bot"), True),
    "purpose": STRS, "channel_id": null(STR), "declared_scopes": STRS,
    "granted_scopes": null(STRS), "approved_scopes": null(STRS), "missing_scopes": STRS,
    "used_scopes": STRS, "status": STATUS, "status_reason": null(STR),
    "status_changed_at": null(STAMP), "token_fingerprint": null(STR),
    "token_expires_at": null(STAMP), "has_refresh_token": BOOL, "source_team_id": null(STR),
    "source_slack_user_id": null(STR), "slack_user_deleted": null(BOOL),
    "first_seen_at": STAMP, "last_seen_at": null(STAMP), "last_validated_at": null(STAMP),
    "last_validation_outcome": null(STR), "last_validation_error": null(STR),
    "last_used_at": null(STAMP), "last_reviewed_at": null(STAMP),
    "last_review_decision": null(enum(DECISIONS)), "revoked_at": null(STAMP),
    "revoke_reason": null(STR), "created_at": null(STAMP), "metadata": OBJ,
})
EVENT = obj({"seq": INT, "at": STAMP, "run_id": null(STR), "binding_id": null(STR),
             "type": enum(e.value for e in EventType), "actor": STR, "details": OBJ})
SUPPRESSION = null(obj({
    "kind": {**enum(("accepted_risk",)), "description": "accepted_risk: a review's keep "
             "(check shows it as accepted); absent: the suppressions file"},
    "rule": STR, "reason": STR, "ticket": STR, "approver": STR, "expires": STR,
}, optional=("kind",)))
FINDING = obj({
    "rule_id": STR, "severity": SEVERITY, "binding_id": null(STR), "title": STR, "message": STR,
    "evidence": OBJ, "remediation": STR, "frameworks": FRAMEWORK_MAP, "suppressed": BOOL,
    "suppression": SUPPRESSION, "first_seen_at": null(STAMP), "new": BOOL,
})
STORED_FINDING = obj({
    "rule_id": STR, "severity": SEVERITY, "binding_id": null(STR), "title": STR, "message": STR,
    "evidence": OBJ, "suppressed": BOOL, "suppression": SUPPRESSION, "first_seen_at": STAMP,
    "run_id": STR,
})
CHECK_SUMMARY = obj({
    "total": INT, "unsuppressed": INT, "suppressed": INT, "by_severity": BY_SEVERITY,
    "by_rule": COUNTS, "new": INT, "resolved": INT, "run_id": STR,
    "previous_run_id": null(STR), "bindings_checked": INT,
})
CATALOG_ENTRY = obj({k: STR for k in ("scope", "token_types", "access", "data_exposed", "risk",
                                      "risk_reason", "status", "status_note", "review_note")})
REVIEW_ROW = obj({
    "binding_id": STR, "tenant": null(STR), "owner_id": null(STR), "owner_email": null(STR),
    "owner_status": null(STR), "workspace_id": null(STR), "workspace_name": null(STR),
    "slack_user_id": null(STR), "token_kind": enum(("user", "bot"), True), "purpose": STRS,
    "granted_scopes": STRS, "excess_scopes": STRS, "status": STATUS,
    "last_validated_at": null(STAMP), "last_used_at": null(STAMP), "findings": STRS,
    "max_severity": null(SEVERITY), "recommended_action": enum(ACTIONS),
    "revoke_command": STR, "decision": STR, "reviewer": STR, "decided_at": STR,
    "justification": STR, "action_reason": STR, "source": STR, "owner_name": null(STR),
    "owner": null(STR), "workspace": null(STR),
    "findings_detail": rows(obj({"rule_id": STR, "severity": SEVERITY, "message": STR})),
    "slack_evidence": STR,
    "slack_history": rows(obj({"ledger_entry": STR, "collector_kind": STR, "action": STR,
                               "at": STR})),
})
REVIEW_SUMMARY = obj({
    "bindings": INT, "statuses": STATUSES, "by_severity": BY_SEVERITY,
    "recommended_actions": obj({a: INT for a in ACTIONS}, closed=True),
    "never_validated": INT,
    "oldest_validation": null(obj({"binding_id": STR, "at": STAMP})),
})
WHO = {"binding_id": STR, "tenant": null(STR), "owner": null(STR), "workspace": null(STR),
       "status": STATUS}
DECIDED_PROPS = {**WHO, "decision": enum(DECISIONS), "reviewer": STR, "decided_at": STAMP,
                 "justification": null(STR), "recorded_at": STAMP, "recorded_by": STR}
DECIDED = obj(DECIDED_PROPS)

LEDGER_ENTRY = obj({
    "id": STR, "collector": STR,
    "kind": enum(("slack-audit", "slack-integration-logs", "slack-directory")),
    "action": STR, "at": STAMP, "app_id": null(STR), "enterprise_id": null(STR),
    "workspace_id": null(STR), "user_id": null(STR), "actor_id": null(STR), "scopes": STRS,
    "details": OBJ, "collected_at": STAMP, "run_id": null(STR)})
LEDGER_COLLECTOR = obj({
    "name": STR, "kind": STR, "complete": BOOL, "read": INT, "new": INT, "skipped": INT,
    "calls": INT, "position": null(STR), "error": null(STR), "hint": null(STR)})

OUTPUTS = [
    output("bindings", "the inventory's bindings", "nhictl inventory list -o json",
           {"bindings": rows(BINDING)}),
    output("binding", "one binding with its events and findings",
           "nhictl inventory show ID -o json",
           {"binding": BINDING, "events": rows(EVENT), "findings": rows(STORED_FINDING),
            "slack_side": rows(LEDGER_ENTRY)}),
    output("ledger", "Slack-side ledger entries (audit logs, integration logs, users.info)",
           "nhictl ledger list -o json", {"entries": rows(LEDGER_ENTRY)}),
    output("ledger-collect", "one ledger collection run", "nhictl ledger collect -o json",
           {"run_id": STR, "complete": BOOL, "collectors": rows(LEDGER_COLLECTOR)}),
    output("events", "the audit trail", "nhictl events -o json", {"events": rows(EVENT)}),
    output("findings", "a check run's findings", "nhictl check -o json` (and the demo's "
           "`findings.json", {"findings": rows(FINDING), "summary": CHECK_SUMMARY,
                              "resolved": rows(OBJ)}),
    output("rules", "the rule catalog", "nhictl check --list-rules -o json", {"rules": rows(obj({
        "rule_id": STR, "title": STR, "default_severity": SEVERITY, "escalation": STR,
        "rationale": STR, "remediation": STR, "command": null(STR),
        "frameworks": FRAMEWORK_MAP}))}),
    output("scopes", "the Slack scope catalog", "nhictl scopes list -o json",
           {"scopes": rows(CATALOG_ENTRY)}),
    output("scope", "one scope explained against the policy",
           "nhictl scopes explain SCOPE -o json", {"scope": {
               "allOf": [CATALOG_ENTRY, obj({"allowed_by_purposes": STRS, "transient_in": STRS,
                                             "policy": STR, "rules_always_flagging": STRS})]}}),
    output("sources", "the configured sources", "nhictl sources list -o json",
           {"sources": rows(obj({"name": STR, "kind": STR, "location": STR, "secret": STR,
                                 "secret_env": null(STR), "secret_set": BOOL,
                                 "default_purpose": STRS, "tenant": null(STR)}))}),
    output("usage", "what a usage ingest recorded", "nhictl usage ingest FILE -o json",
           {"usage": obj({"path": STR, "lines": INT, "events": INT, "matched": INT,
                          "inserted": INT, "duplicates": INT, "unknown": INT,
                          "unknown_refs": STRS, "bindings_updated": INT})}),
    output("reconcile", "one reconcile run", "nhictl reconcile -o json", {
        "run_id": STR, "counts": COUNTS, "statuses": STATUSES, "partial": BOOL,
        "failed_sources": STRS,
        "sources": rows(obj({"name": STR, "kind": STR, "complete": BOOL, "records": INT,
                             "error": null(STR), "hint": null(STR)})),
        "inconclusive": rows(obj({"binding_id": STR, "reason": STR})),
        "shard": {"type": "string", "pattern": "^[0-9]+/[0-9]+$",
                  "description": "K/N of a sharded run (reconcile --shard)."}},
        optional=("shard",)),
    output("access-review", "the access-review packet",
           "nhictl report access-review -o json",
           {"bindings": rows(REVIEW_ROW), "summary": REVIEW_SUMMARY}),
    output("access-review-index", "the index of the packets `--split-by` writes",
           "nhictl report access-review --split-by tenant|owner -o json --out DIR` (as "
           "`DIR/index.json", {"packets": rows(obj({
               "tenant": STR, "owner": STR, "file": STR, "bindings": INT,
               **{a: INT for a in ACTIONS}}, closed=True, optional=("tenant", "owner")))}),
    output("evidence", "what a review cycle did", "nhictl report evidence -o json", {
        "since": STAMP,
        "counts": obj({k: INT for k in ("reviewed", "kept", "reduced", "revoked",
                                         "not_revoked_at_slack", "open")}, closed=True),
        "reviewed": rows(DECIDED), "kept": rows(DECIDED),
        "reduced": rows(obj({**DECIDED_PROPS, "done": BOOL, "scopes_before": STRS,
                             "scopes_now": STRS})),
        "revoked": rows(obj({**WHO, "revoked_at": STAMP, "revoked_by": STR, "reason": null(STR),
                             "outcome": STR, "slack": null(STR)})),
        "not_revoked_at_slack": rows(obj({**WHO, "recorded_at": STAMP, "recorded_by": STR,
                                          "reason": null(STR), "why": STR})),
        "open": rows(obj({**WHO, "why": STR}))}),
    output("revoke-plan", "what revoke would do", "nhictl revoke ... -o json` (without "
           "`--yes", {"plan": rows(obj({k: STR for k in (
               "binding_id", "owner", "workspace", "token_kind", "status", "source",
               "will_call", "reason", "notes")}))}),
    output("forget-plan", "the bindings `sources forget` would mark removed",
           "nhictl sources forget NAME -o json` (without `--yes", {"plan": rows(obj({
               "id": BINDING["properties"]["id"], "connection_id": STR, "status": STATUS,
               "owner_email": null(STR), "owner_id": null(STR), "owner": STR}))}),
    output("revoke-outcomes", "what revoke did", "nhictl revoke ... --yes -o json",
           {"outcomes": rows(obj({"binding_id": STR, "outcome": enum((
               "revoked", "already_dead", "marked_removed", "already_revoked", "failed")),
               "slack": STR, "broker_removal": STR, "detail": STR, "notes": STR}))}),
]

LOG = {
    "$schema": DRAFT, "$id": "urn:nhictl:schema:log",
    "title": "log: one line of --log-format json (stderr)",
    "description": "One JSON object per line on stderr. Errors add `error` (the kind), "
                   "`exit_code` and maybe `hint`; the final line of a reconcile is "
                   "`reconcile finished` with the run's `run_id`, `counts`, `statuses`, "
                   "`partial` and `failed_sources` (the names `reconcile -o json` uses).",
    "type": "object",
    "required": ["time", "level", "event", "schema_version"],
    "properties": {
        "time": STAMP, "level": enum(("debug", "info", "warning", "error", "critical")),
        "event": STR, "schema_version": {"const": 1},
        "error": STR, "exit_code": INT, "hint": STR,
        "run_id": STR, "counts": COUNTS, "statuses": STATUSES, "partial": BOOL,
        "failed_sources": STRS, "findings": INT, "fail_on": null(SEVERITY),
    },
    "additionalProperties": True,
}


def _export() -> dict[str, Any]:
    text: dict[str, Any] = {"type": ["string", "null"], "maxLength": MAX_FIELD_CHARS}

    def s(desc: str, **kw: Any) -> dict[str, Any]:
        return {**text, "description": desc, **kw}

    def when(desc: str) -> dict[str, Any]:
        return {"description": desc, "anyOf": [
            {"type": "null"}, {"type": "number", "minimum": 0, "exclusiveMaximum": 253402300800},
            {"type": "string", "pattern": rf"^\s*({ISO_LENIENT}|\d{{1,11}})?\s*$"}]}

    def listed(desc: str) -> dict[str, Any]:
        return {"description": desc, "anyOf": [
            {"type": "null"}, {"type": "string", "maxLength": MAX_FIELD_CHARS},
            {"type": "array", "items": {"type": "string", "maxLength": MAX_FIELD_CHARS}}]}

    ci = "".join  # case-insensitive alternatives, spelled out (no inline regex flags)

    def anycase(word: str) -> str:
        return ci(f"[{c.upper()}{c.lower()}]" for c in word)

    connection = {
        "type": "object",
        "description": "One connection (one delegated Slack token). Fields not listed here are "
        "kept as the binding's metadata, except ones whose name or value looks like a secret "
        "(never stored). A field name close to a listed one (ownerEmail, owner-email, scope) "
        "is warned about; `reconcile --strict` refuses it (exit 3).",
        "required": ["id"],
        "properties": {
            "id": {"description": "The connection's id in the app (unique in the file).",
                   "anyOf": [{"type": "string", "minLength": 1, "pattern": r"\S",
                              "maxLength": MAX_ID_CHARS}, {"type": "integer"}]},
            "provider": s("Only `slack` (any case, the default) is read; records of other "
                          "providers are skipped and counted."),
            "tenant": s("The customer in your app (default: the source's `tenant`)."),
            "owner_id": s("Your app's id for the person who connected."),
            "owner_email": s("The owner's email."),
            "owner_name": s("The owner's display name."),
            "owner_status": s("`active` or `deactivated` (any case); `deactivated` raises "
                              "owner_offboarded.", pattern=rf"^\s*({anycase('active')}|"
                              rf"{anycase('deactivated')})?\s*$"),
            "purpose": listed("Purpose names: a list, or one string separated by spaces or "
                              "commas. Default: the source's `default_purpose`."),
            "scopes": listed("Declared scopes: a list, or one string separated by spaces or "
                             "commas (`chat:write users:read`)."),
            "team_id": s("The Slack workspace id (`T...`)."),
            "slack_user_id": s("The Slack user id the token acts as (`U...`/`W...`)."),
            "channel_id": s("A channel the connection posts to (`C...`)."),
            "token_kind": s("`user` or `bot` (default: from the token's prefix).",
                            pattern=r"^\s*(user|bot)?\s*$"),
            "created_at": when("ISO 8601 (`2026-02-02T09:00:00Z`, an offset, or a date alone = "
                               "midnight UTC), or epoch seconds (a number, or digits in CSV)."),
            "expires_at": when("When the access token expires; same forms as created_at."),
            "access_token": {"type": ["string", "null"], "description": "The token: used in "
                             "memory, never stored; the file must then be mode 0600."},
            "refresh_token": {"type": ["string", "null"], "description": "Only its presence "
                              "is recorded (has_refresh_token); never used or stored."},
            "installer_user_id": s("For a bot token: the Slack user who installed it (kept as "
                                   "metadata; checked with users.info)."),
        },
        "additionalProperties": True,
    }
    return {
        "$schema": DRAFT, "$id": "urn:nhictl:schema:export",
        "title": "export: an app's export of its Slack connections (file: source)",
        "description": "A JSON file is an array of connections or {\"connections\": [...]}. "
        "JSON Lines (.jsonl, .ndjson): one connection per line, each validated against "
        "#/$defs/connection. CSV: a header row of the same field names and one connection per "
        "row; empty cells are absent fields, so each row (as strings, empty cells dropped) "
        "validates against #/$defs/connection. UTF-8 (a BOM is accepted), LF or CRLF. See "
        "docs/export-format.md.",
        "anyOf": [{"type": "array", "items": {"$ref": "#/$defs/connection"}},
                  {"type": "object", "required": ["connections"], "properties": {
                      "connections": {"type": "array",
                                      "items": {"$ref": "#/$defs/connection"}}}},
                  {"$ref": "#/$defs/connection"}],
        "$defs": {"connection": connection},
    }


def _review_csv() -> dict[str, Any]:
    desc = {
        "binding_id": "nhictl's binding id; leave as generated.",
        "purpose": "Purpose names, separated by single spaces.",
        "granted_scopes": "Scopes at the last validation, sorted, space-separated; leave as "
                          "generated.",
        "excess_scopes": "Scopes the findings suggest taking away, space-separated.",
        "status": "The binding's status; leave as generated (a changed binding is refused).",
        "findings": "The open findings' rule ids, space-separated.",
        "recommended_action": "nhictl's suggestion.",
        "decision": "Reviewer: keep, revoke or reduce (any case); empty = undecided.",
        "reviewer": "Reviewer: name or email; required with a decision.",
        "decided_at": "Reviewer: ISO 8601 date or date-time, optional (default: the import "
                      "time); not in the future.",
        "justification": "Reviewer: free text.",
        "slack_evidence": "Slack's own record of the grant, from `nhictl ledger collect`: who "
                          "installed it and when, scope expansions, an uninstall, the user "
                          "deactivated; each with its ledger entry id in brackets.",
    }
    props: dict[str, Any] = {c: {"type": "string", **({"description": desc[c]} if c in desc
                                                      else {})} for c in REVIEW_COLUMNS}
    props["binding_id"]["pattern"] = r"^\s*b-[0-9a-f]{2,10}\s*$"
    props["status"]["pattern"] = "^(" + "|".join(s.value for s in Status) + ")$"
    props["token_kind"]["pattern"] = "^(user|bot)?$"
    props["max_severity"]["pattern"] = "^(" + "|".join(s.value for s in Severity) + ")?$"
    props["recommended_action"]["pattern"] = "^(" + "|".join(ACTIONS) + ")$"
    props["decision"]["pattern"] = r"^\s*(" + "|".join(
        "".join(f"[{c.upper()}{c}]" for c in d) for d in DECISIONS) + r")?\s*$"
    props["decided_at"]["pattern"] = rf"^\s*({ISO_LENIENT})?\s*$"
    return {
        "$schema": DRAFT, "$id": "urn:nhictl:schema:review-csv",
        "title": "review-csv: one row of the access-review CSV packet "
                 "(report access-review -o csv)",
        "description": "RFC 4180 CSV, UTF-8, comma-separated (`;` is accepted back from "
        "spreadsheets), one header row, one row per binding. A row is an object from header "
        "to cell text (empty cells are empty strings). A cell starting with = + - @ tab or CR "
        "is written with a leading ' (stripped back on import). The column order is fixed: "
        "x-column-order. `review apply` needs binding_id, decision and reviewer; extra columns "
        "are ignored.",
        "x-column-order": list(REVIEW_COLUMNS),
        "type": "object",
        "required": ["binding_id", "decision", "reviewer"],
        "properties": props,
        "additionalProperties": {"type": "string"},
        "if": {"properties": {"decision": {"pattern": r"\S"}}, "required": ["decision"]},
        "then": {"properties": {"reviewer": {"pattern": r"\S"}}},
    }


def schemas() -> dict[str, dict[str, Any]]:
    built = {s["$id"].rsplit(":", 1)[1]: s for s in OUTPUTS}
    built.update(log=LOG, export=_export(), **{"review-csv": _review_csv()})
    return built


def main(argv: list[str]) -> int:
    check = "--check" in argv
    stale = []
    for name, schema in sorted(schemas().items()):
        path = OUT / f"{name}.schema.json"
        text = json.dumps(schema, indent=2) + "\n"
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    known = {f"{n}.schema.json" for n in schemas()}
    stale += sorted(p.name for p in OUT.glob("*.schema.json") if p.name not in known)
    if stale:
        print("out of date: " + ", ".join(stale) + " (run python tools/build_schemas.py)")
    return 1 if stale else 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
