"""What the SARIF and OCSF exporters need beyond a finding's row: the rule catalog, the
bindings the findings name, and the mappings both formats share (severity, fingerprint,
framework names)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from nhictl.errors import UsageError
from nhictl.exporters.base import Document
from nhictl.untrusted import mask_record

PRODUCT = "nhictl"
VENDOR = "nhictl project"
# No project site is published yet; the package index page is where the tool is described.
INFORMATION_URI = "https://pypi.org/project/nhictl/"

# The framework mapping every rule carries, by the key nhictl uses:
# (tag prefix, standard, prefix that makes a control id unambiguous: "CIS v8 6.2").
FRAMEWORK_NAMES: dict[str, tuple[str, str, str]] = {
    "owasp_nhi": ("owasp-nhi", "OWASP Top 10 Non-Human Identities Risks 2025", "OWASP"),
    "nist_csf": ("nist-csf", "NIST Cybersecurity Framework 2.0", "NIST CSF"),
    "nist_800_53": ("nist-800-53", "NIST SP 800-53 Rev. 5", "NIST SP 800-53"),
    "cis_v8": ("cis-v8", "CIS Critical Security Controls v8", "CIS v8"),
}

# GitHub code scanning reads security-severity as a CVSS-like score: over 9.0 critical,
# 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low.
SECURITY_SEVERITY = {"critical": "9.5", "high": "8.0", "medium": "5.5", "low": "3.0",
                     "info": "0.0"}


@dataclass(frozen=True)
class FindingContext:
    """``rules``: ``Rule.as_dict()`` of every rule (the run's catalog, in order).
    ``bindings``: loads ``{binding id: binding row}`` for the bindings the findings name;
    called once, only by the formats that need it (a table never loads them)."""

    rules: list[dict[str, Any]]
    bindings: Callable[[Iterable[str]], Mapping[str, Mapping[str, Any]]]
    version: str


def finding_context(doc: Document, fmt: str) -> FindingContext:
    if doc.kind != "findings" or not isinstance(doc.context, FindingContext):
        raise UsageError(f"-o {fmt} is only for `nhictl check` findings")
    return doc.context


@dataclass(frozen=True)
class MaskedFindings:
    """The document's findings, the bindings they name and the rules, each masked once
    (``untrusted.mask_record``): what the exporters assemble around them is nhictl's own
    constants and hashes, so nothing else needs masking (100,000 findings stay fast)."""

    findings: list[dict[str, Any]]
    bindings: dict[str, dict[str, Any]]
    rules: list[dict[str, Any]]


def masked_findings(doc: Document, ctx: FindingContext) -> MaskedFindings:
    findings = []
    for row in doc.rows:
        # The identity is hashed before masking: the hash is stable whatever masking does.
        findings.append({**mask_record(row), "stable_id": stable_id(row["fingerprint"])})
    named = ctx.bindings({str(f["binding_id"]) for f in findings if f.get("binding_id")})
    return MaskedFindings(findings, {k: mask_record(dict(v)) for k, v in named.items()},
                          [mask_record(dict(r)) for r in ctx.rules])


def stable_id(fingerprint: str) -> str:
    """A finding's identity across runs, hashed: rule, binding and discriminator, never a
    token (the discriminator names scopes or a store file, and is hashed all the same)."""
    return hashlib.sha256(f"nhictl-finding:{fingerprint}".encode()).hexdigest()


def epoch_ms(stamp: str | None) -> int | None:
    """``2026-11-29T19:41:14Z`` (or any ISO form nhictl stores) as Unix milliseconds."""
    if not stamp:
        return None
    try:
        parsed = datetime.fromisoformat(stamp.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return int(parsed.timestamp() * 1000)


def framework_tags(frameworks: Mapping[str, Iterable[str]]) -> list[str]:
    """``owasp-nhi/NHI5``-style tags, one per mapped control."""
    return [f"{FRAMEWORK_NAMES[k][0]}/{c}" for k in FRAMEWORK_NAMES
            for c in frameworks.get(k, ())]


def requirements(frameworks: Mapping[str, Iterable[str]]) -> list[str]:
    """``NIST SP 800-53 AC-6``-style control names, one per mapped control."""
    return [f"{FRAMEWORK_NAMES[k][2]} {c}" for k in FRAMEWORK_NAMES
            for c in frameworks.get(k, ())]
