"""Risk alerts: one open alert per key, raised again by updating it; acknowledged and resolved by name, or resolved
by the system when the rule says its cause has ended (audited either way)."""

from __future__ import annotations

import itertools
import json
import logging
import time
from collections import defaultdict
from typing import Any

from cloud_bridge.rules import AlertSignal
from cloud_bridge.store.audit_log import AuditLog
from cloud_bridge.store.engine import Cur, Engine, marks

log = logging.getLogger("passlane.bridge")
SYSTEM = "system"  # who resolved an alert whose cause ended (audit actor and `resolved_by`)


class Alerts:
    """The `alerts` table. The partial unique index on `dedup_key WHERE resolved_at IS NULL` keeps one open alert per key.

    Columns beside the English `detail`: `code` and `params` (JSON), the detail for the catalogue; `cleared`, why
    an alert resolved itself (the clearing signal's code), NULL when a person resolved it.
    """

    def __init__(self, engine: Engine, audit: AuditLog | None = None) -> None:
        self.engine = engine
        self.audit = audit

    def raise_all(self, signals: list[AlertSignal], now: float | None = None, *, fast: bool = False) -> list[int]:
        """Open an alert per new key, or update the open one: its count grows by the signals of that key, the last detail wins.

        Clearing signals resolve the open alert of their key, in the order the signals came (a fault and its
        recovery in one batch leave a resolved alert; a recovery then a new fault, an open one). Each alert
        resolved so is written to the audit log; returns their ids.
        `fast`: commit like the ingest fold (PostgreSQL does not wait for the disk), for alerts raised right after it.
        """
        if not signals:
            return []
        now = time.time() if now is None else now
        cleared = self.engine.retrying(lambda cur: self._apply(cur, signals, now), fast=fast)
        for alert_id, sig in cleared:
            self._audit_clearing(alert_id, sig, now)
        return [alert_id for alert_id, _ in cleared]

    def _audit_clearing(self, alert_id: int, sig: AlertSignal, now: float) -> None:
        """The system's resolution in the audit log, like a person's; its loss is logged (the resolution stands)."""
        if self.audit is None:
            return
        detail = {"alert_id": alert_id, "rule": sig.rule.value, "cause": sig.code, "key": sig.key}
        try:
            self.audit.append(SYSTEM, "alert.clear", f"alert/{alert_id}", detail, now)
        except Exception:
            log.exception("alert %s resolved itself but its audit entry was not written", alert_id)

    def _apply(self, cur: Cur, signals: list[AlertSignal], now: float) -> list[tuple[int, AlertSignal]]:
        cleared: list[tuple[int, AlertSignal]] = []
        for clears, run in itertools.groupby(signals, key=lambda s: s.clears):
            if clears:
                cleared += self._clear(cur, list(run), now)
            else:
                self._raise(cur, list(run), now)
        return cleared

    @staticmethod
    def _clear(cur: Cur, signals: list[AlertSignal], now: float) -> list[tuple[int, AlertSignal]]:
        out = []
        for sig in signals:
            sql = "SELECT id FROM alerts WHERE dedup_key = ? AND resolved_at IS NULL"
            params: list[Any] = [sig.key]
            if sig.only_codes:
                sql += f" AND code IN ({marks(len(sig.only_codes))})"
                params += list(sig.only_codes)
            row = cur.one(sql, params)
            if row is None:
                continue
            cur.x(
                "UPDATE alerts SET status = 'resolved', resolved_by = ?, resolved_at = ?, cleared = ? "
                "WHERE id = ? AND resolved_at IS NULL",
                (SYSTEM, now, sig.code, row["id"]),
            )
            out.append((int(row["id"]), sig))
        return out

    @staticmethod
    def _raise(cur: Cur, signals: list[AlertSignal], now: float) -> None:
        latest: dict[str, AlertSignal] = {}
        counts: dict[str, int] = defaultdict(int)
        for sig in signals:
            latest[sig.key] = sig
            counts[sig.key] += 1
        cur.many(
            "INSERT INTO alerts (dedup_key, rule, severity, site, unit, case_id, title, detail, code, params, count, first_seen, "
            "last_seen, status) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 'open') "
            "ON CONFLICT (dedup_key) WHERE resolved_at IS NULL DO UPDATE SET count = alerts.count + excluded.count, "
            "last_seen = excluded.last_seen, detail = excluded.detail, code = excluded.code, params = excluded.params, "
            "severity = excluded.severity",
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
                    s.code or None,
                    json.dumps(s.values, ensure_ascii=False, sort_keys=True, default=str) if s.values else None,
                    counts[k],
                    now,
                    now,
                )
                for k, s in sorted(latest.items())
            ],
        )

    def recent(self, status: str | None = None, limit: int = 200) -> list[dict[str, Any]]:
        """Newest first; `status`: active (not resolved), open, acknowledged or resolved. `params` comes decoded as `values`."""
        with self.engine.tx(write=False) as cur:
            if status == "active":
                rows = cur.q("SELECT * FROM alerts WHERE resolved_at IS NULL ORDER BY last_seen DESC LIMIT ?", (limit,))
            elif status:
                rows = cur.q("SELECT * FROM alerts WHERE status = ? ORDER BY last_seen DESC LIMIT ?", (status, limit))
            else:
                rows = cur.q("SELECT * FROM alerts ORDER BY last_seen DESC LIMIT ?", (limit,))
        return [_decoded(r) for r in rows]

    def get(self, alert_id: int) -> dict[str, Any] | None:
        with self.engine.tx(write=False) as cur:
            row = cur.one("SELECT * FROM alerts WHERE id = ?", (alert_id,))
        return None if row is None else _decoded(row)

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


def _decoded(row: dict[str, Any]) -> dict[str, Any]:
    """A stored alert with its detail's values as an object (`values`), not the stored JSON text."""
    params = row.pop("params", None)
    try:
        row["values"] = json.loads(params) if params else {}
    except ValueError:
        log.warning("alert %s: unreadable params", row.get("id"))
        row["values"] = {}
    return row
