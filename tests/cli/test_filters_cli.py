"""Issue 12 point 2: the same filters on every list-like command, --sort, --split-by."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from tests.cli.test_foundation_cli import conn_ids, listing, sample  # noqa: F401 (fixture)
from tests.conftest import Cli, sample_records

ACME_T2 = {r["id"] for r in sample_records()
           if r["tenant"] == "acme" and r["team_id"] == "T0ACME002"}


def test_inventory_list_repeated_or_different_and_case_insensitive(
    cli: Cli, sample: Path  # noqa: F811
) -> None:
    both = {r["id"] for r in sample_records() if r["tenant"] in ("acme", "globex")}
    assert conn_ids(listing(cli, "--tenant", "ACME", "--tenant", "globex")) == both
    assert conn_ids(listing(cli, "--tenant", "acme", "--workspace", "t0acme002")) == ACME_T2
    source = listing(cli)[0]["source"]  # file:<real path>
    assert conn_ids(listing(cli, "--source", source.upper(), "--tenant", "initech")) == {
        r["id"] for r in sample_records() if r["tenant"] == "initech"}
    assert listing(cli, "--source", "other") == []
    owners = [r["owner_email"] for r in listing(cli, "--tenant", "acme", "--sort",
                                                "-owner_email")]
    assert owners == sorted(owners, reverse=True)
    bad = cli("inventory", "list", "--sort", "colour")
    assert bad.code == 2 and "not a field to sort by" in bad.err


def test_check_events_evidence_and_packet_take_the_same_filters(
    cli: Cli, sample: Path  # noqa: F811
) -> None:
    ids = {r["connection_id"]: r["id"] for r in listing(cli)}
    acme_t2 = {ids[c] for c in ACME_T2}
    found = cli("check", "-o", "json", "--tenant", "acme", "--workspace", "T0ACME002")
    assert found.code == 0, found
    findings = found.json()["findings"]
    assert findings and {f["binding_id"] for f in findings} <= acme_t2
    only = cli("check", "-o", "json", "--tenant", "acme", "--rule", "LEGACY_SCOPE")
    assert {f["rule_id"] for f in only.json()["findings"]} == {"legacy_scope"}

    events = cli("events", "-o", "json", "--tenant", "acme", "--workspace", "T0ACME002")
    assert events.code == 0, events
    assert {e["binding_id"] for e in events.json()["events"]} == acme_t2

    packet = cli("report", "access-review", "-o", "json", "--tenant", "Acme",
                 "--workspace", "T0ACME002")
    assert packet.code == 0, packet
    assert {r["binding_id"] for r in packet.json()["bindings"]} == acme_t2
    assert packet.json()["summary"]["bindings"] == len(acme_t2)
    by_rule = cli("report", "access-review", "-o", "json", "--rule", "legacy_scope")
    assert [r["connection_id"] for r in by_rule.json()["bindings"]] == ["conn-0051"]

    evidence = cli("report", "evidence", "-o", "json", "--tenant", "acme",
                   "--workspace", "T0ACME002")
    assert evidence.code == 0, evidence
    assert {o["binding_id"] for o in evidence.json()["open"]} == acme_t2


def test_split_by_tenant_writes_one_packet_each_and_an_index(
    cli: Cli, sample: Path, tmp_path: Path  # noqa: F811
) -> None:
    out = tmp_path / "packets"
    result = cli("report", "access-review", "--split-by", "tenant", "--out", str(out))
    assert result.code == 0, result
    names = sorted(p.name for p in out.iterdir())
    assert names == ["access-review-acme.csv", "access-review-globex.csv",
                     "access-review-initech.csv", "index.csv"]
    index = list(csv.DictReader(io.StringIO((out / "index.csv").read_text())))
    for row in index:
        packet = list(csv.DictReader(io.StringIO((out / row["file"]).read_text())))
        assert {p["tenant"] for p in packet} == {row["tenant"]}
        assert len(packet) == int(row["bindings"])
    assert sum(int(r["bindings"]) for r in index) == len(sample_records())
    owners = cli("report", "access-review", "-o", "html", "--split-by", "owner",
                 "--tenant", "initech", "--out", str(tmp_path / "by-owner"))
    assert owners.code == 0, owners
    assert (tmp_path / "by-owner" / "access-review-ada.lamarr@initech.example.html").is_file()
    assert (tmp_path / "by-owner" / "index.html").is_file()
    assert cli("report", "access-review", "--split-by", "tenant").code == 2


@pytest.mark.engine_neutral("argument validation")
@pytest.mark.parametrize("args", [["--status", "alive"], ["--sort", "nope"]])
def test_bad_filter_values_are_usage_errors(cli: Cli, sample: Path,  # noqa: F811
                                            args: list[str]) -> None:
    for command in (["inventory", "list"], ["report", "access-review"]):
        result = cli(*command, *args)
        assert result.code == 2, result
        assert "Traceback" not in result.err


def test_show_by_connection_id_fingerprint_and_hash_lookup(
    cli: Cli, initialized: Path, tmp_path: Path
) -> None:
    import secrets

    from tests.conftest import write_export

    shared = "xoxp-fake-" + secrets.token_hex(12)
    own = "xoxp-fake-" + secrets.token_hex(12)
    recs = [{"id": "c-1", "tenant": "acme", "owner_email": "a@acme.example",
             "team_id": "T1", "access_token": shared},
            {"id": "c-2", "tenant": "acme", "owner_email": "b@acme.example",
             "team_id": "T1", "access_token": shared},
            {"id": "c-3", "tenant": "globex", "team_id": "T2", "access_token": own}]
    write_export(tmp_path / "one.json", recs)
    write_export(tmp_path / "two.json", [{"id": "c-3", "tenant": "initech", "team_id": "T3"}])
    for name in ("one.json", "two.json"):
        assert cli("reconcile", "--no-validate", "--source", f"file:{name}").code == 0
    ids = {(r["source"].rsplit("/", 1)[-1], r["connection_id"]): r["id"]
           for r in listing(cli)}

    def shown(*args: str) -> str:
        result = cli("inventory", "show", *args, "-o", "json")
        assert result.code == 0, result
        return str(result.json()["binding"]["id"])

    assert shown("c-1") == ids[("one.json", "c-1")]
    assert shown(ids[("one.json", "c-1")][:7]) == ids[("one.json", "c-1")]
    ambiguous = cli("inventory", "show", "c-3")
    assert ambiguous.code == 2 and "--source" in ambiguous.err
    two = next(r["source"] for r in listing(cli) if r["source"].endswith("two.json"))
    assert shown("c-3", "--source", two.upper()) == ids[("two.json", "c-3")]
    fp_own = cli("hash", stdin=own).out.strip()
    assert shown(fp_own) == ids[("one.json", "c-3")]

    lookup = cli("hash", "--lookup", stdin=shared + "\n")
    assert lookup.code == 0, lookup
    assert ids[("one.json", "c-1")] in lookup.out
    assert ids[("one.json", "c-2")] in lookup.out
    assert ids[("one.json", "c-3")] not in lookup.out
    assert shared not in lookup.output and "held by 2 binding(s)" in lookup.err
    fp_shared = cli("hash", stdin=shared).out.strip()
    two = cli("inventory", "show", fp_shared)
    assert two.code == 2 and "2 bindings hold" in two.err
    none = cli("hash", "--lookup", stdin="xoxp-fake-" + secrets.token_hex(12))
    assert none.code == 1 and none.out == ""


def test_events_and_evidence_take_sort(cli: Cli, sample: Path) -> None:  # noqa: F811
    seqs = [e["seq"] for e in cli("events", "-o", "json", "--sort", "-seq").json()["events"]]
    assert len(seqs) > 10 and seqs == sorted(seqs, reverse=True)  # by number, not text
    types = [e["type"] for e in cli("events", "-o", "json", "--sort", "type").json()["events"]]
    assert types == sorted(types)
    bad = cli("events", "--sort", "details")
    assert bad.code == 2 and "not a field to sort by" in bad.err

    ev = cli("report", "evidence", "-o", "json", "--sort", "-owner").json()
    owners = [o["owner"] for o in ev["open"]]
    named = sorted((o for o in owners if o), key=str.casefold, reverse=True)
    assert len(set(named)) > 1 and owners == named + [None] * (len(owners) - len(named))
    assert ev["counts"]["open"] == len(ev["open"])
    bad = cli("report", "evidence", "--sort", "revoked_at")
    assert bad.code == 2 and "binding_id, tenant, owner" in bad.err
