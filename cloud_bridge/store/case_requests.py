"""Per-case request counters: how many partner look-ups (or other requests) a case has made, for the quotas."""

from __future__ import annotations

from cloud_bridge.store.engine import Engine


class CaseRequests:
    """The `case_requests` table: one counter per (case, request kind), counted atomically."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def count(self, case_id: str, kind: str) -> int:
        """Count one more request of `kind` for a case; returns the count including this one."""
        with self.engine.tx() as cur:
            row = cur.one(
                "INSERT INTO case_requests (case_id, kind, n) VALUES (?, ?, 1) ON CONFLICT (case_id, kind) DO UPDATE SET "
                "n = case_requests.n + 1 RETURNING n",
                (case_id, kind),
            )
        return int((row or {}).get("n", 1))
