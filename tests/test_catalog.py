from __future__ import annotations

import csv
from importlib import resources

import pytest

from nhictl.catalog import COLUMNS, load_catalog
from nhictl.errors import UsageError
from nhictl.models import Severity


def test_catalog_loads_every_reference_scope() -> None:
    cat = load_catalog()
    assert len(cat) == 141
    info = cat.require("chat:write")
    assert info.risk == Severity.MEDIUM and "bot" in info.token_types
    assert cat.risk_of("im:history") == Severity.CRITICAL
    assert all(s.risk == Severity.HIGH for s in cat.entries(Severity.HIGH))


def test_changed_ratings_carry_a_review_note() -> None:
    text = resources.files("nhictl.catalog").joinpath("scopes.tsv").read_text(encoding="utf-8")
    rows = list(csv.DictReader(text.splitlines(), delimiter="\t"))
    assert tuple(rows[0]) == COLUMNS
    noted = {r["scope"]: r["review_note"] for r in rows if r["review_note"]}
    assert "critical" in noted["search:read.mpim"]
    assert all(r["status"] in {"current", "legacy", "deprecated", "unclear"} for r in rows)


@pytest.mark.parametrize(("typo", "guess"), [("chat:wirte", "chat:write"),
                                             ("Channels:Read", "channels:read"),
                                             ("users:read.emial", "users:read.email")])
def test_misspelling_suggests(typo: str, guess: str) -> None:
    cat = load_catalog()
    assert cat.suggest(typo) == guess
    with pytest.raises(UsageError) as err:
        cat.require(typo)
    assert err.value.exit_code == 2 and err.value.hint and guess in err.value.hint


def test_nonsense_has_no_suggestion() -> None:
    assert load_catalog().suggest("zzzzzz") is None
