"""What every item judge shares: its map, its rules' parameters, its time limit, its stops and line touches."""

from __future__ import annotations

from typing import Any, ClassVar

from shapely.geometry import Point

from exam_vehicle.car import CarModel
from exam_vehicle.course import Course, ItemMap
from exam_vehicle.judge.motion import Finding, Signals, Tick
from exam_vehicle.rules import RulesTable
from exam_vehicle.signals import Signal, SignalChange


def where(a: Any, b: Any) -> tuple[float, float] | None:
    """Where two shapes touch (the middle of their overlap), for the examiner's map."""
    inter = a.intersection(b)
    if inter.is_empty:
        return None
    c = inter.centroid
    return (c.x, c.y)


def angle_between(a_deg: float, b_deg: float) -> float:
    """The smallest angle from bearing a to bearing b, signed (clockwise positive)."""
    return (b_deg - a_deg + 540.0) % 360.0 - 180.0


class ItemJudge:
    """One item's judge. The `Judge` starts it when the car enters the area, feeds it and ends it when the car leaves."""

    item: ClassVar[str]
    PARAMS: ClassVar[dict[str, tuple[str, ...]]]  # the rules this item judges and the parameters each needs
    TIME_LIMIT: ClassVar[str | None] = None  # the rule holding the item's time limit (`limit_s`), if any

    def __init__(self, course: Course, m: ItemMap, car: CarModel, rules: RulesTable) -> None:
        self.course, self.m, self.car, self.rules = course, m, car, rules
        self.confirm = rules.judging.line_confirm_epochs
        self.started_t: float | None = None
        self.completed = False
        self._over_time = False
        self._stops_judged: set[float] = set()

    def p(self, rule_id: str, name: str) -> float:
        return self.rules.param(rule_id, name)

    def start(self, t: float) -> None:
        self.started_t = t

    def epoch(self, tick: Tick) -> list[Finding]:
        return []

    def signal(self, change: SignalChange, signals: Signals) -> list[Finding]:
        return []

    def time(self, t: float) -> list[Finding]:
        """The item's time limit, judged on every input (signals too), once."""
        if self.TIME_LIMIT is None or self.started_t is None or self._over_time:
            return []
        limit = self.p(self.TIME_LIMIT, "limit_s")
        if t - self.started_t <= limit:
            return []
        self._over_time = True
        return [Finding(self.TIME_LIMIT, t, detail=f"{t - self.started_t:.1f} s in the item, limit {limit:.0f} s")]

    def end(self, tick: Tick | None, t: float) -> list[Finding]:
        """The car left the area (or the test ended in it); sets `completed`; findings for an unfinished item."""
        return []

    # ------------------------------------------------------------------ shared judgements
    def passed_through(self, tick: Tick | None) -> bool:
        """The car left towards the area's exit (past the middle of the route's way through it), not back the way it came."""
        if tick is None:
            return False
        progress = self.course.route.project(Point(tick.placed.centre))
        return progress > (self.m.entry_progress + self.m.exit_progress) / 2

    def long_stop_now(self, tick: Tick, rule_id: str) -> list[Finding]:
        """A stop over the rule's `over_s`, judged while the car still stands (items with no manoeuvre stops); once per stop."""
        s = tick.stop
        if not tick.stopped or s is None or s.t in self._stops_judged or self.started_t is None or s.t < self.started_t:
            return []
        over = self.p(rule_id, "over_s")
        if tick.t - s.t <= over:
            return []
        self._stops_judged.add(s.t)
        return [Finding(rule_id, tick.t, s.placed.centre, f"stood still over {over:.0f} s (since {s.t:.1f})")]

    def long_stop_ended(self, tick: Tick, rule_id: str) -> list[Finding]:
        """A stop over `over_s` that was not a change between forward and reverse, judged when the car moves off."""
        s = tick.ended
        if s is None or self.started_t is None or s.t < self.started_t or s.direction_change:
            return []
        over = self.p(rule_id, "over_s")
        if s.duration <= over:
            return []
        return [Finding(rule_id, tick.t, s.placed.centre, f"stood still {s.duration:.1f} s without changing direction")]

    def signal_fault(self, signals: Signals, wanted: str) -> str | None:
        """What is wrong with the turn signals when `wanted` ('left' or 'right') should be on, or None."""
        want, other = (
            (Signal.TURN_LEFT, Signal.TURN_RIGHT) if wanted == "left" else (Signal.TURN_RIGHT, Signal.TURN_LEFT)
        )
        if signals.is_on(other):
            return f"the {other.value.removeprefix('turn_')} signal is on, the {wanted} one was wanted"
        if not signals.is_on(want):
            return f"the {wanted} signal is not on"
        return None
