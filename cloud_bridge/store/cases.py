"""The case view: one row per case, folded from its events, and the per-inspector counts the override rate needs."""

from __future__ import annotations

import json
from typing import Any

from cloud_bridge.case_view import CASE_COLUMNS, CaseFacts
from cloud_bridge.store.engine import Cur, Engine, marks, rows_of

_COLUMNS = list(CASE_COLUMNS) + ["stage_times"]
_CHUNK = 500


def _facts_from_row(row: dict[str, Any]) -> CaseFacts:
    f = CaseFacts(**{k: row[k] for k in CASE_COLUMNS if k in row})
    f.paid = bool(f.paid)
    f.stage_times = json.loads(row.get("stage_times") or "{}")
    return f


class CaseView:
    """The `cases` and `inspector_stats` tables.

    Both are derived from the units' events by the ingest fold (which locks a case's row before folding
    into it, so two workers never fold into one case at once); a payment marks its case paid.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- inside the ingest fold's transaction
    def lock_in(self, cur: Cur, case_ids: list[str]) -> dict[str, CaseFacts]:
        """The facts of these cases (sorted ids), their rows created if new and locked until the transaction ends."""
        facts: dict[str, CaseFacts] = {}
        for start in range(0, len(case_ids), _CHUNK):
            chunk = case_ids[start : start + _CHUNK]
            # make the rows exist first, so that two workers with events of a new case serialise on its row
            cur.x(
                f"INSERT INTO cases (case_id) VALUES {rows_of(len(chunk), 1)} ON CONFLICT (case_id) DO NOTHING", chunk
            )
            for row in cur.q(
                f"SELECT * FROM cases WHERE case_id IN ({marks(len(chunk))}) ORDER BY case_id{self.engine.for_update()}",
                chunk,
            ):
                facts[row["case_id"]] = _facts_from_row(row)
        return facts

    @staticmethod
    def save_in(cur: Cur, facts: list[CaseFacts]) -> None:
        """Write the folded facts of these cases."""
        rows = []
        for f in facts:
            row = f.as_row()
            row["paid"] = int(bool(row["paid"]))
            row["stage_times"] = json.dumps(f.stage_times)
            rows.append([row[c] for c in _COLUMNS])
        updates = ", ".join(f"{c} = excluded.{c}" for c in _COLUMNS if c != "case_id")
        cur.many(
            f"INSERT INTO cases ({', '.join(_COLUMNS)}) VALUES ({marks(len(_COLUMNS))}) ON CONFLICT (case_id) DO UPDATE SET {updates}",
            rows,
        )

    @staticmethod
    def count_inspections_in(cur: Cur, tallies: dict[str, tuple[int, int]]) -> dict[str, tuple[int, int]]:
        """Add (inspections, VIN corrections) per inspector; returns each one's totals after the addition."""
        if not tallies:
            return {}
        names = sorted(tallies)
        cur.many(
            "INSERT INTO inspector_stats (inspector, inspections, vin_corrections) VALUES (?, ?, ?) ON CONFLICT (inspector) DO UPDATE "
            "SET inspections = inspector_stats.inspections + excluded.inspections, "
            "vin_corrections = inspector_stats.vin_corrections + excluded.vin_corrections",
            [(n, tallies[n][0], tallies[n][1]) for n in names],
        )
        rows = cur.q(
            f"SELECT inspector, inspections, vin_corrections FROM inspector_stats WHERE inspector IN ({marks(len(names))})",
            names,
        )
        return {r["inspector"]: (int(r["inspections"]), int(r["vin_corrections"])) for r in rows}

    @staticmethod
    def mark_paid_in(cur: Cur, case_id: str, unit: str, site: str) -> None:
        """The case is paid (a confirmed payment), inside the payment's transaction."""
        cur.x(
            "INSERT INTO cases (case_id, unit, site, paid) VALUES (?, ?, ?, 1) ON CONFLICT (case_id) DO UPDATE SET paid = 1",
            (case_id, unit, site),
        )

    # -- reads
    def get(self, case_id: str) -> dict[str, Any] | None:
        """The case's row (`stage_times` decoded), or None."""
        with self.engine.tx(write=False) as cur:
            row = cur.one("SELECT * FROM cases WHERE case_id = ?", (case_id,))
        if row is not None:
            row["stage_times"] = json.loads(row.get("stage_times") or "{}")
        return row

    def status(self, case_id: str) -> dict[str, Any] | None:
        """The unit, end and outcome the bridge knows of a case (a light read for request checks)."""
        with self.engine.tx(write=False) as cur:
            return cur.one("SELECT unit, closed_at, outcome FROM cases WHERE case_id = ?", (case_id,))

    def search(self, q: str, limit: int = 50) -> list[dict[str, Any]]:
        """Cases by id or ID number (exact), or VIN, plate or owner name (substring); newest first."""
        q = q.strip()
        like = f"%{q}%"
        with self.engine.tx(write=False) as cur:
            return cur.q(
                "SELECT case_id, unit, site, opened_at, closed_at, outcome, stage, vin, plate, owner_name, id_number, paid FROM cases "
                "WHERE case_id = ? OR vin LIKE ? OR plate LIKE ? OR owner_name LIKE ? OR id_number = ? ORDER BY opened_at DESC LIMIT ?",
                (q, like, like, like, q, limit),
            )

    def closed_since(self, since: float) -> list[dict[str, Any]]:
        """Cases closed at or after `since`, with their stage times (the registration figures)."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q(
                "SELECT case_id, unit, site, opened_at, closed_at, outcome, stage_times FROM cases WHERE closed_at IS NOT NULL AND closed_at >= ?",
                (since,),
            )
        for r in rows:
            r["stage_times"] = json.loads(r["stage_times"] or "{}")
        return rows

    def active_since(self, since: float) -> list[dict[str, Any]]:
        """Cases closed at or after `since` and those still open, with their stage times (the dashboard's range).

        Two reads, each on the `closed_at` index, rather than one with an OR the planner may scan the table for.
        """
        cols = "case_id, unit, site, opened_at, closed_at, outcome, stage, stage_since, stage_times"
        with self.engine.tx(write=False) as cur:
            rows = cur.q(f"SELECT {cols} FROM cases WHERE closed_at >= ?", (since,))
            rows += cur.q(f"SELECT {cols} FROM cases WHERE closed_at IS NULL AND opened_at IS NOT NULL")
        for r in rows:
            r["stage_times"] = json.loads(r["stage_times"] or "{}")
        return rows

    def still_open(self) -> list[dict[str, Any]]:
        """Cases not closed (the sweep judges how long they have been open)."""
        with self.engine.tx(write=False) as cur:
            return cur.q("SELECT case_id, unit, site, opened_at, closed_at, stage FROM cases WHERE closed_at IS NULL")

    def open_by_unit(self) -> dict[str, dict[str, Any]]:
        """Per unit: its open cases (`n`) and the one that moved last (`case_id`, `stage`, `stage_since`)."""
        with self.engine.tx(write=False) as cur:
            counts = cur.q("SELECT unit, COUNT(*) AS n FROM cases WHERE closed_at IS NULL GROUP BY unit")
            current = cur.q(
                "SELECT unit, case_id, stage, stage_since FROM cases WHERE closed_at IS NULL ORDER BY stage_since"
            )
        out: dict[str, dict[str, Any]] = {r["unit"]: {"n": int(r["n"])} for r in counts}
        for r in current:
            out.setdefault(r["unit"], {"n": 0}).update(
                case_id=r["case_id"], stage=r["stage"], stage_since=r["stage_since"]
            )  # the last one wins
        return out

    def by_outcome(self) -> dict[str, int]:
        """Cases per outcome (`open` for those not closed)."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q(
                "SELECT COALESCE(outcome, 'open') AS outcome, COUNT(*) AS n FROM cases GROUP BY COALESCE(outcome, 'open')"
            )
        return {r["outcome"]: int(r["n"]) for r in rows}

    def folded_events(self) -> dict[str, int]:
        """Per case, how many events were folded into it (equals its stored events once every event is folded)."""
        with self.engine.tx(write=False) as cur:
            return {r["case_id"]: int(r["events"]) for r in cur.q("SELECT case_id, events FROM cases")}
