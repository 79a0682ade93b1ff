"""Risk alerts: one open alert per key, raised again by updating it; acknowledged and resolved by name."""

from __future__ import annotations

import time
from collections import defaultdict
from typing import Any

from cloud_bridge.rules import AlertSignal
from cloud_bridge.store.engine import Cur, Engine


class Alerts:
    """The `alerts` table. The partial unique index on `dedup_key WHERE resolved_at IS NULL` keeps one open alert per key."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def raise_all(self, signals: list[AlertSignal], now: float | None = None, *, fast: bool = False) -> None:
        """Open an alert per new key, or update the open one: its count grows by the signals of that key, the last detail wins.

        `fast`: commit like the ingest fold (PostgreSQL does not wait for the disk), for alerts raised right after it.
        """
        if not signals:
            return
        now = time.time() if now is None else now
        self.engine.retrying(lambda cur: self._raise(cur, signals, now), fast=fast)

    @staticmethod
    def _raise(cur: Cur, signals: list[AlertSignal], now: float) -> None:
        latest: dict[str, AlertSignal] = {}
        counts: dict[str, int] = defaultdict(int)
        for sig in signals:
            latest[sig.key] = sig
            counts[sig.key] += 1
        cur.many(
            "INSERT INTO alerts (dedup_key, rule, severity, site, unit, case_id, title, detail, count, first_seen, last_seen, status) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') ON CONFLICT (dedup_key) WHERE resolved_at IS NULL DO UPDATE SET "
            "count = alerts.count + excluded.count, last_seen = excluded.last_seen, detail = excluded.detail, severity = excluded.severity",
            [
                (
                    s.key,
                    s.rule.value,
                    s.severity.value,
                    s.site,
                    s.unit,
                    s.case_id,
                    s.title,
                    s.detail,
                    counts[k],
                    now,
                    now,
                )
                for k, s in sorted(latest.items())
            ],
        )

    def recent(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first; `status`: active (not resolved), open, acknowledged or resolved."""
        with self.engine.tx(write=False) as cur:
            if status == "active":
                return cur.q("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY last_seen DESC LIMIT ?", (limit,))
            if status:
                return cur.q("SELECT * FROM alerts WHERE status = ? ORDER BY last_seen DESC LIMIT ?", (status, limit))
            return cur.q("SELECT * FROM alerts ORDER BY last_seen DESC LIMIT ?", (limit,))

    def get(self, alert_id: int) -> dict[str, Any] | None:
        with self.engine.tx(write=False) as cur:
            return cur.one("SELECT * FROM alerts WHERE id = ?", (alert_id,))

    def acknowledge(self, alert_id: int, user: str, now: float | None = None) -> bool:
        """False when no open alert has that id (already acknowledged, resolved, or none)."""
        now = time.time() if now is None else now
        with self.engine.tx() as cur:
            return (
                cur.x(
                    "UPDATE alerts SET status = 'acknowledged', acked_by = ?, acked_at = ? WHERE id = ? AND status = 'open'",
                    (user, now, alert_id),
                )
                == 1
            )

    def resolve(self, alert_id: int, user: str, now: float | None = None) -> bool:
        """False when no unresolved alert has that id; resolving also acknowledges, if nobody did."""
        now = time.time() if now is None else now
        with self.engine.tx() as cur:
            return (
                cur.x(
                    "UPDATE alerts SET status = 'resolved', resolved_by = ?, resolved_at = ?, acked_by = COALESCE(acked_by, ?), "
                    "acked_at = COALESCE(acked_at, ?) WHERE id = ? AND resolved_at IS NULL",
                    (user, now, user, now, alert_id),
                )
                == 1
            )

    def open_by_severity(self) -> dict[str, int]:
        """Unresolved alerts per severity (the dashboard and /metrics)."""
        with self.engine.tx(write=False) as cur:
            return {
                r["severity"]: int(r["n"])
                for r in cur.q("SELECT severity, COUNT(*) AS n FROM alerts WHERE resolved_at IS NULL GROUP BY severity")
            }
