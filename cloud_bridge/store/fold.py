"""The second transaction of an ingest batch: fold newly stored events into what is derived from them.

Derived: the unit counters (stored, duplicates, gaps, out of order, conflicts, chain breaks,
refused, dead letters only counted), the watermark, the case view, the per-inspector counts,
lane inspectors' failed sign-ins, and plate numbers issued by `case.plates_issued` (a record
of what the lane did). Each event is folded exactly once: `UnitRecords.keep` lists it in
`unfolded`, and the fold claims it by deleting it from there. The fold judges nothing: it
returns what the risk rules need (`IngestResult.findings`), and the ingest service raises
the alerts once the fold has committed.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import time
from collections import defaultdict
from typing import Any

from cloud_bridge.case_view import CaseFacts, is_person, issued_number, project, vin_confirmation
from cloud_bridge.exam_view import EXAM_KINDS
from cloud_bridge.ingest import (
    Arrived,
    Batch,
    Conflict,
    ExamFinding,
    FoldedEvent,
    FoldFindings,
    IngestResult,
    InspectorTotals,
    sign_in_name,
    track_sequences,
)
from cloud_bridge.plates import issued_kind
from cloud_bridge.rules import JUDGED_KINDS
from cloud_bridge.store import event_chains
from cloud_bridge.store.accounts import AccountRecords
from cloud_bridge.store.cases import CaseView
from cloud_bridge.store.engine import Cur, Engine, marks
from cloud_bridge.store.exams import ExamRecords
from cloud_bridge.store.payments import Payments
from cloud_bridge.store.plates import PlatePool
from cloud_bridge.store.unit_records import UnitRecords
from edge.contract import EventEnvelope, EventKind, PlateKind, Telemetry, case_owner, event_hash, is_case_event

log = logging.getLogger("passlane.bridge")
_CHUNK = 500


class EventFold:
    """Folds what `UnitRecords.keep` stored; shares the unit records' tables and writes the others through their repositories.

    Locks the touched unit rows, then the touched case rows, each in a fixed order (no deadlock between
    workers), and on PostgreSQL commits without waiting for the disk: all of it can be rebuilt from the events.
    """

    def __init__(
        self,
        engine: Engine,
        unit_records: UnitRecords,
        cases: CaseView,
        plates: PlatePool,
        payments: Payments,
        accounts: AccountRecords,
        exams: ExamRecords,
    ) -> None:
        self.engine = engine
        self.unit_records = unit_records
        self.cases = cases
        self.plates = plates
        self.payments = payments
        self.accounts = accounts
        self.exams = exams

    def fold(self, batch: Batch, now: float, sign_in_window_s: float) -> IngestResult:
        """Fold a batch kept by `UnitRecords.keep`; `sign_in_window_s`: the window lane inspectors' failed sign-ins are counted in."""
        return self.engine.retrying(lambda cur: self._fold(cur, batch, now, sign_in_window_s), fast=True)

    def keep_and_fold(self, batch: Batch, now: float, sign_in_window_s: float) -> IngestResult:
        """`UnitRecords.keep` then `fold`: on PostgreSQL in those two transactions; on SQLite (one writer at a time) in
        one, the events stored now folded without being listed in `unfolded` and claimed back from it.

        The fold runs in a savepoint: when it fails, the events are still kept, listed in `unfolded` (a redelivery or
        the sweep folds them, as after a failed second transaction), and the fold's error is raised once committed."""
        if self.engine.pg:
            self.unit_records.keep(batch)
            return self.fold(batch, now, sign_in_window_s)
        failed: list[Exception] = []

        def run(cur: Cur) -> IngestResult | None:
            stored = self.unit_records.keep_in(cur, batch, listed=False)
            cur.x("SAVEPOINT fold")
            try:
                res = self._fold(cur, batch, now, sign_in_window_s, stored)
            except Exception as exc:  # noqa: BLE001 - raised below, once the events are committed
                cur.x("ROLLBACK TO SAVEPOINT fold")
                cur.x("RELEASE SAVEPOINT fold")
                self.unit_records.list_unfolded_in(cur, batch, stored)
                failed.append(exc)
                return None
            cur.x("RELEASE SAVEPOINT fold")
            return res

        result = self.engine.retrying(run)
        if result is None:
            raise failed[-1]
        return result

    def unfolded(self, older_than_s: float = 60.0, limit: int = 5000, now: float | None = None) -> Batch | None:
        """Events stored but never folded (their worker died between its two transactions), as a batch to fold; None if none."""
        now = time.time() if now is None else now
        with self.engine.tx(write=False) as cur:
            rows = cur.q(
                "SELECT e.unit, e.seq, e.site, e.ts, e.kind, e.case_id, e.station, e.actor, e.data, e.received_at, e.prev, e.hash "
                "FROM unfolded u JOIN events e ON e.unit = u.unit AND e.seq = u.seq WHERE u.received_at < ? ORDER BY u.received_at LIMIT ?",
                (now - older_than_s, limit),
            )
        if not rows:
            return None
        batch = Batch()
        for r in rows:
            ev = event_chains.event_of_row(r)
            refused = ev.kind == EventKind.EVENT_REFUSED
            batch.events[(ev.unit, ev.seq)] = Arrived(
                r["site"], ev, r["received_at"], None if refused else (r["hash"] or event_hash(ev))
            )
        return batch

    # -- the transaction
    def _fold(
        self,
        cur: Cur,
        b: Batch,
        now: float,
        sign_in_window_s: float,
        stored_now: set[tuple[str, int]] | None = None,
    ) -> IngestResult:
        """`stored_now`: the events this transaction stored, not listed in `unfolded` (`keep_and_fold`); the batch's
        other events are claimed from `unfolded` (stored earlier, never folded) or are duplicates."""
        res = IngestResult(dead=len(b.dead), dead_reasons=[d.reason or "" for d in b.dead], conflicts=len(b.conflicts))
        unit_site = self._unit_sites(b)
        units_before = self._lock_units(cur, unit_site)
        owners = {c: case_owner(c) for c in {a.ev.case_id for a in b.events.values()} if c}  # (one match per case)
        case_ids = sorted(
            {
                a.ev.case_id
                for a in b.events.values()
                if a.ev.case_id and owners[a.ev.case_id] == a.ev.unit and is_case_event(a.ev.kind)
            }
        )
        facts = self.cases.lock_in(cur, case_ids)

        if stored_now is None:
            claimed = self._claim(cur, list(b.events)) if b.events else set()
        else:
            claimed = stored_now | self._claim(cur, [k for k in b.events if k not in stored_now])
        inserted = [t for k, t in b.events.items() if k in claimed]  # arrival order, for gap / reorder bookkeeping
        res.stored = len(inserted)
        res.duplicates = len(b.events) - len(inserted) + b.in_batch_dupes
        breaks = event_chains.link_breaks_in(cur, [a for a in inserted if a.hash is not None])
        self._count_units(cur, b, inserted, claimed, breaks, units_before, unit_site, res, now)

        replaced = [b.events[k] for k in sorted(b.superseded) if k in claimed]
        res.findings = FoldFindings(
            conflicts=b.conflicts
            + [Conflict(a.site, a.ev.unit, a.ev.seq, None, a.ev, a.hash, a.received_at) for a in replaced],
            refused=[a for a in inserted if a.hash is None],
            breaks=breaks,
            dead_dropped=dict(b.dead_dropped),
            unit_site=unit_site,
        )
        if inserted:
            self._project(cur, inserted, facts, owners, res.findings, sign_in_window_s)
        for unit, i in b.telemetry.items():
            tm = i.payload
            assert isinstance(tm, Telemetry)
            offline = [bd.name for bd in tm.boards if not bd.online]
            cur.x(
                "UPDATE units SET telemetry = ?, telemetry_at = ?, stage = ?, outbox_depth = ?, boards_offline = ?, last_seen_at = ? WHERE unit = ?",
                (tm.model_dump_json(), tm.ts, tm.stage, tm.outbox_depth, json.dumps(offline), now, unit),
            )
        return res

    @staticmethod
    def _unit_sites(b: Batch) -> dict[str, str]:
        """Every unit the batch touches, with its site."""
        unit_site: dict[str, str] = {}
        for a in b.events.values():
            unit_site[a.ev.unit] = a.site
        for c in b.conflicts:
            unit_site.setdefault(c.unit, c.site)
        for d in b.dead:
            if d.unit and d.unit in b.dead_dropped:
                unit_site.setdefault(d.unit, d.site or "")
        for i in b.telemetry.values():
            unit_site.setdefault(i.unit or "", i.site or "")
        return unit_site

    def _lock_units(self, cur: Cur, unit_site: dict[str, str]) -> dict[str, dict[str, Any]]:
        """The units' watermark and highest seq, their rows created if new and locked in unit order."""
        if not unit_site:
            return {}
        names = sorted(unit_site)
        self.unit_records.ensure_units_in(cur, unit_site)
        rows = cur.q(
            f"SELECT unit, acked_seq, max_seq FROM units WHERE unit IN ({marks(len(names))}) ORDER BY unit{self.engine.for_update()}",
            names,
        )
        return {row["unit"]: row for row in rows}

    @staticmethod
    def _claim(cur: Cur, keys: list[tuple[str, int]]) -> set[tuple[str, int]]:
        """Take stored, not yet folded events off `unfolded`; returns the keys this transaction claimed (and so folds)."""
        claimed: set[tuple[str, int]] = set()
        by_unit: dict[str, list[int]] = defaultdict(list)
        for unit, seq in keys:
            by_unit[unit].append(seq)
        for unit in sorted(by_unit):
            seqs = sorted(by_unit[unit])
            for start in range(0, len(seqs), _CHUNK):
                chunk = seqs[start : start + _CHUNK]
                rows = cur.tuples(
                    f"DELETE FROM unfolded WHERE unit = ? AND seq IN ({marks(len(chunk))}) RETURNING seq",
                    [unit, *chunk],
                )
                claimed.update((unit, int(seq)) for (seq,) in rows)
        return claimed

    def _count_units(
        self,
        cur: Cur,
        b: Batch,
        inserted: list[Arrived],
        claimed: set[tuple[str, int]],
        breaks: dict[str, tuple[int, int, str]],
        units_before: dict[str, dict[str, Any]],
        unit_site: dict[str, str],
        res: IngestResult,
        now: float,
    ) -> None:
        """Unit counters and watermarks; `res` gets the batch's gaps, reorders, breaks, refusals and the watermarks to publish."""
        dupes_per_unit: dict[str, int] = defaultdict(int, b.batch_dupes)
        for unit, seq in b.events:
            if (unit, seq) not in claimed:
                dupes_per_unit[unit] += 1
        per_unit: dict[str, list[int]] = defaultdict(list)
        for a in inserted:
            per_unit[a.ev.unit].append(a.ev.seq)
        integrity = _integrity_counts(b, inserted, breaks)
        res.chain_breaks = sum(n for n, _, _ in breaks.values())
        res.refused = sum(1 for a in inserted if a.hash is None)
        touched_units = sorted(set(per_unit) | set(dupes_per_unit) | set(integrity))
        new_marks = self._advance_watermarks(
            cur, {u: int(units_before.get(u, {"acked_seq": 0})["acked_seq"]) for u in touched_units}
        )
        unit_rows = []
        for unit in touched_units:
            before = units_before.get(unit, {"acked_seq": 0, "max_seq": 0})
            prog = track_sequences(int(before["max_seq"]), per_unit.get(unit, []))
            res.gaps += prog.gaps
            res.out_of_order += prog.out_of_order
            acked = int(before["acked_seq"])
            new_acked = new_marks.get(unit, acked)
            superseded = sum(1 for u, _ in b.superseded if u == unit)
            new_rows = len(per_unit.get(unit, [])) - superseded  # a replaced marker adds no row
            unit_rows.append(
                (
                    prog.max_seq,
                    new_rows,
                    dupes_per_unit.get(unit, 0),
                    prog.gaps,
                    prog.out_of_order,
                    new_acked,
                    *integrity.get(unit, (0, 0, 0, 0)),
                    now,
                    unit,
                )
            )
            # a replaced refusal was covered by the watermark already, and a lone duplicate may mean the unit missed it: say it again
            if new_acked > acked or superseded or (dupes_per_unit.get(unit) and not per_unit.get(unit)):
                res.watermarks[(unit_site.get(unit, ""), unit)] = new_acked
        g = self.engine.greatest
        cur.many(
            f"UPDATE units SET max_seq = {g}(max_seq, ?), stored = stored + ?, duplicates = duplicates + ?, "
            f"gaps = gaps + ?, out_of_order = out_of_order + ?, acked_seq = {g}(acked_seq, ?), conflicts = conflicts + ?, "
            f"chain_breaks = chain_breaks + ?, refused = refused + ?, dead_dropped = dead_dropped + ?, last_seen_at = ? WHERE unit = ?",
            unit_rows,
        )

    @staticmethod
    def _advance_watermarks(cur: Cur, acked: dict[str, int]) -> dict[str, int]:
        """The highest contiguous stored seq per unit, starting from its current watermark (one query)."""
        if not acked:
            return {}
        values = " UNION ALL ".join(["SELECT ? AS unit, ? AS acked"] * len(acked))
        params: list[Any] = [v for u, a in acked.items() for v in (u, a)]
        rows = cur.q(
            f"SELECT w.unit, CASE WHEN EXISTS (SELECT 1 FROM events n WHERE n.unit = w.unit AND n.seq = w.acked + 1) THEN "
            f"(SELECT MIN(e.seq) FROM events e WHERE e.unit = w.unit AND e.seq > w.acked AND NOT EXISTS "
            f"(SELECT 1 FROM events x WHERE x.unit = e.unit AND x.seq = e.seq + 1)) ELSE w.acked END AS mark FROM ({values}) w",
            params,
        )
        return {r["unit"]: int(r["mark"]) for r in rows}

    def _project(
        self,
        cur: Cur,
        inserted: list[Arrived],
        facts: dict[str, CaseFacts],
        owners: dict[str, str | None],
        findings: FoldFindings,
        sign_in_window_s: float,
    ) -> None:
        """Fold events into their cases in time order, with the records some events make; note for each what the rules need."""
        issued_cases = sorted(
            {a.ev.case_id for a in inserted if a.ev.kind == EventKind.CASE_PLATES_ISSUED and a.ev.case_id}
        )
        paid_cases = self.payments.paid_cases_in(cur, issued_cases)
        touched: set[str] = set()
        tallies: dict[str, list[Any]] = {}  # inspector -> [inspections, corrections, site, unit]
        issues: list[tuple[int, tuple[str, str, PlateKind, str | None, str, float]]] = []  # (at, plate issued)
        for site, ev, _, _ in sorted(inserted, key=lambda t: (t.ev.ts, t.ev.unit, t.ev.seq)):
            if ev.case_id and owners[ev.case_id] != ev.unit:
                findings.events.append(FoldedEvent(site, ev, foreign=True))
                continue  # kept in the unit's record, but it changes no case, plate or figure
            registration = bool(ev.case_id) and is_case_event(ev.kind)  # an exam's events name their exam, not a case
            judged = ev.kind in JUDGED_KINDS  # (the rules read the case as it was before only for these)
            before = facts.get(ev.case_id) if judged and registration and ev.case_id else None
            snapshot = before.snapshot() if before is not None else None
            if registration and ev.case_id:
                f = facts.setdefault(ev.case_id, CaseFacts(ev.case_id))
                try:  # the projection must never stop ingest, whatever a lane put in `data`
                    project(f, ev, site)
                except Exception:
                    log.exception("case view not updated by %s#%s", ev.unit, ev.seq)
                touched.add(ev.case_id)
            if ev.case_id and ev.kind in EXAM_KINDS:
                findings.exams += self._exam_in(cur, site, ev)
            if ev.kind == EventKind.CASE_INSPECTED and is_person(ev.actor):
                tallies.setdefault(str(ev.actor), [0, 0, site, ev.unit])[0] += 1
            if ev.kind == EventKind.CASE_VIN_CONFIRMED and is_person(ev.actor) and vin_confirmation(ev.data).corrected:
                tallies.setdefault(str(ev.actor), [0, 0, site, ev.unit])[1] += 1
            failures = None
            if ev.kind == EventKind.INSPECTOR_SIGN_IN_FAILED:
                failures = self.accounts.record_failure_in(cur, sign_in_name(ev), ev.unit, ev.ts, sign_in_window_s)
            number = issued_number(ev.data) if ev.kind == EventKind.CASE_PLATES_ISSUED else None
            if number:  # recorded below, all at once; its clash (if any) is noted on this event
                kind = issued_kind(number, ev.data.get("plate_kind"))
                issues.append((len(findings.events), (number, number[:2], kind, ev.case_id, ev.unit, ev.ts)))
            if judged or failures is not None or number:  # an event no rule looks at is not noted
                findings.events.append(
                    FoldedEvent(site, ev, snapshot, paid_by_bridge=ev.case_id in paid_cases, sign_in_failures=failures)
                )
        if issues:
            clashes = self.plates.issue_all_in(cur, [i for _, i in issues], time.time())
            for (at, _), clash in zip(issues, clashes):
                if clash is not None:
                    findings.events[at] = dataclasses.replace(findings.events[at], plate_clash=clash)
        totals = self.cases.count_inspections_in(cur, {n: (t[0], t[1]) for n, t in tallies.items()})
        findings.inspectors = [InspectorTotals(n, *totals[n], tallies[n][2], tallies[n][3]) for n in sorted(totals)]
        self.cases.save_in(cur, [facts[c] for c in sorted(touched)])

    def _exam_in(self, cur: Cur, site: str, ev: EventEnvelope) -> list[ExamFinding]:
        """Fold one exam event into the exam tables; a failure (whatever the car put in `data`) is logged and undone alone."""
        cur.x("SAVEPOINT exam_fold")
        try:
            found = self.exams.fold_in(cur, site, ev, time.time())
        except Exception:
            log.exception("exam view not updated by %s#%s", ev.unit, ev.seq)
            cur.x("ROLLBACK TO SAVEPOINT exam_fold")
            return []
        cur.x("RELEASE SAVEPOINT exam_fold")
        return found


def _integrity_counts(
    b: Batch, inserted: list[Arrived], breaks: dict[str, tuple[int, int, str]]
) -> dict[str, tuple[int, int, int, int]]:
    """Per unit: (conflicts, chain breaks, refused events, dead letters only counted) of this batch."""
    out: dict[str, list[int]] = defaultdict(lambda: [0, 0, 0, 0])
    for c in b.conflicts:
        out[c.unit][0] += 1
    for unit, (n, _, _) in breaks.items():
        out[unit][1] += n
    for a in inserted:
        if a.hash is None:
            out[a.ev.unit][2] += 1
    for unit, n in b.dead_dropped.items():
        if unit != "?":
            out[unit][3] += n
    return {u: (v[0], v[1], v[2], v[3]) for u, v in out.items()}
