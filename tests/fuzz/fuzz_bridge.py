"""The one place the fuzz tests reach into the bridge's storage: open a store, ingest a batch as a worker does, a
private PostgreSQL. Everything else goes through the bridge's own public ways in (MQTT payloads, its Service, HTTP).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from cloud_bridge.ingest import Inbound
from cloud_bridge.ingest_service import IngestService
from cloud_bridge.rules import RiskRulesConfig
from cloud_bridge.store import Store, open_store
from site_sim import pgcluster

__all__ = ["Store", "dead_letters", "ingester", "open_migrated", "pgcluster", "unit_events", "watermark"]


def open_migrated(db: str) -> Store:
    """A bridge store on a SQLite file or a postgresql:// URL, migrated."""
    store = open_store(db)
    store.migrate()
    return store


def ingester(store: Store) -> Callable[[list[Inbound]], Any]:
    """Ingest a batch into `store` as a worker does: stored, folded, alerts raised; returns the ingest result."""
    return IngestService(store, RiskRulesConfig()).ingest


def unit_events(store: Store, unit: str, after: int = 0, limit: int = 1000) -> list[dict[str, Any]]:
    """A unit's stored events with seq > `after`, in seq order (event.refused markers included)."""
    return store.unit_records.events(unit, after, limit)


def watermark(store: Store, unit: str) -> int:
    """The unit's acknowledged watermark: every seq up to it is stored."""
    return max([int(w["acked_seq"]) for w in store.unit_records.watermarks() if w["unit"] == unit] or [0])


def dead_letters(store: Store, limit: int = 100) -> list[dict[str, Any]]:
    """The newest dead letters, with their reason, encoding and kept bytes."""
    return store.unit_records.dead_letters(limit)
