from __future__ import annotations

from pathlib import Path

import pytest

from nhictl.catalog import load_catalog
from nhictl.checks import (
    RULE_IDS,
    Snapshot,
    evaluate,
    fail_exit_code,
    load_suppressions,
    select_rules,
)
from nhictl.errors import ConfigError
from nhictl.models import Severity
from nhictl.policy import Policy
from tests.checks.helpers import NOW, clean

NEVER = clean(token_expires_at=None)  # token_never_expires (low)
OFFBOARDED = clean(id="b-00000000ff", connection_id="c9", owner_status="deactivated",
                   owner_email="leaver@example.com", tenant="globex",
                   token_fingerprint="hmac-sha256:00000000000000ff")


def write(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "suppressions.toml"
    p.write_text(body, encoding="utf-8")
    return p


def entry(selector: str, rule: str = "token_never_expires", expires: str = "2026-12-31") -> str:
    return (f'[[suppressions]]\nrule = "{rule}"\n{selector}\nreason = "rotation in Q3"\n'
            f'ticket = "SEC-1"\napprover = "ciso@example.com"\nexpires = {expires}\n')


def check(tmp_path: Path, body: str, *bindings: object) -> list:  # type: ignore[type-arg]
    sups = load_suppressions(write(tmp_path, body), RULE_IDS)
    snap = Snapshot(bindings=tuple(bindings) or (NEVER, OFFBOARDED))  # type: ignore[arg-type]
    rules = select_rules(["token_never_expires", "owner_offboarded", "suppression_expired"])
    return evaluate(snap, Policy(), load_catalog(), NOW, rules=rules, suppressions=sups)


@pytest.mark.parametrize("selector", [
    'binding = "b-0000000001"', 'tenant = "acme"',
    'workspace = "T1"', 'workspace = "acme"', 'owner = "GRACE@example.com"', 'owner = "U1"',
])
def test_selector_hides_only_matching_finding(tmp_path: Path, selector: str) -> None:
    found = check(tmp_path, entry(selector), NEVER, clean(**{
        "id": "b-0000000002", "connection_id": "c2", "tenant": "globex", "workspace_id": "T2",
        "workspace_name": "Globex", "owner_id": "u2", "owner_email": "bob@example.com",
        "slack_user_id": "U2", "token_expires_at": None}))
    by_id = {f.binding_id: f for f in found if f.rule_id == "token_never_expires"}
    assert by_id["b-0000000001"].suppressed
    assert by_id["b-0000000001"].suppression["ticket"] == "SEC-1"
    assert not by_id["b-0000000002"].suppressed


def test_binding_selector_needs_the_full_id(tmp_path: Path) -> None:
    found = check(tmp_path, entry('binding = "b-000000000"'))
    assert not next(f for f in found if f.rule_id == "token_never_expires").suppressed


def test_suppression_is_per_rule(tmp_path: Path) -> None:
    found = check(tmp_path, entry('binding = "b-00000000ff"'))
    off = next(f for f in found if f.rule_id == "owner_offboarded")
    assert not off.suppressed


def test_suppressed_findings_never_fail(tmp_path: Path) -> None:
    body = entry('tenant = "globex"', rule="owner_offboarded")
    found = check(tmp_path, body)
    assert fail_exit_code(found, Severity.CRITICAL) == 0
    assert fail_exit_code(found, Severity.LOW) == 1  # token_never_expires is not suppressed
    assert fail_exit_code(found, None) == 0
    assert fail_exit_code(check(tmp_path, entry('tenant = "acme"')), Severity.CRITICAL) == 1


def test_expired_suppression_stops_hiding_and_raises_finding(tmp_path: Path) -> None:
    found = check(tmp_path, entry('binding = "b-0000000001"', expires="2026-05-31"))
    never = next(f for f in found if f.rule_id == "token_never_expires")
    assert not never.suppressed
    (exp,) = [f for f in found if f.rule_id == "suppression_expired"]
    assert exp.binding_id == "b-0000000001"
    assert exp.severity == Severity.LOW
    assert exp.evidence["now_unhidden"] == ["b-0000000001"]
    assert "SEC-1" in exp.message


def test_suppression_valid_through_its_expiry_day(tmp_path: Path) -> None:
    found = check(tmp_path, entry('binding = "b-0000000001"', expires="2026-06-01"))
    assert all(f.rule_id != "suppression_expired" for f in found)
    assert next(f for f in found if f.rule_id == "token_never_expires").suppressed


@pytest.mark.parametrize(("body", "needle"), [
    ('[[suppressions]]\nrule = "nope"\ntenant = "a"\nreason = "r"\nticket = "t"\n'
     'approver = "a"\nexpires = 2026-01-01\n', "#1.rule"),
    (entry('tenant = "a"\nowner = "b"'), "exactly one selector"),
    (entry('tenant = "a"').replace('ticket = "SEC-1"\n', ""), "#1.ticket"),
    (entry('tenant = "a"').replace("expires = 2026-12-31\n", ""), "#1.expires"),
    (entry('tenant = "a"', expires='"soon"'), "#1.expires"),
    (entry('tenant = "a"') + entry('tenant = ""'), "#2.tenant"),
    (entry('tenant = "a"', rule="suppression_expired"), "#1.rule"),
    ("[[suppressions]\n", "invalid TOML"),
])
def test_invalid_file_names_file_entry_and_key(tmp_path: Path, body: str, needle: str) -> None:
    path = write(tmp_path, body)
    with pytest.raises(ConfigError) as err:
        load_suppressions(path, RULE_IDS)
    assert str(path) in str(err.value)
    assert needle in str(err.value)
    assert err.value.exit_code == 3
