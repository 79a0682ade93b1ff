"""Remote commands sent to units, and the results the units report back."""

from __future__ import annotations

import json
from typing import Any

from cloud_bridge.ingest import Inbound
from cloud_bridge.store.engine import Cur, Engine
from edge.contract import CommandResult


class RemoteCommands:
    """The `commands` table: one row per request id, its status updated by the unit's `cmd/result`."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def record(self, cmd: dict[str, Any]) -> None:
        """A command as sent (status `sent`): request_id, site, unit, command, args, issued_by, reason, issued_at, expires_at."""
        with self.engine.tx() as cur:
            cur.x(
                "INSERT INTO commands (request_id, site, unit, command, args, issued_by, reason, issued_at, expires_at, status) VALUES (?,?,?,?,?,?,?,?,?,'sent')",
                (
                    cmd["request_id"],
                    cmd["site"],
                    cmd["unit"],
                    cmd["command"],
                    json.dumps(cmd["args"]),
                    cmd["issued_by"],
                    cmd["reason"],
                    cmd["issued_at"],
                    cmd["expires_at"],
                ),
            )

    def recent(self, limit: int = 100) -> list[dict[str, Any]]:
        """Newest first."""
        with self.engine.tx(write=False) as cur:
            return cur.q("SELECT * FROM commands ORDER BY issued_at DESC LIMIT ?", (limit,))

    @staticmethod
    def record_results_in(cur: Cur, results: list[Inbound]) -> None:
        """Units' `cmd/result` messages, inside the ingest transaction that stores them (a result names its own unit's command only)."""
        for i in results:
            r = i.payload
            assert isinstance(r, CommandResult)
            cur.x(
                "UPDATE commands SET status = ?, detail = ?, result_at = ? WHERE request_id = ? AND unit = ?",
                (r.status.value, r.detail, r.ts, r.request_id, r.unit),
            )
