"""Bad-input proof, part 2: the policy file, the suppressions file, review CSVs, usage events
JSONL and sandbox scenarios. Any input either works or fails with exit 3 and a clear error
naming the file: never a traceback (exit 70), never a partial write.

Documents are drawn structurally valid and then damaged (wrong types, missing or unknown
keys, huge strings, odd unicode, a BOM, CRLF, binary junk), not only random bytes. The CLI
runs in-process; one populated inventory per module, reused across examples.
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nhictl.checks import all_rules
from nhictl.sandbox.world import World
from tests.props_helpers import (
    SETTINGS,
    Inventory,
    assert_clear_error,
    cli,
    dump,
    encode,
    note_exit,
    write_private,
)

PROPS = settings(SETTINGS, max_examples=50)
TABLES = ("bindings", "events", "runs", "findings", "usage")
RULE_IDS = [r.id for r in all_rules()]
EXPORT = [
    {"id": "c1", "scopes": "chat:write channels:read", "tenant": "acme", "team_id": "T1",
     "owner_id": "o1", "owner_email": "grace@example.com", "purpose": "notifications"},
    {"id": "c2", "scopes": ["chat:write"], "tenant": "beta", "team_id": "T2",
     "owner_id": "o2", "slack_user_id": "U2"},
    {"id": "c3", "tenant": "acme"},
]


class Populated(Inventory):
    """An inventory holding the three bindings of :data:`EXPORT`."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        export = root / "export.json"
        write_private(export, json.dumps(EXPORT).encode())
        code, _, err = cli("-q", "--db", str(self.db), "reconcile", "-s", f"file:{export}",
                           "--no-validate")
        assert code == 0, err
        self.ids = [r[0] for r in self.query("SELECT id FROM bindings ORDER BY id")]
        assert len(self.ids) == 3

    def attempt(self, *argv: str, names: tuple[str, ...],
                partial_ok: str | None = None) -> tuple[int, str]:
        """Run argv; assert exit 0/3, no traceback, and on exit 3 one error line naming one
        of ``names`` and nothing written, unless the error says ``partial_ok`` (then the
        writes are the documented valid part). Warnings (``nhictl: warning:``) may precede
        the error. Returns (exit code, error line or "")."""
        before = self.counts(TABLES)
        code, out, err = cli("-q", "--db", str(self.db), *argv)
        note_exit(code)
        assert "Traceback" not in err and "Traceback" not in out
        assert code in (0, 3), f"exit {code}: {err}"
        if code == 0:
            return code, ""
        errors = "\n".join(line for line in err.split("\n")
                           if not line.startswith("nhictl: warning:"))
        head = assert_clear_error(errors, "")[0]
        assert any(n in head for n in names), f"the error names none of {names}: {head}"
        if partial_ok is None or partial_ok not in head:
            assert self.counts(TABLES) == before, f"a failed run wrote: {head}"
        return code, head

    def still_readable(self) -> None:
        """Whatever a run stored must not poison later reads (e.g. a year-1 timestamp)."""
        code, _, err = cli("-q", "--db", str(self.db), "check", "-o", "json")
        assert code == 0, f"check after the write: exit {code}: {err}"


@pytest.fixture(scope="module")
def inv() -> Iterator[Populated]:
    with tempfile.TemporaryDirectory(prefix="nhictl-props2-") as tmp:
        os.chmod(tmp, 0o700)
        yield Populated(Path(tmp))


# -- shared strategies -----------------------------------------------------------------------

ODD = ["\u2028", "\u2029", "\x85", "\x0b", "\x0c", "\x1c", "\ufeff", "\u202e", "e\u0301",
       "\U0001f600", "\x00", "\ud800", "\t", "\r", "\"", "'", "\\", "=cmd|' /C calc'!A0"]
odd_text = st.one_of(
    st.text(max_size=20),
    st.lists(st.sampled_from(ODD), min_size=1, max_size=4).map("".join),
    st.just("x" * 70_000),
)
json_scalars = st.one_of(
    st.none(), st.booleans(), st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True), odd_text,
)
json_junk = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3),
                            st.dictionaries(st.text(max_size=8), inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def damaged(draw: st.DrawFn, text: str) -> bytes:
    """``text`` as a file, maybe damaged the way real files are."""
    how = draw(st.integers(0, 9))
    if how <= 3:
        return encode(text)
    if how == 4:
        return encode(text.replace("\n", "\r\n"))
    if how == 5:
        return b"\xef\xbb\xbf" + encode(text)
    if how == 6:  # a splice of junk at a random point
        cut = draw(st.integers(0, len(text)))
        return encode(text[:cut] + draw(odd_text) + text[cut + draw(st.integers(0, 3)):])
    if how == 7:  # truncated
        return encode(text[: draw(st.integers(0, len(text)))])
    if how == 8:
        cut = draw(st.integers(0, len(text)))
        data = encode(text)
        return data[:cut] + draw(st.binary(min_size=1, max_size=20)) + data[cut:]
    return draw(st.one_of(st.binary(max_size=200), st.just(b"[" * 50_000)))


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value) if value == value and abs(value) != float("inf") else "nan"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    if isinstance(value, dict):
        return "{ " + ", ".join(f"{json.dumps(str(k))} = {toml_value(v)}"
                                for k, v in value.items()) + " }"
    if value is None:
        return '""'
    return json.dumps(str(value))  # JSON escapes are TOML basic-string escapes


toml_scalars = st.one_of(
    st.booleans(), st.integers(-(2**63), 2**63 - 1), st.floats(allow_nan=False), odd_text,
    st.dates(), st.datetimes(),
)
toml_junk = st.one_of(toml_scalars, st.lists(toml_scalars, max_size=3),
                      st.dictionaries(st.text(min_size=1, max_size=6), toml_scalars,
                                      max_size=2))


def table(name: str, body: dict[str, Any], array: bool = False) -> str:
    head = f"[[{name}]]" if array else f"[{name}]"
    return "\n".join([head, *(f"{json.dumps(k)} = {toml_value(v)}" for k, v in body.items())])


# -- policy file (`nhictl check --policy FILE`) ----------------------------------------------

SCOPES = ["chat:write", "channels:read", "groups:read", "incoming-webhook", "chat:wrte",
          "admin", "", " ", "users:read.email"]
junk_thresholds = st.one_of(st.integers(-5, 2**62), st.booleans(), st.floats(),
                            st.text(max_size=5))
sup_paths = st.sampled_from(["missing-sup.toml", "", "   ", ".", "/dev/null", "~/missing-sup",
                             "missing-sup\x00.toml", "sub/../missing-sup.toml", "\x00"])
THRESHOLD_KEYS = ["max_validation_age_days", "review_interval_days",
                  "dead_credential_grace_days", "dormant_after_days"]


@st.composite
def mutated(draw: st.DrawFn, body: dict[str, Any], junk: dict[str, Any]) -> dict[str, Any]:
    """A valid table with, sometimes, one value replaced (or one key added) by junk."""
    out = dict(body)
    if draw(st.integers(0, 2)) == 0:
        key = draw(st.sampled_from(sorted(junk)))
        out[key] = draw(junk[key])
    return out


@st.composite
def policy_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(st.fixed_dictionaries({}, optional={
        **{k: st.integers(0, 400) for k in THRESHOLD_KEYS}, "suppressions": sup_paths}))
    return draw(mutated(body, {**{k: junk_thresholds for k in THRESHOLD_KEYS},
                               "suppressions": toml_junk, "bogus": toml_junk}))


@st.composite
def purpose_bodies(draw: st.DrawFn) -> dict[str, Any]:
    body = draw(st.fixed_dictionaries(
        {"scopes": st.lists(st.sampled_from(SCOPES), max_size=4)},
        optional={"transient": st.booleans(), "description": odd_text}))
    return draw(mutated(body, {"scopes": toml_junk, "transient": toml_junk,
                               "description": toml_junk, "bogus": toml_junk}))


purpose_names = st.sampled_from(["notifications", "channel-selection", "custom", "ünï", "a b"])


@st.composite
def policy_files(draw: st.DrawFn) -> bytes:
    parts: list[str] = []
    if draw(st.integers(0, 3)):
        parts.append(table("policy", draw(policy_bodies())))
    for name in draw(st.lists(purpose_names, max_size=2, unique=True)):
        body = draw(st.one_of(purpose_bodies(), purpose_bodies(), purpose_bodies(),
                              st.dictionaries(st.text(max_size=5), toml_junk, max_size=2)))
        parts.append(table(f"purposes.{json.dumps(name)}", body))
    if draw(st.integers(0, 5)) == 0:
        parts.append(draw(st.sampled_from([
            "[bogus]\nx = 1", "[slack]\nconcurrency = 4", "purposes = 5", "policy = 'x'",
            "[[purposes]]\nscopes = []"])))
    return draw(damaged("\n".join(parts) + "\n"))


@PROPS
@given(data=policy_files())
def test_policy_file(inv: Populated, data: bytes) -> None:
    path = inv.path(".toml")
    write_private(path, data)
    # the policy may name any suppressions path: a missing one is named in the error
    inv.attempt("check", "--policy", str(path), "-o", "json",
                names=(path.name, "suppressions file"))


# -- suppressions file (named by the config's [policy] suppressions) ---------------------------

selector_values = st.one_of(st.sampled_from(["acme", "T1", "o1", "grace@example.com", "U2",
                                             "", "  "]), odd_text, toml_junk)
expiries = st.one_of(st.dates(), st.datetimes(), st.dates().map(date.isoformat),
                     st.sampled_from(["2026-13-45", "tomorrow", "", "2026-W01-1", "12:00:00"]),
                     toml_junk)
texts = st.one_of(st.sampled_from(["rotation planned", "SEC-1", "ciso@example.com"]),
                  st.just(""), odd_text, toml_junk)


@st.composite
def suppression_entries(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "rule": draw(st.one_of(st.sampled_from(RULE_IDS), st.text(max_size=10), toml_junk)),
    }
    for sel in draw(st.lists(st.sampled_from(["binding", "tenant", "workspace", "owner"]),
                             min_size=0, max_size=2, unique=True)):
        entry[sel] = draw(st.one_of(st.sampled_from(ids), selector_values))
    for key in ("reason", "ticket", "approver", "expires"):
        if draw(st.integers(0, 6)):
            entry[key] = draw(expiries if key == "expires" else texts)
    if draw(st.integers(0, 8)) == 0:
        entry[draw(st.text(min_size=1, max_size=6))] = draw(toml_junk)
    return entry


@st.composite
def suppression_files(draw: st.DrawFn, ids: list[str]) -> bytes:
    entries = draw(st.lists(suppression_entries(ids), max_size=4))
    text = "\n\n".join(table("suppressions", e, array=True) for e in entries)
    if draw(st.integers(0, 6)) == 0:
        text = draw(st.sampled_from(["suppressions = 1", "[suppressions]\nrule = 'x'",
                                     "suppressions = ['a']", "[other]\nx = 1"])) + "\n" + text
    return draw(damaged(text + "\n"))


@PROPS
@given(data=st.data())
def test_suppressions_file(inv: Populated, data: st.DataObject) -> None:
    sup = inv.path("-sup.toml")
    write_private(sup, data.draw(suppression_files(inv.ids)))
    config = inv.path(".toml")
    write_private(config, f'[policy]\nsuppressions = "{sup.name}"\n'.encode())
    inv.attempt("--config", str(config), "check", "-o", "json", names=(sup.name,))


# -- review CSV (`nhictl review apply FILE`) --------------------------------------------------

REVIEW_HEADER = ["binding_id", "decision", "reviewer", "decided_at", "justification",
                 "recommended_action", "status", "granted_scopes", "owner_email"]
header_cells = st.one_of(st.sampled_from(REVIEW_HEADER),
                         st.sampled_from(REVIEW_HEADER).map(lambda h: f" {h.upper()} "),
                         st.sampled_from(["Binding ID", "decided-at", "", "bogus"]),
                         odd_text)
decided = st.one_of(
    st.just(""), st.datetimes(min_value=datetime(2000, 1, 1)).map(datetime.isoformat),
    st.sampled_from(["2026-11-01", "2026-11-29T10:00:00Z", "0001-01-01T00:00:00+01:00",
                     "9999-12-31T23:59:59-01:00", "0999-06-01", "0001-01-01", "2099-01-01",
                     "yesterday", "2026-02-30"]),
)


@st.composite
def review_csvs(draw: st.DrawFn, ids: list[str]) -> bytes:
    header = draw(st.one_of(
        st.just(REVIEW_HEADER[:4]),
        st.permutations(REVIEW_HEADER).map(lambda h: list(h[:6])),
        st.lists(header_cells, max_size=7),
    ))
    ref = st.one_of(st.sampled_from(ids), st.sampled_from(ids).map(lambda i: i[2:8]),
                    st.sampled_from(["b-", "", "%", "_", "b-%", "'=1+1", "b-zzz"]), odd_text)
    cell = {
        "binding_id": ref,
        "decision": st.sampled_from(["keep", "Revoke", "reduce", "", "maybe", " KEEP "]),
        "reviewer": st.sampled_from(["grace", "", "'=cmd", "x" * 5000]),
        "decided_at": decided,
        "status": st.sampled_from(["", "active", "unvalidated", "expired"]),
        "granted_scopes": st.sampled_from(["", "chat:write", "chat:write;channels:read"]),
    }
    rows = []
    for _ in range(draw(st.integers(0, 5))):
        row = [draw(cell.get(h, odd_text)) for h in header]
        if draw(st.integers(0, 6)) == 0:
            row = row[: draw(st.integers(0, len(row)))] + draw(st.lists(odd_text, max_size=2))
        rows.append(row)
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=draw(st.sampled_from([",", ",", ";"])),
                        lineterminator=draw(st.sampled_from(["\n", "\r\n"])))
    writer.writerow(header)
    writer.writerows(rows)
    return draw(damaged(buf.getvalue()))


@PROPS
@given(data=st.data())
def test_review_csv(inv: Populated, data: st.DataObject) -> None:
    path = inv.path(".csv")
    write_private(path, data.draw(review_csvs(inv.ids)))
    dry = data.draw(st.booleans())
    before = inv.counts(TABLES)
    argv = ("review", "apply", str(path), *(["--dry-run"] if dry else []))
    # bad rows: the valid ones are applied (documented), unless --dry-run
    inv.attempt(*argv, names=(path.name,), partial_ok=None if dry else "bad row(s)")
    if inv.counts(TABLES) != before:
        inv.still_readable()


# -- usage events JSONL (`nhictl usage ingest FILE`) ------------------------------------------

# Well-formed events are in the past (a future "last use" is refused: it would hide dormancy).
event_times = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2026, 1, 1),
                           timezones=st.sampled_from([UTC, timezone(timedelta(hours=-11)),
                                                      timezone(timedelta(hours=5, minutes=30))]))
clean_text = st.text(st.characters(blacklist_categories=["Cs"]), max_size=12)
ACTIONS = ["message_posted", "channel_selected", "signed_in", "token_refreshed", "custom_x"]


@st.composite
def good_events(draw: st.DrawFn, ids: list[str]) -> dict[str, Any]:
    ev: dict[str, Any] = {"time": draw(event_times).isoformat(),
                          "action": draw(st.sampled_from(ACTIONS))}
    kind = draw(st.sampled_from(["binding_id", "connection_id", "token_fingerprint"]))
    ev[kind] = draw(st.sampled_from({"binding_id": [*ids, "b-unknown"],
                                     "connection_id": ["c1", "c2", "c3", "zz"],
                                     "token_fingerprint": ["hmac-sha256:00"]}[kind]))
    optional = {"channel_id": st.sampled_from(["C1", "G2"]), "private": st.booleans(),
                "scopes": st.lists(st.sampled_from(SCOPES[:4]), min_size=1, max_size=2),
                "id": st.one_of(st.integers(), clean_text),
                "source": st.sampled_from(["file:x", "nope"]),
                "note": clean_text}
    for key in draw(st.lists(st.sampled_from(sorted(optional)), max_size=3, unique=True)):
        ev[key] = draw(optional[key])
    return ev


@st.composite
def usage_files(draw: st.DrawFn, ids: list[str]) -> bytes:
    events = draw(st.lists(st.one_of(good_events(ids), good_events(ids),
                                     st.dictionaries(st.sampled_from(
                                         ["time", "action", "binding_id", "connection_id",
                                          "scopes", "private", "channel_id", "token"]),
                                         json_junk, max_size=4),
                                     json_junk), max_size=5))
    for ev in events:  # damage a field of a good event
        if isinstance(ev, dict) and ev and draw(st.integers(0, 3)) == 0:
            ev[draw(st.sampled_from(sorted(ev)))] = draw(st.one_of(
                json_junk, st.sampled_from(["0001-01-01T00:00:00+01:00", "0999-01-01",
                                            "9999-12-31T23:59:59-01:00"])))
    lines = [dump(ev) for ev in events] + draw(st.lists(st.sampled_from(["", "  ", "{"]),
                                                        max_size=1))
    return draw(damaged(draw(st.sampled_from(["\n", "\r\n", "\r"])).join(lines)))


@PROPS
@given(data=st.data())
def test_usage_jsonl(inv: Populated, data: st.DataObject) -> None:
    path = inv.path(".jsonl")
    write_private(path, data.draw(usage_files(inv.ids)))
    before = inv.counts(TABLES)
    inv.attempt("usage", "ingest", str(path), names=(path.name,))
    if inv.counts(TABLES) != before:
        inv.still_readable()


@settings(PROPS, max_examples=40)
@given(data=st.data())
def test_well_formed_usage_is_accepted(inv: Populated, data: st.DataObject) -> None:
    """Valid events (any unicode in free-text fields, any line ending) always ingest."""
    events = data.draw(st.lists(good_events(inv.ids), min_size=1, max_size=4))
    for ev in events:
        ev["note"] = data.draw(clean_text | st.sampled_from(["\u2028", "a\x85b", "\u2029\ufeff"]))
    sep = data.draw(st.sampled_from(["\n", "\r\n"]))
    bom = data.draw(st.sampled_from(["", "\ufeff"]))
    path = inv.path(".jsonl")
    write_private(path, (bom + sep.join(dump(e) for e in events) + sep).encode())
    code, head = inv.attempt("usage", "ingest", str(path), names=(path.name,))
    assert code == 0, head


# -- sandbox scenario (`nhictl sandbox slack --scenario FILE`) --------------------------------

SCENARIO_KEYS = ["teams", "users", "channels", "tokens", "latency_ms", "faults", "workos",
                 "nango", "method_latency_ms", "rate_limits", "retry_after", "slow_s",
                 "oauth_clients"]
entity = st.fixed_dictionaries({}, optional={"id": json_junk, "token": json_junk,
                                             "team_id": json_junk, "name": json_junk})
scenario_values = st.one_of(json_junk, st.lists(entity, max_size=3),
                            st.dictionaries(st.text(max_size=5), json_scalars, max_size=3),
                            st.just([["a", "b"]]), st.just(10**400), st.just("1e999"))


@st.composite
def scenarios(draw: st.DrawFn) -> bytes:
    if draw(st.integers(0, 4)) == 0:
        doc: Any = draw(json_junk)
    else:
        doc = draw(st.dictionaries(st.sampled_from(SCENARIO_KEYS), scenario_values, max_size=5))
    return draw(damaged(dump(doc)))


@PROPS
@given(data=scenarios())
def test_sandbox_scenario(tmp_path_factory: pytest.TempPathFactory, data: bytes) -> None:
    path = tmp_path_factory.mktemp("scenario") / "scenario.json"
    write_private(path, data)
    try:
        World.load(path)
    except (ValueError, KeyError, TypeError):
        pass  # what the CLI translates; the CLI itself is checked below
    else:
        return  # a loadable scenario: the CLI would serve it forever
    code, _, err = cli("sandbox", "slack", "--scenario", str(path))
    note_exit(code)
    assert code == 3, f"exit {code}: {err}"
    assert_clear_error(err, path.name)


# -- sanity: the properties can fail ----------------------------------------------------------

def test_known_bad_inputs_are_refused(inv: Populated) -> None:
    policy = inv.path(".toml")
    write_private(policy, b"[policy]\nreview_interval_days = -1\n")
    assert inv.attempt("check", "--policy", str(policy), names=(policy.name,))[0] == 3
    usage = inv.path(".jsonl")
    write_private(usage, b'{"time": "2026-01-01", "action": "x", "connection_id": "c1"}\n{')
    assert inv.attempt("usage", "ingest", str(usage), names=(usage.name,))[0] == 3
    review = inv.path(".csv")
    write_private(review, b"binding_id,decision\nb-1,keep\n")
    code, head = inv.attempt("review", "apply", str(review), names=(review.name,))
    assert code == 3 and "missing column" in head


# -- regressions found by the properties above ----------------------------------------------

def _jsonl(inv: Populated, *lines: str, bom: str = "") -> Path:
    path = inv.path(".jsonl")
    write_private(path, (bom + "\n".join(lines) + "\n").encode("utf-8", "surrogatepass"))
    return path


@pytest.mark.parametrize(("line", "says"), [
    ('{"time": "0001-01-01T00:00:00+01:00", "action": "x", "connection_id": "c1"}', "'time'"),
    ('{"time": "0999-06-01", "action": "x", "connection_id": "c1"}', "'time'"),
    ('{"time": "2026-01-01", "action": "\\ud800", "connection_id": "c1"}', "surrogate"),
    ("[" * 100_000, "nested too deeply"),
])
def test_usage_bad_line_is_exit_3(inv: Populated, line: str, says: str) -> None:
    path = _jsonl(inv, '{"time": "2026-01-01", "action": "x", "connection_id": "c1"}', line)
    code, head = inv.attempt("usage", "ingest", str(path), names=(path.name,))
    assert code == 3 and "line 2" in head and says in head, head


def test_usage_bom_and_unicode_line_separators_are_valid(inv: Populated) -> None:
    path = _jsonl(inv, '{"time": "2026-01-01", "action": "x", "connection_id": "c1", '
                       '"note": "a\u2028b\x85c"}', bom="\ufeff")
    code, out, err = cli("--db", str(inv.db), "usage", "ingest", str(path), "-o", "json")
    assert code == 0, err
    assert json.loads(out)["usage"]["events"] == 1


@pytest.mark.parametrize(("ref", "when", "says"), [
    (None, "0001-01-01T00:00:00+01:00", "out of range"),
    (None, "0999-06-01", "out of range"),
    ("x" * 70_000, "", "unknown binding"),
])
def test_review_bad_row_is_reported(inv: Populated, ref: str | None, when: str,
                                    says: str) -> None:
    path = inv.path(".csv")
    write_private(path, f"binding_id,decision,reviewer,decided_at\n"
                        f"{ref or inv.ids[0]},keep,grace,{when}\n".encode())
    before = inv.counts(TABLES)
    code, _, err = cli("-q", "--db", str(inv.db), "review", "apply", str(path))
    assert code == 3, err
    assert "line 2" in err and says in err and "Traceback" not in err
    assert inv.counts(TABLES) == before  # the only row was bad: nothing applied
    inv.still_readable()


@pytest.mark.parametrize("escaped", ["\\u0000", "\\n"])
def test_policy_suppressions_path_with_control_char_is_exit_3(inv: Populated,
                                                             escaped: str) -> None:
    path = inv.path(".toml")
    write_private(path, f'[policy]\nsuppressions = "a{escaped}b.toml"\n'.encode())
    code, head = inv.attempt("check", "--policy", str(path), names=(path.name,))
    assert code == 3 and "policy.suppressions" in head, head


@pytest.mark.parametrize("doc", [
    "[1, 2]", "null", '{"teams": null}', '{"method_latency_ms": [1]}',
    '{"latency_ms": 1' + "0" * 400 + "}", "[" * 100_000,
])
def test_sandbox_scenario_junk_is_exit_3(tmp_path: Path, doc: str) -> None:
    path = tmp_path / "scenario.json"
    write_private(path, doc.encode())
    with pytest.raises((ValueError, KeyError, TypeError)):  # what the CLI translates
        World.load(path)
    code, _, err = cli("sandbox", "slack", "--scenario", str(path))
    assert code == 3, err
    assert_clear_error(err, path.name)
