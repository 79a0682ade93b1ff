"""直角转弯 right-angle turn: signal, turn through the corner without a wheel on an edge line, cancel the signal.

The turn begins when the car's heading is `turn_begins_deg` off the road's direction where
the route enters the area: then the signal for the turn (the area's `turn`) must be on and
the other off. Any signal still on when the car leaves the area was not cancelled.
"""

from __future__ import annotations

from typing import ClassVar

import shapely

from exam_vehicle.car import CarModel
from exam_vehicle.course import Course, ItemMap
from exam_vehicle.judge.item import ItemJudge, angle_between, where
from exam_vehicle.judge.motion import Finding, LineWatch, Tick
from exam_vehicle.rules import RulesTable
from exam_vehicle.signals import Signal


class RightAngleTurn(ItemJudge):
    item = "right_angle_turn"
    PARAMS: ClassVar[dict[str, tuple[str, ...]]] = {
        "right-angle-wheel-on-edge-line": (),
        "right-angle-turn-signal": ("turn_begins_deg",),
        "right-angle-signal-not-cancelled": (),
        "right-angle-stop-over-2s": ("over_s",),
    }

    def __init__(self, course: Course, m: ItemMap, car: CarModel, rules: RulesTable) -> None:
        super().__init__(course, m, car, rules)
        self.edges = shapely.union_all([f.geom for f in m.lines("edge_line")])
        shapely.prepare(self.edges)
        self.turn = str(m.props.get("turn", "left"))
        self.wheel_watch = LineWatch(self.confirm)
        self.turning = False

    def epoch(self, tick: Tick) -> list[Finding]:
        out: list[Finding] = []
        if self.wheel_watch.update(self.edges.intersects(tick.placed.wheels)):
            out.append(
                Finding(
                    "right-angle-wheel-on-edge-line",
                    tick.t,
                    where(tick.placed.wheels, self.edges),
                    "a wheel touched an edge line",
                )
            )
        turned = abs(angle_between(self.m.entry_bearing_deg, tick.placed.heading_deg))
        if not self.turning and turned > self.p("right-angle-turn-signal", "turn_begins_deg"):
            self.turning = True
            fault = self.signal_fault(tick.signals, self.turn)
            if fault:
                out.append(
                    Finding("right-angle-turn-signal", tick.t, tick.placed.centre, f"turning {self.turn}: {fault}")
                )
        return out + self.long_stop_now(tick, "right-angle-stop-over-2s")

    def end(self, tick: Tick | None, t: float) -> list[Finding]:
        self.completed = self.turning and self.passed_through(tick)
        out: list[Finding] = []
        if tick is not None and (tick.signals.is_on(Signal.TURN_LEFT) or tick.signals.is_on(Signal.TURN_RIGHT)):
            out.append(
                Finding(
                    "right-angle-signal-not-cancelled",
                    t,
                    tick.placed.centre,
                    "a turn signal was still on leaving the item",
                )
            )
        if not self.completed:
            out.append(
                Finding(
                    "route-order",
                    t,
                    tick.placed.centre if tick else None,
                    "left the right-angle turn without turning through it",
                )
            )
        return out
