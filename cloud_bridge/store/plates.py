"""Plate numbers: reservations for a case, numbers issued for good, and the numbers offered to each case."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from cloud_bridge.ingest import PlateClash
from cloud_bridge.store.engine import Cur, Engine, marks
from edge.contract import PlateKind

_ISSUE_CHUNK = 500


@dataclass
class ReserveOutcome:
    ok: bool
    number: str
    error: str | None = None
    reserved_until: float | None = None
    released: list[str] = field(default_factory=list)


class PlatePool:
    """The `plates` and `plate_offers` tables.

    One row per number (primary key): a reservation takes a row over only when it is `reserved` and
    expired, or already this case's; an `issued` row never changes hands.
    """

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    # -- reservations
    def taken(self, numbers: list[str], now: float | None = None) -> set[str]:
        """Which of `numbers` are issued or held by a live reservation."""
        if not numbers:
            return set()
        now = time.time() if now is None else now
        with self.engine.tx(write=False) as cur:
            rows = cur.q(
                f"SELECT number FROM plates WHERE number IN ({marks(len(numbers))}) AND (status = 'issued' OR reserved_until >= ?)",
                [*numbers, now],
            )
        return {r["number"] for r in rows}

    def reserve(
        self,
        number: str,
        authority: str,
        plate_kind: str,
        case_id: str,
        unit: str,
        hold_s: float,
        now: float | None = None,
    ) -> ReserveOutcome:
        """Reserve `number` for `case_id`: atomic; a number has one holder; the case's other reservations are released."""
        now = time.time() if now is None else now
        until = now + hold_s
        with self.engine.tx() as cur:
            rows = cur.q(
                "INSERT INTO plates (number, authority, plate_kind, status, case_id, unit, reserved_at, reserved_until, issued_at, notified) "
                "VALUES (?, ?, ?, 'reserved', ?, ?, ?, ?, NULL, 0) ON CONFLICT (number) DO UPDATE SET case_id = excluded.case_id, unit = excluded.unit, "
                "reserved_at = excluded.reserved_at, reserved_until = excluded.reserved_until, plate_kind = excluded.plate_kind, notified = 0 "
                "WHERE plates.status = 'reserved' AND (plates.case_id = excluded.case_id OR plates.reserved_until < ?) RETURNING number",
                (number, authority, plate_kind, case_id, unit, now, until, now),
            )
            if not rows:
                return ReserveOutcome(False, number, "taken")
            released = [
                r["number"]
                for r in cur.q(
                    "DELETE FROM plates WHERE case_id = ? AND status = 'reserved' AND number <> ? RETURNING number",
                    (case_id, number),
                )
            ]
        return ReserveOutcome(True, number, None, until, released)

    def held_by_unit(self, unit: str, now: float, other_than_case: str) -> int:
        """Live reservations a unit holds for cases other than `other_than_case` (the quota a new one counts against)."""
        with self.engine.tx(write=False) as cur:
            return int(
                cur.scalar(
                    "SELECT COUNT(*) AS n FROM plates WHERE unit = ? AND status = 'reserved' AND reserved_until >= ? AND case_id <> ?",
                    (unit, now, other_than_case),
                )
                or 0
            )

    def held_by_case(self, case_id: str, now: float) -> bool:
        """Whether the case holds a live reservation or an issued number (what a payment is for)."""
        with self.engine.tx(write=False) as cur:
            return (
                cur.one(
                    "SELECT 1 AS x FROM plates WHERE case_id = ? AND (status = 'issued' OR reserved_until >= ?)",
                    (case_id, now),
                )
                is not None
            )

    def release(self, number: str, case_id: str) -> bool:
        """Release the case's reservation of `number` (an issued number never is); False when it held none."""
        with self.engine.tx() as cur:
            return (
                cur.x("DELETE FROM plates WHERE number = ? AND case_id = ? AND status = 'reserved'", (number, case_id))
                == 1
            )

    def expire(self, now: float | None = None) -> list[dict[str, Any]]:
        """Reservations past their time: released, and returned once so their lanes can be told."""
        now = time.time() if now is None else now
        with self.engine.tx() as cur:
            return cur.q(
                "DELETE FROM plates WHERE status = 'reserved' AND reserved_until < ? RETURNING number, case_id, unit",
                (now,),
            )

    def numbers(self, case_id: str | None = None) -> list[dict[str, Any]]:
        """The rows of one case, or every row by number."""
        with self.engine.tx(write=False) as cur:
            if case_id:
                return cur.q("SELECT * FROM plates WHERE case_id = ?", (case_id,))
            return cur.q("SELECT * FROM plates ORDER BY number")

    def number(self, number: str) -> dict[str, Any] | None:
        """One number's row (reserved or issued), or None when it is free."""
        with self.engine.tx(write=False) as cur:
            return cur.one("SELECT * FROM plates WHERE number = ?", (number,))

    # -- issuance (a record of the lane's case.plates_issued, inside the ingest fold)
    @staticmethod
    def issue_in(
        cur: Cur, number: str, authority: str, kind: PlateKind, case_id: str | None, unit: str, ts: float, now: float
    ) -> PlateClash | None:
        """Record `number` issued to `case_id`, inside the caller's transaction.

        None when it is (now, or already was) this case's issued number; else the clash: the number is
        issued to, or held by a live reservation of, another case (which stays its holder).
        """
        rows = cur.q(
            "INSERT INTO plates (number, authority, plate_kind, status, case_id, unit, reserved_at, reserved_until, issued_at) "
            "VALUES (?, ?, ?, 'issued', ?, ?, NULL, NULL, ?) ON CONFLICT (number) DO UPDATE SET status = 'issued', "
            "issued_at = excluded.issued_at, case_id = excluded.case_id, unit = excluded.unit "
            "WHERE plates.status = 'reserved' AND (plates.case_id = excluded.case_id OR plates.reserved_until < ?) RETURNING case_id",
            (number, authority, kind.value, case_id, unit, ts, now),
        )
        if rows:
            return None
        holder = cur.one("SELECT case_id, status FROM plates WHERE number = ?", (number,))
        if holder and holder["case_id"] == case_id and holder["status"] == "issued":
            return None  # the same case reported again
        return PlateClash(number, holder["case_id"] if holder else None)

    @staticmethod
    def issue_all_in(
        cur: Cur, issues: list[tuple[str, str, PlateKind, str | None, str, float]], now: float
    ) -> list[PlateClash | None]:
        """`issue_in` for each (number, authority, kind, case_id, unit, ts) in order, in one statement per chunk when
        the numbers differ (each row then meets only what was stored before the batch, as it would one by one)."""
        if len({i[0] for i in issues}) != len(issues):  # a number twice: the second meets the first, one by one
            return [PlatePool.issue_in(cur, *i, now) for i in issues]
        out: list[PlateClash | None] = []
        for start in range(0, len(issues), _ISSUE_CHUNK):
            chunk = issues[start : start + _ISSUE_CHUNK]
            values = ",".join(["(?, ?, ?, 'issued', ?, ?, NULL, NULL, ?)"] * len(chunk))
            params: list[Any] = [
                v
                for number, auth, kind, case_id, unit, ts in chunk
                for v in (number, auth, kind.value, case_id, unit, ts)
            ]
            issued = {
                n
                for (n,) in cur.tuples(
                    "INSERT INTO plates (number, authority, plate_kind, status, case_id, unit, reserved_at, reserved_until, issued_at) "
                    f"VALUES {values} ON CONFLICT (number) DO UPDATE SET status = 'issued', "
                    "issued_at = excluded.issued_at, case_id = excluded.case_id, unit = excluded.unit "
                    "WHERE plates.status = 'reserved' AND (plates.case_id = excluded.case_id OR plates.reserved_until < ?) "
                    "RETURNING number",
                    [*params, now],
                )
            }
            others = [i[0] for i in chunk if i[0] not in issued]
            holders = (
                {
                    n: (case_id, status)
                    for n, case_id, status in cur.tuples(
                        f"SELECT number, case_id, status FROM plates WHERE number IN ({marks(len(others))})", others
                    )
                }
                if others
                else {}
            )
            for number, _, _, case_id, _, _ in chunk:
                holder = holders.get(number)
                if number in issued or (holder is not None and holder == (case_id, "issued")):
                    out.append(None)  # issued now, or the same case reported again
                else:
                    out.append(PlateClash(number, holder[0] if holder else None))
        return out

    # -- offers
    def record_offers(self, case_id: str, unit: str, numbers: list[str], now: float) -> None:
        """Numbers offered to a case: only these (or an owner-composed number) may be reserved for it."""
        with self.engine.tx() as cur:
            cur.many(
                "INSERT INTO plate_offers (case_id, number, unit, offered_at) VALUES (?, ?, ?, ?) ON CONFLICT (case_id, number) DO NOTHING",
                [(case_id, n, unit, now) for n in numbers],
            )

    def offers_made(self, case_id: str) -> int:
        """How many numbers a case has been offered (its quota)."""
        with self.engine.tx(write=False) as cur:
            return int(cur.scalar("SELECT COUNT(*) AS n FROM plate_offers WHERE case_id = ?", (case_id,)) or 0)

    def was_offered(self, case_id: str, number: str) -> bool:
        with self.engine.tx(write=False) as cur:
            return (
                cur.one("SELECT 1 AS x FROM plate_offers WHERE case_id = ? AND number = ?", (case_id, number))
                is not None
            )

    def forget_offers(self, before: float) -> int:
        """Drop offers older than `before` (cases long over; a live case asks for options again); returns how many."""
        with self.engine.tx() as cur:
            return cur.x("DELETE FROM plate_offers WHERE offered_at < ?", (before,))
