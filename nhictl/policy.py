"""Purposes and policy thresholds: built-in defaults, overridden by config or ``--policy``.

A purpose names why a binding exists and which scopes it may hold. ``transient`` marks a
purpose needed only for a moment (channel discovery): once a channel is chosen its scopes
should be dropped. Config purposes are merged over the defaults by name (a purpose defined in
the config replaces the default of the same name whole).

Input tables are the raw ``[policy]`` and ``[purposes]`` TOML tables. Malformed input raises
:class:`~nhictl.errors.ConfigError` naming the file and key; an unknown scope name is only a
warning (returned as text, with the closest catalog name), since Slack adds scopes.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from nhictl.catalog.loader import Catalog, load_catalog
from nhictl.errors import ConfigError
from nhictl.tomlfile import read_toml

# Thresholds are days; beyond a century they are a typo (and overflow date arithmetic).
MAX_THRESHOLD_DAYS = 36500
THRESHOLDS: dict[str, int] = {
    "max_validation_age_days": 7,
    "review_interval_days": 90,
    "dead_credential_grace_days": 7,
    "dormant_after_days": 45,
    "source_stale_after_days": 14,
}


@dataclass(frozen=True)
class Purpose:
    name: str
    scopes: frozenset[str]
    transient: bool = False
    description: str = ""
    # The purpose exists to hold the privileged scopes it lists (nhictl's own audit-log
    # token needs auditlogs:read): privileged_scope does not flag those; any scope beyond
    # them is still scope_exceeds_purpose, and any other privileged scope still flagged.
    privileged: bool = False

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "scopes": sorted(self.scopes),
            "transient": self.transient,
            "description": self.description,
            "privileged": self.privileged,
        }


DEFAULT_PURPOSES: dict[str, Purpose] = {
    p.name: p
    for p in (
        Purpose(
            "notifications",
            frozenset({"chat:write", "incoming-webhook"}),
            description="post notifications to a chosen channel (chat:write, or an incoming "
            "webhook alone)",
        ),
        Purpose(
            "channel-selection",
            frozenset({"channels:read", "groups:read"}),
            transient=True,
            description="let the user pick a channel; groups:read only if private channels "
            "must be selectable",
        ),
        Purpose(
            "sign-in",
            frozenset({"openid", "email", "profile"}),
            description="Sign in with Slack (OpenID Connect)",
        ),
        Purpose(
            "direct-messages",
            frozenset({"chat:write", "im:write"}),
            description="send direct messages",
        ),
        Purpose(
            "custom-identity",
            frozenset({"chat:write", "chat:write.customize"}),
            description="post with a custom name and icon (bot tokens)",
        ),
        # nhictl's own credentials (the built-in source ``nhictl``), one purpose per job.
        Purpose(
            "nhictl-audit-logs",
            frozenset({"auditlogs:read"}),
            description="nhictl reads the Enterprise Grid audit logs ([[ledgers]] slack-audit)",
            privileged=True,
        ),
        Purpose(
            "nhictl-integration-logs",
            frozenset({"admin"}),
            description="nhictl reads team.integrationLogs ([[ledgers]] "
            "slack-integration-logs; Slack requires the admin scope)",
            privileged=True,
        ),
        Purpose(
            "nhictl-directory",
            frozenset({"users:read"}),
            description="nhictl looks owners and installers up with users.info ([[ledgers]] "
            "slack-directory)",
        ),
        Purpose(
            "nhictl-notify",
            frozenset({"chat:write"}),
            description="nhictl posts its alerts to a channel ([[notify]] slack)",
        ),
    )
}


@dataclass(frozen=True)
class Policy:
    purposes: dict[str, Purpose] = field(default_factory=lambda: dict(DEFAULT_PURPOSES))
    max_validation_age_days: int = THRESHOLDS["max_validation_age_days"]
    review_interval_days: int = THRESHOLDS["review_interval_days"]
    dead_credential_grace_days: int = THRESHOLDS["dead_credential_grace_days"]
    dormant_after_days: int = THRESHOLDS["dormant_after_days"]
    source_stale_after_days: int = THRESHOLDS["source_stale_after_days"]
    suppressions_path: Path | None = None
    origin: str = "built-in defaults"

    def allowed_scopes(self, purposes: list[str]) -> frozenset[str]:
        allowed: set[str] = set()
        for name in purposes:
            purpose = self.purposes.get(name)
            if purpose is not None:
                allowed |= purpose.scopes
        return frozenset(allowed)

    def expected_privileged(self, purposes: list[str]) -> frozenset[str]:
        """Scopes that ``privileged`` purposes among these exist to hold."""
        out: set[str] = set()
        for name in purposes:
            purpose = self.purposes.get(name)
            if purpose is not None and purpose.privileged:
                out |= purpose.scopes
        return frozenset(out)

    def purposes_allowing(self, scope: str) -> list[str]:
        return sorted(n for n, p in self.purposes.items() if scope in p.scopes)


def _scope_list(value: object, where: str, origin: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) and s.strip() for s in value):
        raise ConfigError(f"{origin}: {where} must be a list of scope names")
    return [s.strip() for s in value]


def _parse_purposes(
    table: object, origin: str, catalog: Catalog, warnings: list[str]
) -> dict[str, Purpose]:
    if not isinstance(table, dict):
        raise ConfigError(f"{origin}: [purposes] must be a table of purpose tables")
    out: dict[str, Purpose] = {}
    for name, body in table.items():
        key = f"purposes.{name}"
        if not isinstance(body, dict):
            raise ConfigError(f"{origin}: {key} must be a table (scopes = [...])")
        unknown = set(body) - {"scopes", "transient", "description", "privileged"}
        if unknown:
            raise ConfigError(f"{origin}: {key}.{sorted(unknown)[0]} is not a known key")
        if "scopes" not in body:
            raise ConfigError(f"{origin}: {key}.scopes is required")
        scopes = _scope_list(body["scopes"], f"{key}.scopes", origin)
        transient = body.get("transient", False)
        if not isinstance(transient, bool):
            raise ConfigError(f"{origin}: {key}.transient must be true or false")
        description = body.get("description", "")
        if not isinstance(description, str):
            raise ConfigError(f"{origin}: {key}.description must be a string")
        privileged = body.get("privileged", False)
        if not isinstance(privileged, bool):
            raise ConfigError(f"{origin}: {key}.privileged must be true or false")
        for scope in scopes:
            if scope not in catalog:
                guess = catalog.suggest(scope)
                tip = f"; did you mean {guess!r}?" if guess else ""
                warnings.append(f"{origin}: {key}.scopes: unknown Slack scope {scope!r}{tip}")
        out[str(name)] = Purpose(str(name), frozenset(scopes), transient, description,
                                 privileged)
    return out


def build_policy(
    policy_table: dict[str, Any] | None,
    purposes_table: dict[str, Any] | None,
    *,
    path: str | Path | None = None,
    catalog: Catalog | None = None,
) -> tuple[Policy, list[str]]:
    """A policy from raw ``[policy]`` and ``[purposes]`` tables, and its warnings.

    ``path`` is the file they came from: used in messages, and relative ``suppressions``
    paths resolve against its directory.
    """
    catalog = catalog or load_catalog()
    if path is not None:
        origin = str(path)
    else:
        empty = policy_table is None and purposes_table is None
        origin = "built-in defaults" if empty else "policy"
    warnings: list[str] = []
    policy = Policy(origin=origin)
    if policy_table is not None:
        if not isinstance(policy_table, dict):
            raise ConfigError(f"{origin}: [policy] must be a table")
        values: dict[str, Any] = {}
        for key, value in policy_table.items():
            if key in THRESHOLDS:
                if isinstance(value, bool) or not isinstance(value, int) or \
                        not 0 <= value <= MAX_THRESHOLD_DAYS:
                    raise ConfigError(
                        f"{origin}: policy.{key} must be a whole number of days from 0 to "
                        f"{MAX_THRESHOLD_DAYS}"
                    )
                values[key] = value
            elif key == "suppressions":
                if (not isinstance(value, str) or not value.strip()
                        or any(ord(c) < 32 for c in value)):  # NUL, a newline: a mistake
                    raise ConfigError(f"{origin}: policy.suppressions must be a file path")
                sup = Path(value).expanduser()
                if not sup.is_absolute() and path is not None:
                    sup = Path(path).parent / sup
                values["suppressions_path"] = sup
            else:
                raise ConfigError(f"{origin}: policy.{key} is not a known key")
        policy = replace(policy, **values)
    if purposes_table is not None:
        merged = dict(DEFAULT_PURPOSES)
        merged.update(_parse_purposes(purposes_table, origin, catalog, warnings))
        policy = replace(policy, purposes=merged)
    return policy, warnings


def load_policy_file(
    path: str | Path, *, catalog: Catalog | None = None
) -> tuple[Policy, list[str]]:
    """A ``--policy FILE``: TOML with the same ``[policy]`` and ``[purposes]`` tables."""
    p = Path(path)
    data = read_toml(p, "policy file")
    unknown = set(data) - {"policy", "purposes"}
    if unknown:
        raise ConfigError(f"{p}: [{sorted(unknown)[0]}] is not a policy table")
    return build_policy(data.get("policy"), data.get("purposes"), path=p, catalog=catalog)
