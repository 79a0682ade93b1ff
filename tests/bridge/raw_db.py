"""Writes past the store's repositories, for tests only: someone with write access to the database edits it,
or a test empties tables between examples. The bridge never does either; the repositories own every other write."""

from __future__ import annotations

from typing import Any

from cloud_bridge.store import Store


def tamper(store: Store, sql: str, params: tuple[Any, ...] = ()) -> int:
    """Run one statement as an attacker with write access to the database (not the audit key) would."""
    with store.engine.tx() as cur:
        return cur.x(sql, params)


def empty(store: Store, *tables: str) -> None:
    """Delete every row of `tables` (a fresh start between property-test examples on one database)."""
    with store.engine.tx() as cur:
        for table in tables:
            cur.x(f"DELETE FROM {table}")
