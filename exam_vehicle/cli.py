"""`passlane exam ...`: the exam vehicle's commands.

Each command group is one `_register_*` function adding its subparser to `COMMANDS`
(another group, such as `run`, adds one function and one line); each sets ``func``.

    passlane exam course check FILE --car CAR
    passlane exam judge --course C --car V --track T [--rules R] [--json]
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from typing import Any


def _load_car_course(car: str, course: str | None) -> tuple[Any, Any]:
    from exam_vehicle.car import load_car
    from exam_vehicle.course import load_course

    return load_car(car), (load_course(course) if course else None)


def _course_check(ns: argparse.Namespace) -> int:
    from edge.settings import ConfigError
    from exam_vehicle.course import check_course

    try:
        car, course = _load_car_course(ns.car, ns.file)
    except ConfigError as exc:
        print(f"exam course check: {exc}", file=sys.stderr)
        return 2
    problems = check_course(course, car)
    for p in problems:
        print(p)
    if problems:
        print(f"{ns.file}: {len(problems)} problem(s) for {car.name}", file=sys.stderr)
        return 1
    print(f"{ns.file}: ok for {car.name} ({car.licence}): items in route order: {', '.join(course.order)}")
    return 0


def _register_course(sub: Any) -> None:
    p = sub.add_parser("course", help="surveyed courses: check one against the standard's sizes")
    csub = p.add_subparsers(dest="course_command", metavar="COMMAND")
    c = csub.add_parser("check", help="check a course (GeoJSON) against the standard's sizes for a car; exit 1 if anything is off")
    c.add_argument("file", help="course file (.geojson) or a shipped course's name (example-site)")
    c.add_argument("--car", required=True, help="car file (.toml) or a shipped car's name (c1-example)")
    c.set_defaults(func=_course_check)
    p.set_defaults(func=lambda ns: (p.print_help(), 2)[1])


def _describe(ev: Any, t0: float) -> str:
    from exam_vehicle.course import ITEM_NAMES_ZH

    at = f"{ev.t - t0:+9.1f} s  "
    kind = ev.kind
    if kind == "item_started":
        return at + f"item started   {ITEM_NAMES_ZH.get(ev.item, '')} {ev.item}"
    if kind == "item_ended":
        return at + f"item ended     {ITEM_NAMES_ZH.get(ev.item, '')} {ev.item} ({'completed' if ev.completed else 'not completed'})"
    if kind == "deduction":
        cost = "fail" if ev.points == "fail" else f"-{ev.points}"
        where = f" at E {ev.e:.2f} N {ev.n:.2f}" if ev.e is not None and ev.n is not None else ""
        return at + f"deduction {cost:>4}  {ev.rule_id}  {ev.wording}  ({ev.detail}){where}  score {ev.score}"
    if kind == "run_invalid":
        return at + f"RUN INVALID    {ev.reason}"
    verdict = "no verdict" if ev.passed is None else "passed" if ev.passed else "not passed"
    return at + f"result         {ev.score} points, {verdict} ({ev.ended_by}{', ' + ev.failed_by if ev.failed_by else ''}), rules {ev.rules_version}"


def _judge(ns: argparse.Namespace) -> int:
    from edge.settings import ConfigError
    from exam_vehicle.judge import Judge
    from exam_vehicle.rules import default_rules, load_rules
    from exam_vehicle.track import read_track

    try:
        car, course = _load_car_course(ns.car, ns.course)
        rules = load_rules(ns.rules) if ns.rules else default_rules(car.licence)
        judge = Judge(course, car, rules)
        header, inputs = read_track(ns.track)
    except (ConfigError, OSError, ValueError) as exc:
        print(f"exam judge: {exc}", file=sys.stderr)
        return 2
    if header is not None and header.rules_version and header.rules_version.split(".")[0] != rules.version.split(".")[0]:
        print(f"exam judge: note: the track was judged with rules {header.rules_version}; replaying with {rules.version}", file=sys.stderr)
    if not inputs:
        print("exam judge: the track has no inputs", file=sys.stderr)
        return 2
    t0 = inputs[0].t
    if not ns.json:
        print(f"{course.name} / {car.name} / rules {rules.version} / track {header.exam_id if header else ns.track} ({len(inputs)} inputs)")
    events = [ev for inp in inputs for ev in judge.feed(inp)] + judge.finish(inputs[-1].t)
    for ev in events:
        print(ev.model_dump_json(exclude_none=True) if ns.json else _describe(ev, t0))
    return 0


def _register_judge(sub: Any) -> None:
    p = sub.add_parser("judge", help="judge a recorded track offline and print the events and the result")
    p.add_argument("--course", required=True, help="course file or shipped name")
    p.add_argument("--car", required=True, help="car file or shipped name")
    p.add_argument("--track", required=True, help="track file (.jsonl or .jsonl.gz)")
    p.add_argument("--rules", help="rules table file or shipped name (default: the car's licence class's table)")
    p.add_argument("--json", action="store_true", help="one JSON object per event")
    p.set_defaults(func=_judge)


COMMANDS: list[Callable[[Any], None]] = [_register_course, _register_judge]


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exam_command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
