"""The plan made truthful: whether nhictl can obtain each binding's token, and the check of a
token the operator supplies on stdin against the binding's fingerprint.

The probe reads each source the way the execution will (one lookup per broker connection,
files and stores once) but fetches no token and calls nothing at Slack.
"""

from __future__ import annotations

import hmac
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from nhictl.errors import InvalidInputError
from nhictl.revoke.execute import SourceOpener, _Failure, _Sources
from nhictl.revoke.plan import BROKER_NAMES, RevokeStep
from nhictl.revoke.record import SLACK_REVOKED
from nhictl.secret import Secret, fingerprint

SUPPLIED = "supplied on stdin (fingerprint matches)"


def check_supplied(key: bytes, binding: Mapping[str, Any], token: Secret) -> None:
    """Accept a token from stdin only when it is the binding's own (same HMAC fingerprint)."""
    bid, recorded = binding.get("id"), binding.get("token_fingerprint")
    if not recorded:
        raise InvalidInputError(
            f"{bid}: no token fingerprint is recorded for it, so a token on stdin cannot be "
            "checked against it; nothing was called",
            hint=f"nhictl revoke {bid} --mark-removed --yes records it removed (Slack is not "
                 "told)")
    if not hmac.compare_digest(fingerprint(key, token), str(recorded)):
        raise InvalidInputError(
            f"{bid}: the token on stdin does not match the binding's fingerprint {recorded}; "
            "nothing was called",
            hint="check which token you piped: `nhictl hash` prints a token's fingerprint")


def _holder(step: RevokeStep) -> str:
    return f"{BROKER_NAMES.get(step.source_kind, step.source_kind + ' source')} {step.source!r}"


def _removal(step: RevokeStep) -> tuple[str, ...]:
    return tuple(c for c in step.calls if "removal of connection" in c)


def _blocked(step: RevokeStep, why: str) -> RevokeStep:
    return replace(step, obtained_from=f"unavailable: {why}", calls=(
        f"nothing: {why}, so nhictl cannot obtain its token; the revoke will fail (exit 5) "
        "and record no revocation. Supply the token with --token-stdin, or mark it with "
        "--mark-removed (Slack is not told)",))


def with_supplied(step: RevokeStep) -> RevokeStep:
    """The step when the operator supplies its token on stdin (no source is needed)."""
    if step.noop is not None or step.mark_removed:
        return step
    return replace(step, obtained_from=SUPPLIED, calls=(
        "Slack auth.revoke with the token supplied on stdin", *_removal(step)))


def _view(step: RevokeStep, sources: _Sources, supplied: bool) -> RevokeStep:
    if step.noop is not None or step.mark_removed:
        return step
    if supplied:
        return with_supplied(step)
    try:
        _, record = sources.get(step)
    except _Failure as fail:
        return _blocked(step, fail.message + " (now)")
    if record is None:
        if step.resume == SLACK_REVOKED:
            return replace(step, obtained_from="not needed", calls=(
                "nothing at Slack: an interrupted earlier attempt revoked it there; record "
                "it revoked",))
        return _blocked(step, f"source {step.source!r} no longer holds it")
    if record.token is not None:
        how = f"held by {_holder(step)}"
    elif record.token_on_demand:
        how = f"fetched on demand from {_holder(step)}"
    else:
        return _blocked(step, f"source {step.source!r} holds no token for it")
    notes = step.notes
    if record.dead_reason:
        notes = (*notes, f"the holder reports the grant dead ({record.dead_reason}): it may "
                 "not hand the token over, and then the revoke fails")
    return replace(step, obtained_from=how, notes=notes,
                   calls=(f"Slack auth.revoke with the token {how}", *step.calls[1:]))


def token_views(steps: Sequence[RevokeStep], open_source: SourceOpener,
                supplied: Mapping[str, Secret]) -> list[RevokeStep]:
    """Each step with what will really happen to it, as far as the sources tell now."""
    sources = _Sources(open_source)
    try:
        return [_view(s, sources, s.binding_id in supplied) for s in steps]
    finally:
        sources.close()
