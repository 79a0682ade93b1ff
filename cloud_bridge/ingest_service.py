"""Ingest: store a batch of lane messages, then judge what it showed and raise the alerts.

The store does the storing in two transactions (`UnitRecords.keep`, then
`EventFold.fold`; on SQLite, with one writer at a time, in one: `EventFold.keep_and_fold`)
and judges nothing; the fold returns its findings (each newly
folded event with its case as it was before it, the per-unit integrity
findings, inspectors' totals, sign-in failures, plate clashes). Once the fold
has committed, the pure risk rules (`rules.fold_signals`) turn the findings
into alerts, raised in a third, short transaction.

Trade-off: alerts are raised at most once. A crash (or a failing database)
between the fold's commit and the alerts loses those alerts, never an event or
a count: the events are stored and folded, and a message delivered again is a
duplicate that is not judged again. In exchange the ingest transactions hold
no lock on the alerts table.
"""

from __future__ import annotations

import logging
import time

from cloud_bridge.ingest import Batch, Inbound, IngestResult
from cloud_bridge.rules import RiskRulesConfig, fold_signals
from cloud_bridge.store import Store

log = logging.getLogger("passlane.bridge")


class IngestService:
    """Stores batches of lane messages through the store and raises the alerts the risk rules find in them."""

    def __init__(self, store: Store, rules: RiskRulesConfig) -> None:
        self.store = store
        self.rules = rules

    def ingest(self, items: list[Inbound], now: float | None = None) -> IngestResult:
        """Store a batch; when it returns, every item may be acknowledged to the broker.

        An event stored but not folded (a worker killed between the two transactions, or a fold that failed) is
        folded when its message is delivered again, or by `fold_pending()` in the periodic sweep.
        """
        now = time.time() if now is None else now
        batch = Batch.of(items)
        return self._judged(self.store.fold.keep_and_fold(batch, now, self.rules.failed_logins_window_s), now)

    def fold_pending(self, older_than_s: float = 60.0, limit: int = 5000, now: float | None = None) -> IngestResult:
        """Fold (and judge) events stored but never folded: their worker died between its two transactions and never came back."""
        now = time.time() if now is None else now
        batch = self.store.fold.unfolded(older_than_s, limit, now)
        if batch is None:
            return IngestResult()
        return self._judged(self.store.fold.fold(batch, now, self.rules.failed_logins_window_s), now)

    def _judged(self, result: IngestResult, now: float) -> IngestResult:
        """The fold is committed: judge its findings and raise the alerts (their loss is logged, never raised to the caller)."""
        result.alerts = fold_signals(result.findings, self.rules)
        try:
            self.store.alerts.raise_all(result.alerts, now, fast=True)
        except Exception:
            log.exception("%d alert(s) not raised after a committed batch", len(result.alerts))
        return result
