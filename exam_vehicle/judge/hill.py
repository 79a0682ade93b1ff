"""坡道定点停车和起步 hill stop and start: stop with the front bumper on the stop line, hold, start without rolling back.

The first stop in the hill's area is the one judged, where the car settled (the mean of its
first standing epochs): the middle of the front bumper's distance from the stop line (either
way) and the body's distance from the right edge line. From that stop until the car is
`started_m` ahead of where it stopped: the handbrake must be set at some point, the car must
not roll back (along the slope, from where it settled; each position the mean of the last
three epochs), and it must start within `limit_s`. A wheel on either edge line fails the test
at any time.
"""

from __future__ import annotations

import math
from collections import deque
from typing import ClassVar

import shapely

from exam_vehicle.car import CarModel, PlacedCar
from exam_vehicle.course import Course, ItemMap
from exam_vehicle.judge.item import ItemJudge, where
from exam_vehicle.judge.motion import Finding, LineWatch, Signals, Stop, Tick
from exam_vehicle.rules import RulesTable
from exam_vehicle.signals import Signal, SignalChange


class HillStopAndStart(ItemJudge):
    item = "hill_stop_and_start"
    PARAMS: ClassVar[dict[str, tuple[str, ...]]] = {
        "hill-bumper-over-50cm": ("over_m",),
        "hill-bumper-off-line": ("on_line_m",),
        "hill-body-over-50cm-from-edge": ("over_m",),
        "hill-body-30-50cm-from-edge": ("over_m",),
        "hill-start-over-30s": ("limit_s", "started_m"),
        "hill-rollback-over-30cm": ("over_m",),
        "hill-rollback-10-30cm": ("over_m",),
        "hill-handbrake-not-set": (),
        "hill-wheel-on-edge-line": (),
    }

    def __init__(self, course: Course, m: ItemMap, car: CarModel, rules: RulesTable) -> None:
        super().__init__(course, m, car, rules)
        self.edges = shapely.union_all([f.geom for f in m.lines("edge_line")])
        shapely.prepare(self.edges)
        self.right_edge = m.lines("edge_line", side="right")[0].geom
        self.stop_line = m.lines("stop_line")[0].geom
        c = self.stop_line.centroid
        self.uphill = math.radians(course.route_bearing_at(course.route.project(c)))
        self.slope_factor = 1.0 / math.cos(math.atan(m.grade_at(c)))  # horizontal metres to metres along the slope
        self.wheel_watch = LineWatch(self.confirm)
        self.stop: Stop | None = None
        self.ref: tuple[float, float] | None = None
        self.rollback = 0.0
        self.started = False
        self.handbrake = False
        self.rollback_failed = False
        self.recent: deque[tuple[float, float]] = deque(maxlen=rules.judging.position_mean_epochs)

    def _along(self, e: float, n: float) -> float:
        """Metres uphill from where the car settled (horizontal)."""
        assert self.ref is not None
        return (e - self.ref[0]) * math.sin(self.uphill) + (n - self.ref[1]) * math.cos(self.uphill)

    def epoch(self, tick: Tick) -> list[Finding]:
        out: list[Finding] = []
        if self.wheel_watch.update(self.edges.intersects(tick.placed.wheels)):
            out.append(
                Finding(
                    "hill-wheel-on-edge-line",
                    tick.t,
                    where(tick.placed.wheels, self.edges),
                    "a wheel touched an edge line",
                )
            )
        if (
            self.stop is None
            and tick.began is not None
            and self.started_t is not None
            and tick.began.t >= self.started_t
        ):
            self.stop = tick.began
            self.handbrake = tick.signals.is_on(Signal.HANDBRAKE)
        elif (
            self.stop is not None
            and self.ref is None
            and (len(self.stop.samples) >= self.rules.judging.settle_epochs or not tick.stopped)
        ):
            placed = self.stop.settled(self.car)
            self.ref = (
                sum(x[0] for x in self.stop.samples) / len(self.stop.samples),
                sum(x[1] for x in self.stop.samples) / len(self.stop.samples),
            )
            out += self._judge_stop(tick, placed)
        if self.ref is not None and not self.started:
            out += self._after_stop(tick)
        return out

    def _judge_stop(self, tick: Tick, placed: PlacedCar) -> list[Finding]:
        out: list[Finding] = []
        be, bn = placed.front_bumper
        c = self.stop_line.centroid
        ahead = (be - c.x) * math.sin(self.uphill) + (bn - c.y) * math.cos(self.uphill)
        off = abs(ahead)
        how = f"front bumper {off * 100:.0f} cm {'past' if ahead > 0 else 'short of'} the stop line"
        if off > self.p("hill-bumper-over-50cm", "over_m"):
            out.append(Finding("hill-bumper-over-50cm", tick.t, (be, bn), how))
        elif off > self.p("hill-bumper-off-line", "on_line_m"):
            out.append(Finding("hill-bumper-off-line", tick.t, (be, bn), how))
        gap = placed.body.distance(self.right_edge)
        how = f"body {gap * 100:.0f} cm from the right edge line"
        if gap > self.p("hill-body-over-50cm-from-edge", "over_m"):
            out.append(Finding("hill-body-over-50cm-from-edge", tick.t, placed.centre, how))
        elif gap > self.p("hill-body-30-50cm-from-edge", "over_m"):
            out.append(Finding("hill-body-30-50cm-from-edge", tick.t, placed.centre, how))
        return out

    def _after_stop(self, tick: Tick) -> list[Finding]:
        self.recent.append((tick.e, tick.n))
        along = self._along(
            sum(p[0] for p in self.recent) / len(self.recent), sum(p[1] for p in self.recent) / len(self.recent)
        )
        self.rollback = max(self.rollback, -along * self.slope_factor)
        if self.rollback > self.p("hill-rollback-over-30cm", "over_m") and not self.rollback_failed:
            self.rollback_failed = True
            return [
                Finding(
                    "hill-rollback-over-30cm", tick.t, tick.placed.centre, f"rolled back {self.rollback * 100:.0f} cm"
                )
            ]
        if along < self.p("hill-start-over-30s", "started_m"):
            return []
        self.started = True
        out: list[Finding] = []
        if self.rollback > self.p("hill-rollback-10-30cm", "over_m"):
            out.append(
                Finding(
                    "hill-rollback-10-30cm", tick.t, tick.placed.centre, f"rolled back {self.rollback * 100:.0f} cm"
                )
            )
        if not self.handbrake:
            out.append(
                Finding(
                    "hill-handbrake-not-set",
                    tick.t,
                    tick.placed.centre,
                    "the handbrake was not set between the stop and the start",
                )
            )
        return out

    def signal(self, change: SignalChange, signals: Signals) -> list[Finding]:
        if change.signal is Signal.HANDBRAKE and change.value is True and self.stop is not None and not self.started:
            self.handbrake = True
        return []

    def time(self, t: float) -> list[Finding]:
        if self.stop is None or self.started or self._over_time:
            return []
        limit = self.p("hill-start-over-30s", "limit_s")
        if t - self.stop.t <= limit:
            return []
        self._over_time = True
        return [
            Finding(
                "hill-start-over-30s", t, self.stop.placed.centre, f"not started {t - self.stop.t:.1f} s after the stop"
            )
        ]

    def end(self, tick: Tick | None, t: float) -> list[Finding]:
        self.completed = self.started
        if self.stop is None:
            at = tick.placed.centre if tick else None
            return [Finding("hill-bumper-over-50cm", t, at, "left the hill without stopping at the stop line")]
        if not self.started:
            return [Finding("route-order", t, self.stop.placed.centre, "left the hill without starting up it")]
        return []
