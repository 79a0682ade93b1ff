"""The car's live position for the console's map: `PositionReport`s on the `position` leaf (QoS 0).

Live data, not evidence: never journaled, never re-sent, dropped while the
broker is away (the exam's uploaded track is the record). Published at most
`position_hz` times a second of the unit's own clock, whatever the receiver's
rate, and only while the receiver gives a position.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from edge.contract import Leaf, PositionReport
from exam_vehicle.course import Course
from exam_vehicle.exam_run import ExamView
from exam_vehicle.gnss import Epoch, FixQuality

log = logging.getLogger("passlane.exam.position")


def position_report(unit: str, course: Course, epoch: Epoch, view: ExamView | None) -> PositionReport | None:
    """The report of one epoch (None without a position); `view` is the exam under way, if any."""
    if epoch.quality is FixQuality.INVALID or epoch.lat is None or epoch.lon is None:
        return None
    e, n, _ = course.enu(epoch.lat, epoch.lon, epoch.alt)
    return PositionReport(
        unit=unit,
        t=epoch.t,
        lat=epoch.lat,
        lon=epoch.lon,
        e=round(e, 3),
        n=round(n, 3),
        heading_deg=epoch.heading_deg if epoch.heading_deg is not None else epoch.course_deg,
        speed_mps=epoch.speed_mps,
        quality=epoch.quality.value,
        exam_id=view.exam_id if view else None,
        item=view.item if view else None,
        score=view.score if view else None,
    )


class PositionFeed:
    """Publishes one epoch in every 1/`hz` seconds of `local` time, when the session is connected."""

    def __init__(self, session: Any, unit: str, course: Course, hz: float, local: Callable[[], float]) -> None:
        self.session, self.unit, self.course = session, unit, course
        self.interval = 1.0 / hz
        self.local = local
        self.published = 0
        self._due = float("-inf")

    def offer(self, epoch: Epoch, view: ExamView | None) -> None:
        now = self.local()
        if now < self._due or not self.session.connected.is_set():
            return
        report = position_report(self.unit, self.course, epoch, view)
        if report is None:
            return
        # on schedule: the next one an interval after this one was due (the rate holds with jitter); late: from now
        self._due = self._due + self.interval if now - self._due < self.interval else now + self.interval
        try:
            self.session.publish(Leaf.POSITION, report)
            self.published += 1
        except Exception:  # the map misses one position; judging goes on
            log.exception("position not published")
