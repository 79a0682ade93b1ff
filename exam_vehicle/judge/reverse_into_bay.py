"""倒车入库 reverse into bay: past a control line, reverse wholly into the bay, out forward; then again from the other end.

The car starts reversing when it moves with the reverse gear engaged; at that moment both
front wheels must be past one control line (on the side away from the bay), and not the
same one as last time. It ends a reversal when it moves forward again: by then its whole
body must have been inside the bay (the bay's lines closed across the mouth) for as many
consecutive epochs as confirm a line touch. The body must
never touch a bay line or a road edge line. Stops are 'midway' unless the car changes
between forward and reverse in them.
"""

from __future__ import annotations

from typing import ClassVar

import shapely
from shapely.geometry import LineString, Point

from exam_vehicle.car import CarModel, PlacedCar
from exam_vehicle.course import Course, ItemMap
from exam_vehicle.judge.item import ItemJudge, where
from exam_vehicle.judge.motion import Finding, LineWatch, Tick
from exam_vehicle.rules import RulesTable


def _side(line: LineString, px: float, py: float) -> float:
    """Which side of a line a point is on (the sign of the cross product)."""
    (x1, y1), (x2, y2) = line.coords[0][:2], line.coords[-1][:2]
    return (x2 - x1) * (py - y1) - (y2 - y1) * (px - x1)


class ReverseIntoBay(ItemJudge):
    item = "reverse_into_bay"
    PARAMS: ClassVar[dict[str, tuple[str, ...]]] = {
        "bay-route": ("entries",),
        "bay-control-line": (),
        "bay-not-entered": (),
        "bay-body-over-line": (),
        "bay-stop-over-2s": ("over_s",),
        "bay-time-limit": ("limit_s",),
    }
    TIME_LIMIT = "bay-time-limit"

    def __init__(self, course: Course, m: ItemMap, car: CarModel, rules: RulesTable) -> None:
        super().__init__(course, m, car, rules)
        self.lines = shapely.union_all([f.geom for f in m.lines("bay_line") + m.lines("edge_line")])
        shapely.prepare(self.lines)
        self.bay = m.bay
        shapely.prepare(self.bay)
        self.controls = [f.geom for f in m.lines("control_line")]
        self.body_watch = LineWatch(self.confirm)
        self.entries = 0
        self.ends_used: list[int] = []
        self.reversing = False
        self.in_bay = False
        self._inside_run = 0  # consecutive epochs with the whole body in the bay (as many as a line touch needs)

    def _past_control(self, placed: PlacedCar) -> int | None:
        """Which control line both front wheels are past (away from the bay), or None."""
        c = self.bay.centroid
        for i, line in enumerate(self.controls):
            bay_side = _side(line, c.x, c.y)
            if all(
                _side(line, *placed.wheel(name)) * bay_side < 0 and not line.intersects(placed.wheel_tread(name))
                for name in ("front_left", "front_right")
            ):
                return i
        return None

    def epoch(self, tick: Tick) -> list[Finding]:
        out: list[Finding] = []
        body = tick.placed.body
        if self.body_watch.update(self.lines.intersects(body)):
            out.append(Finding("bay-body-over-line", tick.t, where(body, self.lines), "the body touched a line"))
        if not tick.stopped and tick.reverse and not self.reversing:
            out += self._reversal_begins(tick)
        elif not tick.stopped and not tick.reverse and self.reversing:
            self.reversing = False
            if not self.in_bay:
                out.append(
                    Finding(
                        "bay-not-entered",
                        tick.t,
                        tick.placed.centre,
                        "drove forward again without the whole body in the bay",
                    )
                )
            else:
                self.entries += 1
        if self.reversing and not self.in_bay:
            self._inside_run = self._inside_run + 1 if self.bay.contains(body) else 0
            self.in_bay = self._inside_run >= self.confirm
        out += self.long_stop_ended(tick, "bay-stop-over-2s")
        return out

    def _reversal_begins(self, tick: Tick) -> list[Finding]:
        """Judged where the car stood before it moved back (motion is confirmed a few centimetres later)."""
        self.reversing, self.in_bay, self._inside_run = True, False, 0
        s = tick.stop
        placed = (
            s.settled(self.car) if s is not None and s.ended_t is not None and tick.t - s.ended_t < 2.0 else tick.placed
        )
        end = self._past_control(placed)
        if end is None:
            return [
                Finding(
                    "bay-control-line",
                    tick.t,
                    placed.wheel("front_left"),
                    "started reversing with the front wheels short of the control line",
                )
            ]
        if end in self.ends_used:
            return [Finding("bay-route", tick.t, tick.placed.centre, "reversed in from the same end again")]
        self.ends_used.append(end)
        return []

    def end(self, tick: Tick | None, t: float) -> list[Finding]:
        needed = int(self.p("bay-route", "entries"))
        self.completed = self.entries >= needed and not self.reversing
        if self.completed:
            return []
        at = tick.placed.centre if tick else Point(self.m.area.centroid).coords[0]
        return [Finding("bay-route", t, at, f"left the item after {self.entries} of {needed} entries into the bay")]
