"""File modes of secret-bearing files.

Two policies, because the files belong to different people:

* the operator's own file (an export) that group or others can read is refused, as ssh
  refuses a loose private key (:func:`ensure_private`);
* an app's installation store is the app's, not nhictl's: it is read, and a loose mode is
  reported as a fact about the app (:func:`exposure`), which ``token_store_exposed`` turns
  into a finding.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from nhictl.errors import InsecureFileError

_GROUP_BITS = stat.S_IRGRP | stat.S_IWGRP
_OTHER_BITS = stat.S_IROTH | stat.S_IWOTH


def ensure_private(path: Path | str, what: str = "file") -> None:
    mode = os.stat(path).st_mode
    if mode & (_GROUP_BITS | _OTHER_BITS):
        raise InsecureFileError(
            f"{path}: {what} contains tokens and is readable by group or others "
            f"(mode {stat.S_IMODE(mode):04o})",
            hint=f"chmod 600 {path}",
        )


@dataclass(frozen=True)
class Exposure:
    """Who besides its owner the mode of a file lets read or write it."""

    path: str
    mode: str  # octal, e.g. "0644"
    readable_by: tuple[str, ...]  # ("group", "others") as the mode grants
    writable_by: tuple[str, ...]
    # Classes ("group", "others") the mode admits but a parent directory keeps out (no
    # search permission for them), and the first such directory.
    blocked: tuple[str, ...] = ()
    blocked_by: str | None = None

    @property
    def reachable(self) -> bool:
        """True when someone besides the owner can really reach the file now."""
        return bool(set(self.readable_by + self.writable_by) - set(self.blocked))


StatFn = Callable[[str], os.stat_result]


def exposure(path: Path | str, stat_fn: StatFn = os.stat) -> Exposure | None:
    """The exposure of ``path`` through its mode, or None when only its owner has access.

    Every parent directory is checked as well: a class (group, others) without search
    permission on one of them cannot reach the file, whatever its mode says. A group member
    meets a parent directory of another group as "others" (owners are not modelled). Raises
    OSError if the file cannot be examined.
    """
    if os.name == "nt":  # POSIX modes only; ACLs are out of scope
        return None
    text = os.path.abspath(path)
    st = stat_fn(text)
    mode = stat.S_IMODE(st.st_mode)
    readable = tuple(who for who, bit in (("group", stat.S_IRGRP), ("others", stat.S_IROTH))
                     if mode & bit)
    writable = tuple(who for who, bit in (("group", stat.S_IWGRP), ("others", stat.S_IWOTH))
                     if mode & bit)
    if not readable and not writable:
        return None
    blocked: list[str] = []
    blocked_by: str | None = None
    parent = os.path.dirname(text)
    while True:
        dst = stat_fn(parent)
        others_in = bool(dst.st_mode & stat.S_IXOTH)
        group_in = bool(dst.st_mode & stat.S_IXGRP) if dst.st_gid == st.st_gid else others_in
        for who, can in (("group", group_in), ("others", others_in)):
            if not can and who not in blocked and who in readable + writable:
                blocked.append(who)
                blocked_by = blocked_by or parent
        up = os.path.dirname(parent)
        if up == parent:
            break
        parent = up
    return Exposure(text, f"{mode:04o}", readable, writable, tuple(blocked), blocked_by)
