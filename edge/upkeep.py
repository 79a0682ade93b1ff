"""The unit's periodic upkeep, one loop for the lane and the exam car: retention, free space, the clock."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from edge.clock_sync import ClockGate
from edge.storage import DiskGuard
from edge.unit_config import ClockConfig, StorageConfig

log = logging.getLogger("passlane.upkeep")


async def watch_upkeep(
    storage: StorageConfig,
    clock: ClockConfig,
    disk: DiskGuard,
    gate: ClockGate,
    sweep: Callable[[], Any],
    after: Callable[[], None],
) -> None:
    """Every clock check interval: the disk and the clock, then `after` (alerts, status); every sweep interval:
    `sweep` (photo or track retention). Blocking work on worker threads; a failure is logged and tried again."""
    swept_at = -float("inf")
    while True:
        try:
            if time.monotonic() - swept_at >= storage.sweep_interval_s:
                swept_at = time.monotonic()
                await asyncio.to_thread(sweep)
            await asyncio.to_thread(disk.check)
            await asyncio.to_thread(gate.probe)
        except Exception:  # tried again next time; a failed sweep must not stop the checks
            log.exception("storage check failed")
        after()
        await asyncio.sleep(min(storage.sweep_interval_s, clock.check_interval_s))  # the period
