"""The judge: inputs (epochs and signal changes, each stamped `t`) in, events out. No clock, no files.

`Judge(course, car, rules)`; `feed(input)` for each input in arrival order; `finish(t)` when
the test is over from the outside (the examiner ends it, the track ends). Items start when
the car's body centre enters the area of the next item in the route's order and end when
it leaves the area (with `area_leave_margin_m` of hysteresis, so receiver noise at an area's
border cannot end and restart an item). A fail, or a score under the pass mark, ends the
test at once: the current item ends unfinished and the `Result` follows. Epochs that are
not RTK fixed are not judged; when none has been for longer than the table allows, the run
is invalid.
"""

from __future__ import annotations

from typing import Any

import shapely

from edge.settings import ConfigError
from exam_vehicle.car import CarModel
from exam_vehicle.course import Course, structure_problems
from exam_vehicle.gnss.epoch import Epoch, FixQuality
from exam_vehicle.judge.events import (
    Deduction,
    ItemEnded,
    ItemStarted,
    Result,
    RunInvalid,
)
from exam_vehicle.judge.hill import HillStopAndStart
from exam_vehicle.judge.item import ItemJudge
from exam_vehicle.judge.motion import Finding, Motion, Signals, Tick
from exam_vehicle.judge.parallel_park import ParallelPark
from exam_vehicle.judge.reverse_into_bay import ReverseIntoBay
from exam_vehicle.judge.right_angle_turn import RightAngleTurn
from exam_vehicle.judge.s_curve import SCurve
from exam_vehicle.rules import RulesTable
from exam_vehicle.signals import Signal, SignalChange

ITEM_JUDGES: dict[str, type[ItemJudge]] = {
    j.item: j for j in (ReverseIntoBay, HillStopAndStart, ParallelPark, SCurve, RightAngleTurn)
}
GENERAL_RULES: dict[str, tuple[str, ...]] = {
    "seat-belt": (),
    "engine-start-in-gear": (),
    "stall": (),
    "route-order": (),
}
Event = ItemStarted | ItemEnded | Deduction | RunInvalid | Result


def known_rules(items: list[str]) -> dict[str, tuple[str, ...]]:
    """Every rule id the judge judges for these items, with the parameters each needs."""
    out = dict(GENERAL_RULES)
    for item in items:
        out.update(ITEM_JUDGES[item].PARAMS)
    return out


def check_table(rules: RulesTable) -> None:
    """The table has exactly the rules the judge judges, each with its parameters: ConfigError otherwise."""
    unknown_items = [i for i in rules.items if i not in ITEM_JUDGES]
    if unknown_items:
        raise ConfigError(f"rules {rules.version}: no judge for item(s) {', '.join(unknown_items)}")
    known = known_rules(rules.items)
    have = {r.id: r for r in rules.rule}
    problems = [f"missing rule {rid}" for rid in known if rid not in have]
    problems += [f"rule {rid} is not one the judge knows" for rid in have if rid not in known]
    problems += [
        f"rule {rid} lacks parameter {p}"
        for rid, ps in known.items()
        if rid in have
        for p in ps
        if p not in have[rid].params
    ]
    if problems:
        raise ConfigError(f"rules {rules.version}: " + "; ".join(problems))


class Judge:
    """One exam's judge (see the module)."""

    def __init__(self, course: Course, car: CarModel, rules: RulesTable) -> None:
        check_table(rules)
        problems = structure_problems(course, rules.items)
        if problems:
            raise ConfigError(f"course {course.name} cannot be judged for {rules.licence}: " + "; ".join(problems))
        self.course, self.car, self.rules = course, car, rules
        self.signals = Signals()
        self.motion = Motion(course, car, rules.judging)
        order = [i for i in course.order if i in rules.items]
        self.items = [ITEM_JUDGES[i](course, course.items[i], car, rules) for i in order]
        self._leave = [course.items[i].area.buffer(rules.judging.area_leave_margin_m) for i in order]
        for area in self._leave:
            shapely.prepare(area)
        self.current: int | None = None
        self.next = 0
        self.score = rules.start_score
        self.ended = False
        self._last_fixed_t: float | None = None
        self._first_t: float | None = None

    # ------------------------------------------------------------------ inputs
    def feed(self, inp: Epoch | SignalChange) -> list[Event]:
        """Judge one input; the events it caused, in order."""
        if self.ended:
            return []
        out: list[Event] = []
        if isinstance(inp, Epoch) and inp.quality is FixQuality.RTK_FIXED and inp.lat is not None:
            self._last_fixed_t = inp.t
        if self._invalid(inp.t, out):
            return out
        if isinstance(inp, SignalChange):
            findings = self._signal(inp)
        else:
            findings = self._epoch(inp, out) if inp.quality is FixQuality.RTK_FIXED else []
        if self.current is not None:
            findings += self.items[self.current].time(inp.t)
        self._findings(findings, inp.t, out)
        return out

    def finish(self, t: float) -> list[Event]:
        """The test is over from outside: end the current item, fail what was not driven, give the result."""
        if self.ended:
            return []
        out: list[Event] = []
        if self._invalid(t, out):
            return out
        if self.current is not None:
            self._end_item(self.motion.last, t, out)
        if not self.ended and self.next < len(self.items):
            left = ", ".join(j.item for j in self.items[self.next :])
            self._findings(
                [Finding("route-order", t, None, f"the test ended before: {left}")], t, out, ended_by="finished"
            )
        if not self.ended:
            self._result(t, out, "finished")
        return out

    # ------------------------------------------------------------------ judging
    def _invalid(self, t: float, out: list[Event]) -> bool:
        self._first_t = t if self._first_t is None else self._first_t
        since = self._last_fixed_t if self._last_fixed_t is not None else self._first_t
        limit = self.rules.validity.rtk_fixed_loss_max_s
        if t - since <= limit:
            return False
        out.append(RunInvalid(t=t, reason=f"no RTK fixed epoch for {t - since:.1f} s (the table allows {limit:.1f} s)"))
        self._result(t, out, "invalid")
        return True

    def _signal(self, change: SignalChange) -> list[Finding]:
        s, before = self.signals, self.signals.get(change.signal)
        s.values[change.signal] = change.value
        out: list[Finding] = []
        at = self.motion.last.placed.centre if self.motion.last else None
        if change.signal is Signal.SEAT_BELT and change.value is False and self.motion.moved_off:
            out.append(Finding("seat-belt", change.t, at, "the seat belt was unfastened during the test"))
        elif (
            change.signal is Signal.ENGINE_RUNNING
            and change.value is True
            and before is not True
            and s.get(Signal.GEAR_NEUTRAL) is False
        ):
            out.append(Finding("engine-start-in-gear", change.t, at, "the engine started with a gear engaged"))
        elif (
            change.signal is Signal.ENGINE_RUNNING
            and change.value is False
            and before is True
            and s.get(Signal.IGNITION) is not False
        ):
            out.append(Finding("stall", change.t, at, "the engine stopped with the ignition on"))
        if self.current is not None:
            out += self.items[self.current].signal(change, s)
        return out

    def _epoch(self, epoch: Epoch, out: list[Event]) -> list[Finding]:
        first_move = not self.motion.moved_off
        tick = self.motion.tick(epoch, self.signals)
        if tick is None:
            return []
        findings: list[Finding] = []
        if first_move and self.motion.moved_off and not self.signals.is_on(Signal.SEAT_BELT):
            findings.append(
                Finding("seat-belt", tick.t, tick.placed.centre, "moved off without the seat belt fastened")
            )
        centre = tick.placed.centre
        if self.current is not None and not shapely.contains_xy(self._leave[self.current], *centre):
            self._findings(findings, tick.t, out)
            findings = []
            self._end_item(tick, tick.t, out)
        if self.current is None and not self.ended:
            findings += self._enter(tick, centre, out)
        if self.current is not None:
            findings += self.items[self.current].epoch(tick)
        return findings

    def _enter(self, tick: Tick, centre: tuple[float, float], out: list[Event]) -> list[Finding]:
        for k, j in enumerate(self.items):
            if not j.m.contains(*centre):
                continue
            if k == self.next:
                self.current, self.next = k, k + 1
                j.start(tick.t)
                out.append(ItemStarted(t=tick.t, item=j.item))
                return []
            what = (
                "again"
                if k < self.next
                else f"before {self.items[self.next].item}"
                if self.next < len(self.items)
                else "again"
            )
            return [Finding("route-order", tick.t, tick.placed.centre, f"entered {j.item} {what}")]
        return []

    def _end_item(self, tick: Tick | None, t: float, out: list[Event]) -> None:
        assert self.current is not None
        j = self.items[self.current]
        findings = j.end(tick, t)
        self._findings(findings, t, out)
        if self.ended:
            return
        self.current = None
        out.append(ItemEnded(t=t, item=j.item, completed=j.completed))
        if self.next >= len(self.items) and j.completed:
            self._result(t, out, "completed")

    def _findings(self, findings: list[Finding], t: float, out: list[Event], ended_by: str = "disqualified") -> None:
        for f in findings:
            if self.ended:
                return
            rule = self.rules.get(f.rule_id)
            if rule.points != "fail":
                self.score -= int(rule.points)
            e, n = f.where if f.where is not None else (None, None)
            lat = lon = None
            if e is not None and n is not None:
                lat, lon, _ = self.course.geodetic(e, n)
            out.append(
                Deduction(
                    t=f.t,
                    rule_id=rule.id,
                    item=rule.item,
                    points=rule.points,
                    wording=rule.wording,
                    detail=f.detail,
                    score=self.score,
                    e=_r(e),
                    n=_r(n),
                    lat=_r(lat, 8),
                    lon=_r(lon, 8),
                )
            )
            if rule.points == "fail" or self.score < self.rules.pass_mark:
                if self.current is not None:
                    out.append(ItemEnded(t=t, item=self.items[self.current].item, completed=False))
                    self.current = None
                self._result(t, out, ended_by, failed_by=rule.id)

    def _result(self, t: float, out: list[Event], ended_by: Any, failed_by: str | None = None) -> None:
        self.ended = True
        if ended_by == "invalid":
            passed = None
        else:
            passed = failed_by is None and ended_by == "completed" and self.score >= self.rules.pass_mark
        out.append(
            Result(
                t=t,
                score=self.score,
                passed=passed,
                rules_version=self.rules.version,
                ended_by=ended_by,
                failed_by=failed_by,
            )
        )


def _r(x: float | None, nd: int = 3) -> float | None:
    return None if x is None else round(x, nd)
