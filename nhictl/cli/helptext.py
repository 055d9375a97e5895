"""Help texts without internal type names.

typer prints every positional argument with its Python type (``ID <list[str]>``,
``FILE <file>``); the argument's own name and help say what it is, so the type is left out.
Options name their value with a metavar (``--out FILE``) where they take one.
"""

from __future__ import annotations

from typing import Any


def hide_argument_types(command: Any) -> Any:
    """Walk the click command tree; arguments show their name only. Returns ``command``."""
    for param in getattr(command, "params", []):
        if getattr(param, "param_type_name", "") == "argument":
            # An instance attribute shadows typer's method for this parameter only.
            param.display_type_rich = _no_type
    for sub in (getattr(command, "commands", None) or {}).values():
        hide_argument_types(sub)
    return command


def _no_type(ctx: Any = None) -> None:
    return None
