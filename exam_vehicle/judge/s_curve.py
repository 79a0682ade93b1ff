"""曲线行驶 S-curve: through both bends without a wheel on an edge line and without stopping."""

from __future__ import annotations

from typing import ClassVar

import shapely

from exam_vehicle.car import CarModel
from exam_vehicle.course import Course, ItemMap
from exam_vehicle.judge.item import ItemJudge, where
from exam_vehicle.judge.motion import Finding, LineWatch, Tick
from exam_vehicle.rules import RulesTable


class SCurve(ItemJudge):
    item = "s_curve"
    PARAMS: ClassVar[dict[str, tuple[str, ...]]] = {"s-curve-wheel-on-edge-line": (), "s-curve-stop": ("over_s",)}

    def __init__(self, course: Course, m: ItemMap, car: CarModel, rules: RulesTable) -> None:
        super().__init__(course, m, car, rules)
        self.edges = shapely.union_all([f.geom for f in m.lines("edge_line")])
        shapely.prepare(self.edges)
        self.wheel_watch = LineWatch(self.confirm)

    def epoch(self, tick: Tick) -> list[Finding]:
        out: list[Finding] = []
        if self.wheel_watch.update(self.edges.intersects(tick.placed.wheels)):
            out.append(
                Finding(
                    "s-curve-wheel-on-edge-line",
                    tick.t,
                    where(tick.placed.wheels, self.edges),
                    "a wheel touched an edge line",
                )
            )
        return out + self.long_stop_now(tick, "s-curve-stop")

    def end(self, tick: Tick | None, t: float) -> list[Finding]:
        self.completed = self.passed_through(tick)
        if self.completed:
            return []
        return [
            Finding(
                "route-order", t, tick.placed.centre if tick else None, "left the S-curve without driving through it"
            )
        ]
