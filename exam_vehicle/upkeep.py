"""The car's clock and disk: no exam starts on an unsynchronised clock or a full disk; tracks kept within budget.

The exam vehicle's counterpart of the lane's `LaneUpkeep` (lane_controller/runtime.py), on the same edge parts
(`edge.clock_sync.ClockGate`, `edge.storage`); on the `gnss` time base a receiver giving dated fixes vouches for
the time exams are judged on.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

from edge.clock_sync import ClockGate, ClockState
from edge.journal import Journal
from edge.storage import DiskGuard, SweepResult, sweep, track_files
from edge.upkeep import watch_upkeep
from exam_vehicle.config import ExamVehicleConfig
from exam_vehicle.gnss import Epoch, FixQuality
from exam_vehicle.time_base import GnssTimeBase, TimeBase

log = logging.getLogger("passlane.exam")


class ExamUpkeep:
    """Clock gate, disk guard and track retention of one exam vehicle."""

    def __init__(
        self,
        cfg: ExamVehicleConfig,
        journal: Journal,
        time_base: TimeBase,
        last_epoch: Callable[[], Epoch | None],
        changed: Callable[[], None],
    ) -> None:
        self.cfg = cfg
        self.journal = journal
        self.time_base = time_base
        self.last_epoch = last_epoch
        self.changed = changed
        self.clock_gate = ClockGate(cfg.clock, extra=self._gnss_time)
        self.disk = DiskGuard(cfg.journal.path.parent, cfg.storage)

    def refusal(self) -> str | None:
        """Why no exam may start now (the clock, then the disk), or None."""
        return self.clock_gate.refusal("exam") or self.disk.refusal("exam")

    def _gnss_time(self) -> ClockState | None:
        """On the `gnss` time base, a receiver giving dated fixes vouches for the time exams are judged on."""
        e = self.last_epoch()
        if not isinstance(self.time_base, GnssTimeBase) or not self.time_base.locked or e is None:
            return None
        if e.quality is FixQuality.INVALID or self.time_base.now() - e.t > 2.0:
            return ClockState(False, "gnss", "no recent GNSS fix")
        return ClockState(True, "gnss", "GNSS time from the receiver (the judging time base)")

    def sweep_tracks(self) -> SweepResult:
        """Delete uploaded tracks the cloud acknowledged, by age and disk budget (on a worker thread)."""
        return sweep(track_files(self.cfg.tracks_dir), self.journal.delivered, self.cfg.storage)

    async def watch(self) -> None:
        """The clock and the disk (status, telemetry) and track retention, periodically (`edge.upkeep`)."""
        await watch_upkeep(
            self.cfg.storage, self.cfg.clock, self.disk, self.clock_gate, self.sweep_tracks, self.changed
        )
