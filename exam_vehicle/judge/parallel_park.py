"""侧方停车 parallel park: reverse into the bay beside the lane, stop wholly inside it, signal and drive out forward.

The stop where the car changes from reverse to forward is the parking stop: the body must
then be wholly inside the bay (its lines closed across the lane side). As the car moves
off out of the bay the signal towards the lane (away from the bay's side) must be on and
the other one off. Each touch of a lane edge line by a wheel, and of a bay line by the
body, costs points each time. Stops are 'midway' unless the car changes direction in them.
"""

from __future__ import annotations

from typing import ClassVar

import shapely

from exam_vehicle.car import CarModel
from exam_vehicle.course import Course, ItemMap
from exam_vehicle.judge.item import ItemJudge, where
from exam_vehicle.judge.motion import Finding, LineWatch, Stop, Tick
from exam_vehicle.rules import RulesTable


class ParallelPark(ItemJudge):
    item = "parallel_park"
    PARAMS: ClassVar[dict[str, tuple[str, ...]]] = {
        "parallel-body-out-after-parking": (),
        "parallel-time-limit": ("limit_s",),
        "parallel-wheel-on-lane-line": (),
        "parallel-body-on-bay-line": (),
        "parallel-turn-signal": (),
        "parallel-stop-over-2s": ("over_s",),
    }
    TIME_LIMIT = "parallel-time-limit"

    def __init__(self, course: Course, m: ItemMap, car: CarModel, rules: RulesTable) -> None:
        super().__init__(course, m, car, rules)
        self.lane_lines = shapely.union_all([f.geom for f in m.lines("edge_line")])
        self.bay_lines = shapely.union_all([f.geom for f in m.lines("bay_line")])
        shapely.prepare(self.lane_lines)
        shapely.prepare(self.bay_lines)
        self.bay = m.bay
        shapely.prepare(self.bay)
        self.leave_signal = "left" if m.lines("bay_line")[0].props.get("side", "right") == "right" else "right"
        self.wheel_watch = LineWatch(self.confirm)
        self.body_watch = LineWatch(self.confirm)
        self.reversing = False
        self.parked = False
        self.last_stop: Stop | None = None

    def epoch(self, tick: Tick) -> list[Finding]:
        out: list[Finding] = []
        placed = tick.placed
        if self.wheel_watch.update(self.lane_lines.intersects(placed.wheels)):
            out.append(
                Finding(
                    "parallel-wheel-on-lane-line",
                    tick.t,
                    where(placed.wheels, self.lane_lines),
                    "a wheel touched a lane edge line",
                )
            )
        if self.body_watch.update(self.bay_lines.intersects(placed.body)):
            out.append(
                Finding(
                    "parallel-body-on-bay-line",
                    tick.t,
                    where(placed.body, self.bay_lines),
                    "the body touched a bay line",
                )
            )
        if tick.began is not None:
            self.last_stop = tick.began
        if not tick.stopped and tick.reverse:
            self.reversing = True
        elif not tick.stopped and self.reversing:
            self.reversing = False
            if not self.parked:
                out += self._leaving(tick)
        out += self.long_stop_ended(tick, "parallel-stop-over-2s")
        return out

    def _leaving(self, tick: Tick) -> list[Finding]:
        """The car moves forward after reversing: judge where it parked and its signal as it leaves."""
        self.parked = True
        out: list[Finding] = []
        at = self.last_stop.settled(self.car) if self.last_stop is not None else tick.placed
        if not self.bay.contains(at.body):
            out.append(
                Finding(
                    "parallel-body-out-after-parking",
                    tick.t,
                    where(at.body, self.bay.exterior) or at.centre,
                    "the body was not wholly inside the bay when the car stopped in it",
                )
            )
        fault = self.signal_fault(tick.signals, self.leave_signal)
        if fault:
            out.append(
                Finding("parallel-turn-signal", tick.t, tick.placed.centre, f"moving off out of the bay: {fault}")
            )
        return out

    def end(self, tick: Tick | None, t: float) -> list[Finding]:
        self.completed = self.parked and self.passed_through(tick)
        if self.completed:
            return []
        return [
            Finding(
                "route-order",
                t,
                tick.placed.centre if tick else None,
                "left the parallel park without parking and driving out",
            )
        ]
