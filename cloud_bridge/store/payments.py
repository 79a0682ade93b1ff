"""Payments for a case's fees, and the provider callbacks' nonces (each callback is accepted once)."""

from __future__ import annotations

import json
import secrets
import time
from typing import Any

from cloud_bridge.store.cases import CaseView
from cloud_bridge.store.engine import Cur, Engine, marks

NONCE_KEPT_S = 86400  # far beyond the callback's allowed clock skew: an older nonce could not be replayed anyway


class Payments:
    """The `payments` and `payment_nonces` tables. Marking a payment paid marks its case paid in the same transaction."""

    def __init__(self, engine: Engine, cases: CaseView) -> None:
        self.engine = engine
        self.cases = cases

    def create(
        self, case_id: str, unit: str, site: str, amount_cents: int, items: list[str], now: float | None = None
    ) -> dict[str, Any]:
        """A pending payment for the case, or the pending one of the same amount it already has."""
        now = time.time() if now is None else now
        with self.engine.tx() as cur:
            existing = cur.one(
                "SELECT * FROM payments WHERE case_id = ? AND status = 'pending' AND amount_cents = ?",
                (case_id, amount_cents),
            )
            if existing:
                return existing
            pid = "pay_" + secrets.token_hex(10)
            cur.x(
                "INSERT INTO payments (payment_id, case_id, unit, site, amount_cents, items, status, created_at) VALUES (?,?,?,?,?,?,'pending',?)",
                (pid, case_id, unit, site, amount_cents, json.dumps(items), now),
            )
            return cur.one("SELECT * FROM payments WHERE payment_id = ?", (pid,)) or {}

    def get(self, payment_id: str) -> dict[str, Any] | None:
        """One payment (status pending or paid), or None."""
        with self.engine.tx(write=False) as cur:
            return cur.one("SELECT * FROM payments WHERE payment_id = ?", (payment_id,))

    def of_case(self, case_id: str) -> list[dict[str, Any]]:
        """A case's payments, oldest first."""
        with self.engine.tx(write=False) as cur:
            return cur.q("SELECT * FROM payments WHERE case_id = ? ORDER BY created_at", (case_id,))

    def pending(self) -> list[dict[str, Any]]:
        """Payments still waiting for the provider (what a simulated provider pays)."""
        with self.engine.tx(write=False) as cur:
            return cur.q(
                "SELECT payment_id, case_id, amount_cents FROM payments WHERE status = 'pending' ORDER BY created_at"
            )

    def use_nonce(self, nonce: str, now: float) -> bool:
        """True when the nonce is fresh (and is now spent)."""
        with self.engine.tx() as cur:
            cur.x("DELETE FROM payment_nonces WHERE seen_at < ?", (now - NONCE_KEPT_S,))
            return bool(
                cur.q(
                    "INSERT INTO payment_nonces (nonce, seen_at) VALUES (?, ?) ON CONFLICT (nonce) DO NOTHING RETURNING nonce",
                    (nonce, now),
                )
            )

    def mark_paid(self, payment_id: str, now: float | None = None) -> tuple[dict[str, Any] | None, bool]:
        """(payment, newly paid): idempotent; the case is marked paid in the same transaction."""
        now = time.time() if now is None else now
        with self.engine.tx() as cur:
            changed = (
                cur.x(
                    "UPDATE payments SET status = 'paid', paid_at = ? WHERE payment_id = ? AND status = 'pending'",
                    (now, payment_id),
                )
                == 1
            )
            row = cur.one("SELECT * FROM payments WHERE payment_id = ?", (payment_id,))
            if changed and row:
                self.cases.mark_paid_in(cur, row["case_id"], row["unit"], row["site"])
        return row, changed

    @staticmethod
    def paid_cases_in(cur: Cur, case_ids: list[str]) -> set[str]:
        """Which of the cases have a paid payment, inside the caller's transaction (the fold's plate_without_payment input)."""
        if not case_ids:
            return set()
        return {
            r["case_id"]
            for r in cur.q(
                f"SELECT DISTINCT case_id FROM payments WHERE status = 'paid' AND case_id IN ({marks(len(case_ids))})",
                case_ids,
            )
        }
