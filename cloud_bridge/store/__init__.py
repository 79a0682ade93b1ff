"""The bridge's database: one repository per area over one engine, SQLite or PostgreSQL.

`open_store(url)` builds a `Store`: the engine (`engine.py`: the few hooks where
the two engines differ), the schema (`migrations.py`: one list, both engines)
and a repository per area, each owning its tables' SQL:

=====================  ==========================  ==============================================
attribute              class (module)              tables
=====================  ==========================  ==============================================
``unit_records``       UnitRecords (unit_records)  events, unfolded, units, dead_letters,
                                                   dead_letter_budget, event_conflicts
``fold``               EventFold (fold)            the same, folding what unit_records kept
``cases``              CaseView (cases)            cases, inspector_stats
``plates``             PlatePool (plates)          plates, plate_offers
``payments``           Payments (payments)         payments, payment_nonces
``alerts``             Alerts (alerts)             alerts
``audit``              AuditLog (audit_log)        audit, meta
``accounts``           AccountRecords (accounts)   users, sessions, api_tokens, login_failures
``partner_records``    PartnerRecords              partner_owners, partner_vehicles
``commands``           RemoteCommands (commands)   commands
``case_requests``      CaseRequests                case_requests
``exams``              ExamRecords (exams)         exams, exam_deductions, exam_item_results, exam_tracks
``candidates``         CandidateBook (exams)       exam_candidates
=====================  ==========================  ==============================================

A repository's methods run their own transaction; those ending in ``_in`` take
the caller's cursor, so that another repository's transaction can include them
(a payment marks its case paid; the fold records plates issued and lane
sign-in failures). No business rule lives here: the risk rules judge what the
fold returns (`cloud_bridge.ingest_service`).

Uniqueness that matters is the database's job, not the caller's: events by
(unit, seq); one row per plate number, issued rows never change hands; one
open alert per key (partial unique index); one callback per nonce; audit ids
contiguous under a lock.
"""

from __future__ import annotations

from typing import Any

from cloud_bridge.store.accounts import AccountRecords
from cloud_bridge.store.alerts import Alerts
from cloud_bridge.store.audit_log import AuditKeyMissing, AuditLog
from cloud_bridge.store.case_requests import CaseRequests
from cloud_bridge.store.cases import CaseView
from cloud_bridge.store.commands import RemoteCommands
from cloud_bridge.store.engine import Engine, StoreError, open_engine
from cloud_bridge.store.exams import CandidateBook, DuplicateBooking, ExamRecords
from cloud_bridge.store.fold import EventFold
from cloud_bridge.store.migrations import migrate, schema_version
from cloud_bridge.store.partner_records import PartnerRecords
from cloud_bridge.store.payments import Payments
from cloud_bridge.store.plates import PlatePool, ReserveOutcome
from cloud_bridge.store.unit_records import UnitRecords

__all__ = ["AuditKeyMissing", "DuplicateBooking", "ReserveOutcome", "Store", "StoreError", "open_store"]


class Store:
    """Everything the bridge keeps, by area; plus the few reads that join areas (a case with its timeline, the units
    with their open cases, the summary counts)."""

    def __init__(self, engine: Engine, audit_key: bytes | None = None) -> None:
        self.engine = engine
        self.commands = RemoteCommands(engine)
        self.unit_records = UnitRecords(engine, self.commands)
        self.cases = CaseView(engine)
        self.plates = PlatePool(engine)
        self.payments = Payments(engine, self.cases)
        self.audit = AuditLog(engine, audit_key)
        self.alerts = Alerts(engine, self.audit)
        self.accounts = AccountRecords(engine)
        self.partner_records = PartnerRecords(engine)
        self.case_requests = CaseRequests(engine)
        self.exams = ExamRecords(engine)
        self.candidates = CandidateBook(engine)
        self.fold = EventFold(
            engine, self.unit_records, self.cases, self.plates, self.payments, self.accounts, self.exams
        )

    def migrate(self) -> int:
        """Bring the schema up to date; returns the migrations applied."""
        return migrate(self.engine)

    def schema_version(self) -> int:
        return schema_version(self.engine)

    def close(self) -> None:
        self.engine.close()

    # -- reads across areas
    def case(self, case_id: str) -> dict[str, Any] | None:
        """A case's row with its `timeline` (every stored event of the case), `payments` and `plates`; None if unknown."""
        row = self.cases.get(case_id)
        events = self.unit_records.case_timeline(case_id)
        if row is None and not events:
            return None
        payments = self.payments.of_case(case_id)
        case = dict(row or {"case_id": case_id, "stage_times": {}})
        case["paid"] = bool(case.get("paid")) or any(p["status"] == "paid" for p in payments)
        case["timeline"] = events
        case["payments"] = payments
        case["plates"] = self.plates.numbers(case_id)
        return case

    def units(self) -> list[dict[str, Any]]:
        """Every unit's row with its open cases (`open_cases`) and the one that moved last (`current_case`, `case_stage`, `stage_since`)."""
        rows = self.unit_records.units()
        open_cases = self.cases.open_by_unit()
        for r in rows:
            c = open_cases.get(r["unit"], {})
            r["open_cases"] = int(c.get("n", 0))
            r["current_case"] = c.get("case_id")
            r["case_stage"] = c.get("stage")
            r["stage_since"] = c.get("stage_since")
        return rows

    def counts(self) -> dict[str, Any]:
        """The summary figures (`/api/stats`, `passlane bridge stats`, /metrics): ingest totals, cases by outcome, open alerts."""
        return {
            **self.unit_records.totals(),
            "cases_by_outcome": self.cases.by_outcome(),
            "open_alerts_by_severity": self.alerts.open_by_severity(),
        }


def open_store(url: str, audit_key: bytes | None = None) -> Store:
    """`postgresql://...` opens PostgreSQL; anything else (or `sqlite:///path`) is a SQLite file path. Not migrated: call `migrate()`."""
    return Store(open_engine(url), audit_key)
