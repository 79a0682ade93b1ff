"""Inspector sign-in at the lane: PIN checks and what the journal keeps of a failed attempt. Pure but for the PIN secrets."""

from __future__ import annotations

import hmac
import unicodedata
from typing import Any

from edge.config import LaneConfig

ATTEMPTED_ID_SHOWN = 64


def pin_matches(cfg: LaneConfig, inspector_id: str, pin: str) -> str | None:
    """The inspector's display name when `pin` is theirs (constant-time compare), else None."""
    for ins in cfg.inspectors:
        if ins.id == inspector_id:
            try:
                ok = hmac.compare_digest(ins.pin.reveal().encode(), pin.encode())
            except Exception:  # noqa: BLE001 - an unreadable PIN file refuses the sign-in
                ok = False
            return ins.name if ok else None
    return None


def printable(text: str) -> str:
    """``text`` with control, format and unassigned characters (and the backslash) escaped as Python writes them:
    an attempted id may be a terminal escape sequence or a bidi override meant for whoever reads the journal."""

    def one(ch: str) -> str:
        if ch == "\\":
            return "\\\\"
        if unicodedata.category(ch)[0] == "C":
            return ch.encode("unicode_escape", "backslashreplace").decode("ascii")
        return ch

    return "".join(one(ch) for ch in text)


def attempted_id(text: str) -> dict[str, Any]:
    """The journal's record of an id someone tried to sign in with: printable, at most 64 characters; when cut,
    it ends with '…' and says so, with the length that was sent (a 600,000-character id once wedged the outbox)."""
    shown = printable(text)
    if len(shown) <= ATTEMPTED_ID_SHOWN:
        return {"inspector": shown}
    return {
        "inspector": shown[: ATTEMPTED_ID_SHOWN - 1] + "…",
        "inspector_truncated": True,
        "inspector_length": len(text),
    }
