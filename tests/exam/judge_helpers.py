"""Shared by the judge's tests: the shipped course, cars and tables loaded once, simulated exams made once per session."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from exam_vehicle.car import CarModel, load_car
from exam_vehicle.course import Course, load_course
from exam_vehicle.judge import Deduction, Judge, Result
from exam_vehicle.rules import RulesTable, load_rules
from exam_vehicle.track import Input, TrackHeader
from site_sim.exam_car import PROFILES, drive_exam


@cache
def course() -> Course:
    return load_course("example-site")


@cache
def car(name: str = "c1-example") -> CarModel:
    return load_car(name)


@cache
def rules(name: str = "c1-2022") -> RulesTable:
    return load_rules(name)


@cache
def simulated(profile: str) -> tuple[TrackHeader, tuple[Input, ...]]:
    """A profile's simulated exam (seeded: the same every time)."""
    header, inputs, _ = drive_exam(PROFILES[profile][0])
    return header, tuple(inputs)


@dataclass(frozen=True)
class Judged:
    events: tuple
    deductions: tuple[str, ...]
    result: Result


def judge_inputs(
    inputs: tuple[Input, ...] | list[Input], car_name: str = "c1-example", rules_name: str = "c1-2022"
) -> Judged:
    j = Judge(course(), car(car_name), rules(rules_name))
    events = [e for i in inputs for e in j.feed(i)] + j.finish(inputs[-1].t)
    results = [e for e in events if isinstance(e, Result)]
    assert len(results) == 1 and events[-1] is results[0], "exactly one Result, and it comes last"
    return Judged(tuple(events), tuple(e.rule_id for e in events if isinstance(e, Deduction)), results[0])


@cache
def judged(profile: str) -> Judged:
    p = PROFILES[profile][0]
    return judge_inputs(simulated(profile)[1], p.car, p.rules)
