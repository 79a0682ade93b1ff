"""The audit log: entries appended to a hash chain under a lock, signed with a key kept outside the database."""

from __future__ import annotations

import json
import time
from typing import Any

from cloud_bridge import audit as audit_chain
from cloud_bridge.store.engine import Cur, Engine, StoreError


class AuditKeyMissing(StoreError):
    """An entry would be appended unsigned to a signed audit log (and make `audit verify` fail for good)."""


class AuditLog:
    """The `audit` table and its head (`meta` key `audit_head`), plus the last configuration seen (`meta` key `config`).

    Ids are contiguous: each append takes the chain's lock (SQLite `BEGIN IMMEDIATE`, PostgreSQL advisory
    lock), reads the head, and writes the entry and the new head in one transaction. `key` (from `[audit]`
    in bridge.toml, never stored here) signs each entry; a signed log refuses unsigned entries.
    """

    def __init__(self, engine: Engine, key: bytes | None = None) -> None:
        self.engine = engine
        self.key = key

    def append(self, actor: str, action: str, target: str, detail: Any = None, now: float | None = None) -> int:
        """Append one entry; returns its id. Raises AuditKeyMissing on a signed log without the key."""
        now = time.time() if now is None else now
        detail = detail if detail is not None else {}
        with self.engine.tx() as cur:
            self.engine.lock(cur, "audit")
            last_id, last_hash = self._head(cur) or (0, audit_chain.GENESIS)
            if self.key is None and last_id and cur.scalar("SELECT mac FROM audit WHERE id = ?", (last_id,)):
                raise AuditKeyMissing(
                    "this audit log is signed: give its key (--audit-key-file, [audit] key_file or $PASSLANE_AUDIT_KEY) "
                    "to write to it"
                )
            new_id = last_id + 1
            h = audit_chain.entry_hash(last_hash, new_id, now, actor, action, target, detail)
            mac = audit_chain.entry_mac(self.key, new_id, h) if self.key else None
            cur.x(
                "INSERT INTO audit (id, ts, actor, action, target, detail, prev_hash, hash, mac) VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    new_id,
                    round(now, 6),
                    actor,
                    action,
                    target,
                    json.dumps(detail, ensure_ascii=False, sort_keys=True),
                    last_hash,
                    h,
                    mac,
                ),
            )
            cur.x(
                "INSERT INTO meta (key, value) VALUES ('audit_head', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                (f"{new_id}:{h}",),
            )
        return new_id

    @staticmethod
    def _head(cur: Cur) -> tuple[int, str] | None:
        row = cur.one("SELECT value FROM meta WHERE key = 'audit_head'")
        if not row:
            return None
        a, b = row["value"].split(":", 1)
        return int(a), b

    def entries(self, limit: int | None = None) -> list[dict[str, Any]]:
        """The newest `limit` entries, newest first; without a limit, all of them in id order."""
        with self.engine.tx(write=False) as cur:
            if limit:
                return cur.q("SELECT * FROM audit ORDER BY id DESC LIMIT ?", (limit,))
            return cur.q("SELECT * FROM audit ORDER BY id")

    def verify(self) -> list[str]:
        """Problems of the chain (edited, deleted, unsigned entries, a deleted tail); empty when intact."""
        with self.engine.tx(write=False) as cur:
            rows = cur.q("SELECT * FROM audit ORDER BY id")
            head = self._head(cur)
        return audit_chain.verify_chain(rows, head, self.key)

    def record_config(self, flat: dict[str, Any], actor: str = "system") -> dict[str, list[Any]]:
        """Audit a configuration change since the last start: returns the keys whose value changed, with old and new."""
        with self.engine.tx() as cur:
            self.engine.lock(cur, "config")
            row = cur.one("SELECT value FROM meta WHERE key = 'config'")
            old = json.loads(row["value"]) if row else {}
            changed = {k: [old.get(k), flat.get(k)] for k in sorted(set(old) | set(flat)) if old.get(k) != flat.get(k)}
            if changed:
                cur.x(
                    "INSERT INTO meta (key, value) VALUES ('config', ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                    (json.dumps(flat, sort_keys=True, ensure_ascii=False),),
                )
        if changed:
            self.append(actor, "config.change", "bridge.toml", {"changed": changed})
        return changed
