"""Published JSON Schemas of nhictl's inputs and machine outputs (package data).

``nhictl schema`` lists them; ``nhictl schema NAME`` prints one. Each file is
``NAME.schema.json``; its ``title`` is the one-line description the listing shows. The
tests validate fixtures and every command's JSON output against these files, so a change of
shape is a change here first.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any

SUFFIX = ".schema.json"


def names() -> list[str]:
    """Every published schema, sorted."""
    files = resources.files(__name__).iterdir()
    return sorted(f.name[: -len(SUFFIX)] for f in files if f.name.endswith(SUFFIX))


def text(name: str) -> str:
    """The schema file as published (KeyError for an unknown name)."""
    if name not in names():
        raise KeyError(name)
    return resources.files(__name__).joinpath(name + SUFFIX).read_text(encoding="utf-8")


def load(name: str) -> dict[str, Any]:
    schema: dict[str, Any] = json.loads(text(name))
    return schema
