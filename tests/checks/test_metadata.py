"""Rule metadata: unique ids, titles, remediation, and the framework mapping of rules.md."""

from __future__ import annotations

from nhictl.checks import FRAMEWORKS, all_rules, select_rules
from nhictl.errors import UsageError
from nhictl.models import Severity

# Copied verbatim from the framework mapping table of shared/reference/rules.md (the reference);
# scope_lookalike was added by issue 11 (class 8); the last three (the Slack-side ledger) by
# issue 14.
RULES_MD_MAPPING = """
| rule_id | OWASP NHI 2025 | NIST CSF 2.0 | SP 800-53 r5 | CIS v8 |
|---|---|---|---|---|
| `scope_exceeds_purpose` | NHI5:2025 | PR.AA-05 | AC-6, AC-6(7) | 6.8 |
| `privileged_scope` | NHI5:2025 | PR.AA-05 | AC-6(5), AC-2(7) | 5.4 |
| `legacy_scope` | NHI4:2025 | PR.AA-03 | IA-5 | — |
| `scope_lookalike` | NHI5:2025 | PR.AA-05, DE.CM-09 | AC-6, SI-10 | — |
| `purpose_undeclared` | NHI5:2025 | PR.AA-05, ID.AM-02 | AC-6 | 5.5 |
| `owner_missing` | NHI1:2025 | PR.AA-01, ID.AM-02 | AC-2 | 5.5 |
| `owner_offboarded` | NHI1:2025 | PR.AA-01 | AC-2(3) | 6.2 |
| `dead_token_retained` | NHI1:2025 | PR.AA-01 | AC-2(3), IA-5 | 5.3 |
| `validation_stale` | NHI7:2025 | DE.CM-03 | AC-2 | 5.1 |
| `token_never_expires` | NHI7:2025 | PR.AA-01 | IA-5 | — |
| `discovery_scope_retained` | NHI5:2025 | PR.AA-05 | AC-6 | 6.8 |
| `scope_expanded` | NHI5:2025 | PR.AA-05, DE.CM-03 | AC-6(7), AC-2(12) | — |
| `identity_mismatch` | NHI9:2025 | PR.AA-03 | IA-5 | — |
| `token_shared` | NHI9:2025 | PR.AA-01 | IA-5 | 5.5 |
| `cross_tenant_workspace` | NHI8:2025 | PR.AA-05 | AC-6 | — |
| `source_stale` | NHI1:2025 | ID.AM-02 | AC-2 | 5.1 |
| `review_overdue` | NHI1:2025 | PR.AA-05 | AC-6(7), AC-2 | 5.1 |
| `dormant_binding` | NHI1:2025 | DE.CM-03 | AC-2(3) | 5.3 |
| `token_store_exposed` | NHI2:2025 | PR.DS-01 | SC-28, AC-3 | 3.3 |
| `suppression_expired` | — | PR.AA-05 | AC-6(7) | — |
| `grant_unaccounted` | NHI1:2025, NHI2:2025 | ID.AM-02, PR.AA-01 | AC-2, CM-8 | 5.5 |
| `uninstalled_still_held` | NHI1:2025 | ID.AM-02 | AC-2, AC-2(3) | 5.1 |
| `installer_departed` | NHI1:2025 | PR.AA-01 | AC-2, AC-2(3) | 6.2 |

"""

DEFAULT_SEVERITY = {
    "scope_exceeds_purpose": "medium", "privileged_scope": "high", "legacy_scope": "high",
    "scope_lookalike": "high",
    "purpose_undeclared": "medium", "owner_missing": "high", "owner_offboarded": "critical",
    "dead_token_retained": "medium", "validation_stale": "low", "token_never_expires": "low",
    "discovery_scope_retained": "medium", "scope_expanded": "high",
    "identity_mismatch": "critical", "token_shared": "critical",
    "cross_tenant_workspace": "high", "review_overdue": "medium", "dormant_binding": "medium",
    "suppression_expired": "low", "source_stale": "medium", "token_store_exposed": "high",
    "grant_unaccounted": "critical", "uninstalled_still_held": "high",
    "installer_departed": "high",
}


def _mapping() -> dict[str, dict[str, list[str]]]:
    out = {}
    for line in RULES_MD_MAPPING.strip().splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rule_id = cells[0].strip("`")
        out[rule_id] = {
            fw: [] if cell == "—" else [p.strip() for p in cell.split(",")]
            for fw, cell in zip(FRAMEWORKS, cells[1:], strict=True)
        }
    return out


def test_ids_unique_and_complete() -> None:
    ids = [r.id for r in all_rules()]
    assert len(ids) == len(set(ids))
    assert set(ids) == set(_mapping()) == set(DEFAULT_SEVERITY)


def test_every_rule_has_title_rationale_remediation() -> None:
    for rule in all_rules():
        assert rule.title and len(rule.title) <= 100, rule.id
        assert rule.rationale.strip(), rule.id
        assert rule.remediation.strip(), rule.id
        assert rule.severity == Severity(DEFAULT_SEVERITY[rule.id]), rule.id


def test_framework_mapping_matches_rules_md() -> None:
    mapping = _mapping()
    for rule in all_rules():
        assert rule.frameworks == mapping[rule.id], rule.id
        for fw in FRAMEWORKS:
            if mapping[rule.id][fw]:
                assert rule.frameworks[fw], (rule.id, fw)


def test_select_rules_keeps_catalog_order_and_rejects_unknown() -> None:
    picked = select_rules(["token_shared", "owner_missing"])
    assert [r.id for r in picked] == ["owner_missing", "token_shared"]
    assert len(select_rules(None)) == len(all_rules())
    try:
        select_rules(["owner_mising"])
    except UsageError as exc:
        assert exc.exit_code == 2
        assert exc.hint is not None and "owner_missing" in exc.hint
    else:
        raise AssertionError("unknown rule accepted")
