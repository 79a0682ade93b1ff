"""The ops case list: recent cases filtered by lane, outcome, the day they opened and a search text, a page at a time.

A read of the `cases` table (written only by the fold, see `cases.py`); kept apart from `CaseView` so the list's
queries grow here without touching the fold's repository.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from cloud_bridge.store.engine import Engine

Outcome = Literal["registered", "rejected", "aborted", "open", "held"]
OUTCOME_FILTERS: tuple[Outcome, ...] = ("registered", "rejected", "aborted", "open", "held")

_HELD = "case.held"
_WHERE_OUTCOME: dict[str, str] = {
    "registered": "outcome = 'registered'",
    "rejected": "outcome = 'rejected'",
    "aborted": "outcome = 'aborted'",
    # a case is on hold while its latest event is case.held (case.resumed or any later step ends the hold)
    "open": f"closed_at IS NULL AND (stage IS NULL OR stage <> '{_HELD}')",
    "held": f"closed_at IS NULL AND stage = '{_HELD}'",
}
_COLUMNS = (
    "case_id, unit, site, opened_at, closed_at, outcome, stage, stage_since, vin, plate, owner_name, id_number, paid"
)


@dataclass(frozen=True)
class CaseFilter:
    """What ops narrow the list by; every field empty lists every case, newest first.

    `opened_from` is inclusive and `opened_before` exclusive (unix seconds), so whole days chain without overlap.
    """

    unit: str | None = None
    outcome: Outcome | None = None
    opened_from: float | None = None
    opened_before: float | None = None
    text: str = ""


def _like(text: str) -> str:
    """A LIKE pattern that matches `text` anywhere, its own % and _ taken literally."""
    return "%" + text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _where(f: CaseFilter) -> tuple[str, list[Any]]:
    clauses: list[str] = []
    args: list[Any] = []
    if f.unit:
        clauses.append("unit = ?")
        args.append(f.unit)
    if f.outcome:
        clauses.append(_WHERE_OUTCOME[f.outcome])
    if f.opened_from is not None:
        clauses.append("opened_at >= ?")
        args.append(f.opened_from)
    if f.opened_before is not None:
        clauses.append("opened_at < ?")
        args.append(f.opened_before)
    text = f.text.strip()
    if text:
        like = _like(text)
        clauses.append(
            "(case_id = ? OR id_number = ? OR vin LIKE ? ESCAPE '\\' OR plate LIKE ? ESCAPE '\\' "
            "OR owner_name LIKE ? ESCAPE '\\')"
        )
        args += [text, text, like, like, like]
    return (" WHERE " + " AND ".join(clauses)) if clauses else "", args


class CaseSearch:
    """Pages of the `cases` table for the ops case list (`/cases`, `/api/cases`)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def page(self, f: CaseFilter, offset: int = 0, limit: int = 50) -> tuple[list[dict[str, Any]], int]:
        """One page of the matching cases, newest opened first, and how many match in all."""
        where, args = _where(f)
        with self.engine.tx(write=False) as cur:
            total = int(cur.scalar(f"SELECT COUNT(*) FROM cases{where}", args) or 0)
            rows = cur.q(
                f"SELECT {_COLUMNS} FROM cases{where} "
                "ORDER BY COALESCE(opened_at, stage_since, 0) DESC, case_id DESC LIMIT ? OFFSET ?",
                [*args, limit, offset],
            )
        for r in rows:
            r["paid"] = bool(r["paid"])
            r["status"] = r["outcome"] or ("held" if r["stage"] == _HELD else "open")
        return rows, total

    def units(self) -> list[str]:
        """The lanes that have cases, for the lane filter."""
        with self.engine.tx(write=False) as cur:
            return [r["unit"] for r in cur.q("SELECT DISTINCT unit FROM cases WHERE unit IS NOT NULL ORDER BY unit")]
