"""The filter options every list-like command takes (one definition; see nhictl/filters.py)."""

from __future__ import annotations

from typing import Annotated

import typer

from nhictl.filters import Filters

_MATCH = " Repeatable (any of them); case-insensitive, whole value."

TenantOpt = Annotated[list[str] | None, typer.Option(
    "--tenant", metavar="TENANT", help="Only this tenant." + _MATCH)]
OwnerOpt = Annotated[list[str] | None, typer.Option(
    "--owner", metavar="OWNER", help="Only this owner: id, email, name or Slack user id."
    + _MATCH)]
WorkspaceOpt = Annotated[list[str] | None, typer.Option(
    "--workspace", metavar="WORKSPACE", help="Only this workspace: team id or name." + _MATCH)]
SourceOpt = Annotated[list[str] | None, typer.Option(
    "--source", metavar="SOURCE", help="Only bindings from this source (its name)." + _MATCH)]
StatusOpt = Annotated[list[str] | None, typer.Option(
    "--status", metavar="STATUS", help="Only this status (active, unvalidated, expired, "
    "needs_reconnect, removed, revoked)." + _MATCH)]
ScopeOpt = Annotated[list[str] | None, typer.Option(
    "--scope", metavar="SCOPE", help="Only bindings holding this scope." + _MATCH)]
RuleOpt = Annotated[list[str] | None, typer.Option(
    "--rule", "-r", metavar="RULE", help="Only this rule (repeatable).")]
SortOpt = Annotated[str | None, typer.Option(
    "--sort", metavar="FIELD", help="Order by this field (prefix - for descending).")]


def filters(tenant: list[str] | None = None, owner: list[str] | None = None,
            workspace: list[str] | None = None, source: list[str] | None = None,
            status: list[str] | None = None, scope: list[str] | None = None,
            rule: list[str] | None = None) -> Filters:
    return Filters.of(tenant=tenant, owner=owner, workspace=workspace, source=source,
                      status=status, scope=scope, rule=rule)
