"""`passlane exam ...`: the exam vehicle's commands.

Each command group is one `_register_*` function adding its subparser to `COMMANDS`
(another group, such as `run`, adds one function and one line); each sets ``func``.

    passlane exam run --config exam-vehicle.toml [--start CANDIDATE]
    passlane exam check-config exam-vehicle.toml
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
    c = csub.add_parser(
        "check", help="check a course (GeoJSON) against the standard's sizes for a car; exit 1 if anything is off"
    )
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
        return (
            at
            + f"item ended     {ITEM_NAMES_ZH.get(ev.item, '')} {ev.item} ({'completed' if ev.completed else 'not completed'})"
        )
    if kind == "deduction":
        cost = "fail" if ev.points == "fail" else f"-{ev.points}"
        where = f" at E {ev.e:.2f} N {ev.n:.2f}" if ev.e is not None and ev.n is not None else ""
        return at + f"deduction {cost:>4}  {ev.rule_id}  {ev.wording}  ({ev.detail}){where}  score {ev.score}"
    if kind == "run_invalid":
        return at + f"RUN INVALID    {ev.reason}"
    verdict = "no verdict" if ev.passed is None else "passed" if ev.passed else "not passed"
    return (
        at
        + f"result         {ev.score} points, {verdict} ({ev.ended_by}{', ' + ev.failed_by if ev.failed_by else ''}), rules {ev.rules_version}"
    )


def _judge(ns: argparse.Namespace) -> int:
    from edge.settings import ConfigError
    from exam_vehicle.judge import Judge
    from exam_vehicle.replay import replay
    from exam_vehicle.rules import default_rules, load_rules
    from exam_vehicle.track import load_track

    try:
        car, course = _load_car_course(ns.car, ns.course)
        rules = load_rules(ns.rules) if ns.rules else default_rules(car.licence)
        judge = Judge(course, car, rules)
        track = load_track(ns.track)
        header, inputs = track.header, track.inputs
    except (ConfigError, OSError, ValueError) as exc:
        print(f"exam judge: {exc}", file=sys.stderr)
        return 2
    if (
        header is not None
        and header.rules_version
        and header.rules_version.split(".")[0] != rules.version.split(".")[0]
    ):
        print(
            f"exam judge: note: the track was judged with rules {header.rules_version}; replaying with {rules.version}",
            file=sys.stderr,
        )
    if not inputs:
        print("exam judge: the track has no inputs", file=sys.stderr)
        return 2
    t0 = inputs[0].t
    if not ns.json:
        print(
            f"{course.name} / {car.name} / rules {rules.version} / track {header.exam_id if header else ns.track} ({len(inputs)} inputs)"
        )
    events = replay(judge, track)
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


def _load_unit_config(path: str) -> Any:
    from edge.settings import ConfigError
    from exam_vehicle.config import load_config

    try:
        cfg = load_config(path)
    except ConfigError as exc:
        print(f"{path}: invalid: {exc}", file=sys.stderr)
        return None
    problems = cfg.problems()
    for p in problems:
        print(f"{path}: {p}", file=sys.stderr)
    if problems:
        print(
            f"hint: the site CA and the broker password of {cfg.unit} come from `passlane pki init DIR --site {cfg.site} --unit {cfg.unit}`",
            file=sys.stderr,
        )
        return None
    return cfg


def _check_config(ns: argparse.Namespace) -> int:
    cfg = _load_unit_config(ns.config or ns.file)
    if cfg is None:
        return 1
    from exam_vehicle.car import load_car
    from exam_vehicle.course import load_course
    from exam_vehicle.judge import Judge
    from exam_vehicle.rules import load_rules

    try:
        course, car, rules = load_course(cfg.exam.course), load_car(cfg.exam.car), load_rules(cfg.exam.rules)
        Judge(course, car, rules)
    except Exception as exc:  # noqa: BLE001 - any reason the judge cannot run is the answer here
        print(f"{ns.config or ns.file}: the exam cannot be judged: {exc}", file=sys.stderr)
        return 1
    print(
        f"{ns.config or ns.file}: ok (site {cfg.site}, unit {cfg.unit}, course {course.name}, car {car.name}, rules {rules.version}, "
        f"receiver {cfg.gnss.url}, vehicle board {cfg.vehicle_board.url})"
    )
    return 0


def _run(ns: argparse.Namespace) -> int:
    import asyncio
    import logging
    import signal

    from edge.logs import setup_logging
    from edge.systemd_notify import SystemdNotifier
    from exam_vehicle.page import ServerReady, serve
    from exam_vehicle.unit import ExamRefused, ExamUnit

    setup_logging(logging.INFO if ns.verbose else logging.WARNING)
    cfg = _load_unit_config(ns.config)
    if cfg is None:
        return 1
    if ns.port is not None:
        cfg = cfg.model_copy(update={"page": cfg.page.model_copy(update={"port": ns.port})})

    async def main() -> None:
        unit = ExamUnit(cfg)
        signal.signal(
            signal.SIGTERM, lambda *_: None
        )  # uvicorn handles SIGTERM during serve(); this keeps its re-raise harmless
        ready = ServerReady()
        systemd = SystemdNotifier()  # under systemd (deploy/systemd): READY once the page listens, then the watchdog

        async def announce_and_start() -> None:
            await ready.wait()
            print(
                f"exam vehicle {cfg.unit} running: page on http://{cfg.page.host}:{ready.port or cfg.page.port}/ ; "
                f"journal {cfg.journal.path}",
                flush=True,
            )
            systemd.ready(f"exam vehicle {cfg.unit}: page on port {ready.port or cfg.page.port}")
            if ns.start:
                while True:  # the exam starts once the receiver has an RTK fixed position
                    try:
                        print(f"exam {unit.start_exam(ns.start)} started for {ns.start}", flush=True)
                        return
                    except ExamRefused:
                        await asyncio.sleep(0.2)  # waiting for the fix, a physical event

        starter = asyncio.get_running_loop().create_task(announce_and_start())
        try:
            await serve(unit, cfg.page.host, cfg.page.port, ready)
        except asyncio.CancelledError:
            pass
        starter.cancel()
        systemd.stopping()

    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
    return 0


def _register_unit(sub: Any) -> None:
    p = sub.add_parser(
        "run", help="run the exam vehicle unit: receiver, vehicle board, judge, cloud link and the examiner's page"
    )
    p.add_argument("--config", required=True, help="exam-vehicle.toml (see docs/exam-vehicle.md)")
    p.add_argument(
        "--port", type=int, default=None, help="the examiner's page port (overrides page.port; 0 = any free port)"
    )
    p.add_argument(
        "--start", metavar="CANDIDATE", help="start an exam for this candidate as soon as the fix is RTK fixed"
    )
    p.add_argument("-v", "--verbose", action="store_true", help="log at INFO level")
    p.set_defaults(func=_run)
    c = sub.add_parser(
        "check-config", help="validate exam-vehicle.toml (keys, types, secrets, course, car and rules fit together)"
    )
    c.add_argument("file", nargs="?", help="exam-vehicle.toml")
    c.add_argument("--config", help="exam-vehicle.toml (the same as the positional file)")
    c.set_defaults(func=_check_config)
    r = sub.add_parser(
        "config-reference", help="print the exam-vehicle.toml reference (Markdown) generated from the models"
    )
    r.set_defaults(func=_reference)


def _reference(ns: argparse.Namespace) -> int:
    from exam_vehicle.config import config_reference_markdown

    print(config_reference_markdown(), end="")
    return 0


COMMANDS: list[Callable[[Any], None]] = [_register_unit, _register_course, _register_judge]


def register(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="exam_command", metavar="COMMAND")
    for add in COMMANDS:
        add(sub)
