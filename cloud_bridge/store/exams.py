"""Exam storage: candidates, exams, deductions, item results and tracks; the only SQL on these tables.

Written by the ingest fold (`ExamRecords.fold_in`, from the cars' `exam.*` events, inside the
fold's transaction) and by the exam service (candidates, starts, sign-offs, overrides). What an
event means is `cloud_bridge.exam_view`'s; the risk rules judge the findings returned here.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from typing import Any

from cloud_bridge.exam_view import FINAL, apply, deduction_row, result_changed, text, worst_quality
from cloud_bridge.ingest import ExamFinding
from cloud_bridge.store.engine import Cur, Engine, marks
from edge.contract import EventEnvelope, EventKind
from exam_vehicle.track_upload import TrackPiece, reassemble

log = logging.getLogger("passlane.bridge")

EXAM_COLUMNS = (
    "exam_id",
    "site",
    "unit",
    "candidate_id",
    "candidate",
    "car",
    "course",
    "rules_version",
    "started_at",
    "ended_at",
    "status",
    "score",
    "reason",
    "ended_by",
    "worst_quality",
    "item",
    "track_state",
    "track_sha256",
    "signed_by",
    "signed_at",
    "sign_note",
    "override",
    "updated_at",
)
CANDIDATE_COLUMNS = (
    "candidate_id",
    "site",
    "name",
    "id_number",
    "licence_class",
    "booked_at",
    "checked_in_at",
    "status",
    "car",
    "exam_id",
    "created_at",
)


class DuplicateBooking(Exception):
    """A candidate's booking (site, ID number, booking time) is already stored; `index` is its place in the batch."""

    def __init__(self, index: int) -> None:
        super().__init__(f"booking {index} already stored")
        self.index = index


def _exam_out(row: dict[str, Any]) -> dict[str, Any]:
    row = dict(row)
    row["override"] = json.loads(row["override"]) if row.get("override") else None
    return row


class ExamRecords:
    """The `exams`, `exam_deductions`, `exam_item_results` and `exam_tracks` tables, as the fold writes them; and their reads."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- inside the ingest fold's transaction
    def fold_in(self, cur: Cur, site: str, ev: EventEnvelope, now: float) -> list[ExamFinding]:
        """Fold one exam event (already claimed, of its owner) into its exam; returns what the rules need to see."""
        exam_id = str(ev.case_id)
        cur.x(
            "INSERT INTO exams (exam_id, site, unit, status, updated_at) VALUES (?, ?, ?, 'running', ?) "
            "ON CONFLICT (exam_id) DO NOTHING",
            (exam_id, site, ev.unit, now),
        )
        before = cur.one(f"SELECT * FROM exams WHERE exam_id = ?{self.engine.for_update()}", (exam_id,))
        assert before is not None
        if before["unit"] != ev.unit:
            return []
        after = apply(before, ev)
        found: list[ExamFinding] = []
        if ev.kind == EventKind.EXAM_STARTED:
            found += self._started_in(cur, site, ev, after)
        elif ev.kind == EventKind.EXAM_ITEM_STARTED and after.get("item"):
            cur.x(
                "INSERT INTO exam_item_results (exam_id, item, started_at) VALUES (?, ?, ?) "
                "ON CONFLICT (exam_id, item) DO NOTHING",
                (exam_id, after["item"], ev.ts),
            )
        elif ev.kind == EventKind.EXAM_ITEM_ENDED and text(ev.data.get("item"), 64):
            cur.x(
                "UPDATE exam_item_results SET ended_at = ?, completed = ? WHERE exam_id = ? AND item = ?",
                (ev.ts, int(ev.data.get("completed") is True), exam_id, text(ev.data.get("item"), 64)),
            )
        elif ev.kind == EventKind.EXAM_DEDUCTION:
            self._deduction_in(cur, exam_id, ev)
        elif ev.kind == EventKind.EXAM_TRACK_CHUNK:
            found += self._pieces_in(cur, site, ev, after)
        if ev.kind in (EventKind.EXAM_RESULT, EventKind.EXAM_INVALID, EventKind.EXAM_INTERRUPTED):
            # a verdict ends the candidate's day; a run without one (invalid, interrupted) is driven again
            again = after.get("status") in ("invalid", "interrupted")
            cur.x(
                "UPDATE exam_candidates SET status = ? WHERE exam_id = ? AND status = 'examining'",
                ("checked_in" if again else "done", exam_id),
            )
        if ev.kind == EventKind.EXAM_RESULT:
            changed = result_changed(before, after)
            found.append(ExamFinding("result_changed" if changed else "result", site, ev.unit, after, previous=before))
        self._save_in(cur, after, now)
        return found

    def _save_in(self, cur: Cur, row: dict[str, Any], now: float) -> None:
        cols = [c for c in EXAM_COLUMNS if c not in ("exam_id", "updated_at")]
        cur.x(
            f"UPDATE exams SET {', '.join(f'{c} = ?' for c in cols)}, updated_at = ? WHERE exam_id = ?",
            [row.get(c) for c in cols] + [now, row["exam_id"]],
        )

    @staticmethod
    def _started_in(cur: Cur, site: str, ev: EventEnvelope, row: dict[str, Any]) -> list[ExamFinding]:
        """Link the exam to the candidate the bridge started it for; note that ID number's latest failed exam."""
        cand = cur.one("SELECT candidate_id, id_number FROM exam_candidates WHERE exam_id = ?", (row["exam_id"],))
        if cand is None:
            return [ExamFinding("started", site, ev.unit, row)]
        row["candidate_id"] = cand["candidate_id"]
        cur.x("UPDATE exam_candidates SET status = 'examining' WHERE candidate_id = ?", (cand["candidate_id"],))
        last = cur.scalar(
            "SELECT MAX(x.ended_at) FROM exams x JOIN exam_candidates c ON c.candidate_id = x.candidate_id "
            "WHERE c.id_number = ? AND x.status = 'failed' AND x.exam_id <> ? AND x.ended_at <= ?",
            (cand["id_number"], row["exam_id"], ev.ts),
        )
        return [ExamFinding("started", site, ev.unit, row, cand["id_number"], None if last is None else float(last))]

    @staticmethod
    def _deduction_in(cur: Cur, exam_id: str, ev: EventEnvelope) -> None:
        ded = deduction_row(exam_id, ev)
        if ded is None:
            return
        added = cur.q(
            f"INSERT INTO exam_deductions (exam_id, seq, ts, item, rule_id, points, fail, wording, e, n, lat, lon) "
            f"VALUES ({marks(12)}) ON CONFLICT (exam_id, seq) DO NOTHING RETURNING seq",
            ded,
        )
        if added and ded[3]:
            cur.x(
                "UPDATE exam_item_results SET points_lost = points_lost + ? WHERE exam_id = ? AND item = ?",
                (ded[5], exam_id, ded[3]),
            )

    def _pieces_in(self, cur: Cur, site: str, ev: EventEnvelope, row: dict[str, Any]) -> list[ExamFinding]:
        """Once the last piece is stored, reassemble the track from every stored piece: complete, or corrupt."""
        if row.get("track_state") == "complete":
            return []
        pieces: list[TrackPiece] = []
        for r in cur.q(
            "SELECT data FROM events WHERE unit = ? AND case_id = ? AND kind = ? ORDER BY seq",
            (ev.unit, row["exam_id"], EventKind.EXAM_TRACK_CHUNK.value),
        ):
            try:
                pieces.append(TrackPiece.model_validate(json.loads(r["data"])))
            except ValueError:
                row["track_state"] = "corrupt"
        if not any(p.last for p in pieces):
            return []
        try:
            lines = reassemble(pieces)
        except (ValueError, OSError, EOFError) as exc:  # a missing or altered piece, or gzip that does not open
            log.warning("track of exam %s does not reassemble: %s", row["exam_id"], exc)
            row["track_state"] = "corrupt"
            return [ExamFinding("track_corrupt", site, ev.unit, row)]
        by_index = {p.index: p for p in pieces}
        last = max(p.index for p in pieces if p.last)
        gz = b"".join(base64.b64decode(by_index[i].data) for i in range(last + 1))
        sha = hashlib.sha256(gz).hexdigest()
        cur.x(
            "INSERT INTO exam_tracks (exam_id, gz, bytes, sha256) VALUES (?, ?, ?, ?) ON CONFLICT (exam_id) DO NOTHING",
            (row["exam_id"], base64.b64encode(gz).decode("ascii"), len(gz), sha),
        )
        row["track_state"], row["track_sha256"], row["worst_quality"] = "complete", sha, worst_quality(lines)
        return [ExamFinding("track_complete", site, ev.unit, row)]

    # -- reads
    def get(self, exam_id: str) -> dict[str, Any] | None:
        with self.engine.tx(write=False) as cur:
            row = cur.one("SELECT * FROM exams WHERE exam_id = ?", (exam_id,))
        return None if row is None else _exam_out(row)

    def detail(self, exam_id: str) -> dict[str, Any] | None:
        """The exam with its item results (route order) and deductions (in order, with positions)."""
        with self.engine.tx(write=False) as cur:
            row = cur.one("SELECT * FROM exams WHERE exam_id = ?", (exam_id,))
            if row is None:
                return None
            items = cur.q("SELECT * FROM exam_item_results WHERE exam_id = ? ORDER BY started_at", (exam_id,))
            deds = cur.q("SELECT * FROM exam_deductions WHERE exam_id = ? ORDER BY seq", (exam_id,))
        out = _exam_out(row)
        out["items"] = [{**i, "completed": None if i["completed"] is None else bool(i["completed"])} for i in items]
        out["deductions"] = [{**d, "fail": bool(d["fail"])} for d in deds]
        return out

    def listed(self, since: float, until: float, status: str | None = None, limit: int = 1000) -> list[dict[str, Any]]:
        """Exams started in [since, until), newest first, with their candidate's name and ID number when the bridge knows them."""
        sql = (
            "SELECT x.*, c.name AS candidate_name, c.id_number FROM exams x "
            "LEFT JOIN exam_candidates c ON c.candidate_id = x.candidate_id WHERE x.started_at >= ? AND x.started_at < ?"
        )
        params: list[Any] = [since, until]
        if status:
            sql += " AND x.status = ?"
            params.append(status)
        with self.engine.tx(write=False) as cur:
            return [_exam_out(r) for r in cur.q(sql + " ORDER BY x.started_at DESC LIMIT ?", [*params, limit])]

    def changed_since(self, since: float, limit: int = 200) -> list[dict[str, Any]]:
        """Exams whose row changed after `since` (the live stream's `exam` events), oldest change first."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q("SELECT * FROM exams WHERE updated_at > ? ORDER BY updated_at LIMIT ?", (since, limit))
        return [_exam_out(r) for r in rows]

    def track(self, exam_id: str) -> bytes | None:
        """The stored gzip of the exam's track, as the car sent it; None until it arrived complete."""
        with self.engine.tx(write=False) as cur:
            gz = cur.scalar("SELECT gz FROM exam_tracks WHERE exam_id = ?", (exam_id,))
        return None if gz is None else base64.b64decode(gz)

    def running_units(self) -> dict[str, str]:
        """unit -> its exam under way."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q("SELECT unit, exam_id FROM exams WHERE status = 'running' ORDER BY started_at")
        return {r["unit"]: r["exam_id"] for r in rows}

    def judged_since(self, since: float) -> list[dict[str, Any]]:
        """Passed and failed exams ended since `since` (pass rates by site, car and examiner)."""
        with self.engine.tx(write=False) as cur:
            return cur.q(
                "SELECT exam_id, site, unit, signed_by, status FROM exams WHERE status IN ('passed', 'failed') AND ended_at >= ?",
                (since,),
            )

    def tracks_missing(self, ended_before: float) -> list[dict[str, Any]]:
        """Exams that ended before `ended_before` and whose track has not arrived complete."""
        with self.engine.tx(write=False) as cur:
            return cur.q(
                f"SELECT exam_id, site, unit, ended_at, track_state FROM exams WHERE ended_at IS NOT NULL AND ended_at < ? "
                f"AND track_state <> 'complete' AND status IN ({marks(len(FINAL))})",
                (ended_before, *FINAL),
            )

    def item_rates(self, since: float, until: float) -> list[dict[str, Any]]:
        """Per site and item: items driven, and items passed (driven to the end with no failing deduction)."""
        with self.engine.tx(write=False) as cur:
            return cur.q(
                "SELECT x.site, i.item, COUNT(*) AS driven, SUM(CASE WHEN i.completed = 1 AND NOT EXISTS (SELECT 1 FROM exam_deductions d WHERE d.exam_id = i.exam_id "
                "AND d.item = i.item AND d.fail = 1) THEN 1 ELSE 0 END) AS clean, "
                "SUM(CASE WHEN i.completed = 1 THEN 1 ELSE 0 END) AS completed FROM exam_item_results i JOIN exams x ON x.exam_id = i.exam_id "
                "WHERE x.started_at >= ? AND x.started_at < ? GROUP BY x.site, i.item ORDER BY x.site, i.item",
                (since, until),
            )

    # -- operator actions on an exam
    def sign_off(self, exam_id: str, who: str, note: str, now: float) -> bool:
        """The examiner's sign-off of a finished exam, once; False when it is not finished or already signed."""
        with self.engine.tx() as cur:
            n = cur.x(
                f"UPDATE exams SET signed_by = ?, signed_at = ?, sign_note = ?, updated_at = ? WHERE exam_id = ? "
                f"AND signed_by IS NULL AND status IN ({marks(len(FINAL))})",
                (who, now, note, now, exam_id, *FINAL),
            )
        return n == 1

    def set_override(self, exam_id: str, override: dict[str, Any], now: float) -> bool:
        """Keep an examiner's override beside the electronic result (which stays as judged)."""
        with self.engine.tx() as cur:
            n = cur.x(
                f"UPDATE exams SET override = ?, updated_at = ? WHERE exam_id = ? AND status IN ({marks(len(FINAL))})",
                (json.dumps(override, ensure_ascii=False), now, exam_id, *FINAL),
            )
        return n == 1


class CandidateBook:
    """The `exam_candidates` table: bookings imported or added, check-in, and the exam each is assigned to."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def add(self, rows: list[dict[str, Any]]) -> int:
        """Store every booking or none (DuplicateBooking names the first already stored)."""
        with (
            self.engine.tx() as cur
        ):  # the unique booking index decides, also against an import running beside this one
            for i, r in enumerate(rows):
                if not cur.q(
                    f"INSERT INTO exam_candidates ({', '.join(CANDIDATE_COLUMNS)}) VALUES ({marks(len(CANDIDATE_COLUMNS))}) "
                    "ON CONFLICT (site, id_number, booked_at) DO NOTHING RETURNING candidate_id",
                    [r.get(c) for c in CANDIDATE_COLUMNS],
                ):
                    raise DuplicateBooking(i)  # the transaction ends in a rollback: nothing of this batch is kept
        return len(rows)

    def get(self, candidate_id: str) -> dict[str, Any] | None:
        with self.engine.tx(write=False) as cur:
            return cur.one("SELECT * FROM exam_candidates WHERE candidate_id = ?", (candidate_id,))

    def of_day(self, since: float, until: float) -> list[dict[str, Any]]:
        """The bookings in [since, until) with their exam's status and score, by booking time."""
        with self.engine.tx(write=False) as cur:
            return cur.q(
                "SELECT c.*, x.status AS exam_status, x.score FROM exam_candidates c LEFT JOIN exams x ON x.exam_id = c.exam_id "
                "WHERE c.booked_at >= ? AND c.booked_at < ? ORDER BY c.booked_at, c.name",
                (since, until),
            )

    def check_in(self, id_number: str, since: float, until: float, now: float) -> tuple[str, dict[str, Any] | None]:
        """Check in the booking of that ID number in [since, until): ('ok' | 'already' | 'unknown', the row)."""
        with self.engine.tx() as cur:
            rows = cur.q(
                "SELECT * FROM exam_candidates WHERE id_number = ? AND booked_at >= ? AND booked_at < ? ORDER BY booked_at",
                (id_number, since, until),
            )
            booked = [r for r in rows if r["status"] == "booked"]
            if not booked:
                return ("already", rows[0]) if rows else ("unknown", None)
            row = booked[0]
            cur.x(
                "UPDATE exam_candidates SET status = 'checked_in', checked_in_at = ? WHERE candidate_id = ?",
                (now, row["candidate_id"]),
            )
        return "ok", {**row, "status": "checked_in", "checked_in_at": now}

    def assign(self, candidate_id: str, car: str, exam_id: str, stale_exam: str | None) -> bool:
        """Give a checked-in candidate (or one whose start never reached the car: `stale_exam`) an exam on `car`."""
        with self.engine.tx() as cur:
            n = cur.x(
                "UPDATE exam_candidates SET status = 'examining', car = ?, exam_id = ? WHERE candidate_id = ? "
                "AND (status = 'checked_in' OR (status = 'examining' AND exam_id = ?))",
                (car, exam_id, candidate_id, stale_exam or ""),
            )
        return n == 1
