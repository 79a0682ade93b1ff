"""Health telemetry of a unit, every N seconds: low value, dropped (and counted) when offline."""

from __future__ import annotations

import logging
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import psutil

from edge.contract import BoardHealth, Leaf, Telemetry

log = logging.getLogger("passlane.telemetry")


def cpu_temp_c() -> float | None:
    """The SoC temperature (Raspberry Pi: thermal_zone0), None where there is none."""
    try:
        return round(int(Path("/sys/class/thermal/thermal_zone0/temp").read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None


def sample(
    unit: str,
    *,
    outbox_depth: int,
    outbox_alarm: bool,
    dropped: int,
    boards: list[BoardHealth],
    camera_fps: float | None,
    disk_path: Path,
    stations: dict[str, Any] | None = None,
    now: float | None = None,
    clock_synced: bool | None = None,
    disk_full: bool = False,
) -> Telemetry:
    du = shutil.disk_usage(disk_path if disk_path.exists() else Path("/"))
    return Telemetry(
        unit=unit,
        ts=time.time() if now is None else now,
        cpu_temp_c=cpu_temp_c(),
        load_1m=round(os.getloadavg()[0], 2),
        mem_used_pct=psutil.virtual_memory().percent,
        disk_used_pct=round(100.0 * du.used / du.total, 1),
        outbox_depth=outbox_depth,
        outbox_alarm=outbox_alarm,
        telemetry_dropped=dropped,
        boards=boards,
        camera_fps=camera_fps,
        stations=stations or {},
        clock_synced=clock_synced,
        disk_full=disk_full,
    )


class TelemetryPublisher:
    """Publishes ``make()`` every ``interval_s`` while connected; counts what it drops while offline."""

    def __init__(self, session: Any, make: Callable[[int], Telemetry], interval_s: float) -> None:
        self.session = session
        self.make = make
        self.interval_s = interval_s
        self.dropped = 0
        self.sent = 0
        self.last: Telemetry | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="telemetry", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def tick(self) -> bool:
        try:
            t = self.make(self.dropped)
        except Exception:
            log.exception("telemetry sample failed")
            return False
        self.last = t
        if self.session is None or not self.session.connected.is_set():
            self.dropped += 1
            return False
        self.session.publish(Leaf.TELEMETRY, t)
        self.sent += 1
        return True

    def _run(self) -> None:
        while not self._stop.wait(self.interval_s):
            self.tick()
