"""purpose_undeclared shows what the binding holds, and is high when that is high risk."""

from __future__ import annotations

from nhictl.models import Severity
from tests.checks.helpers import clean, run


def test_undeclared_purpose_with_a_history_scope_is_high() -> None:
    b = clean(purpose=("reporting",), granted_scopes=("chat:write", "channels:history"))
    (f,) = run("purpose_undeclared", b)
    assert f.severity is Severity.HIGH
    assert "channels:history" in f.message
    assert f.evidence["scope_risk"]["channels:history"] in ("high", "critical")


def test_undeclared_purpose_with_chat_write_stays_medium() -> None:
    (f,) = run("purpose_undeclared", clean(purpose=()))
    assert f.severity is Severity.MEDIUM
    assert f.evidence["scopes"] == ["chat:write"]
