"""The exam-site operator as a person at the console, and the day's candidates.

Candidates come with a seeded mix of skill: each is a driver profile of
`site_sim.exam_car.PROFILES` (passing and failing ones) and so knows the result
its driving calls for (`Expect`). The operator, for each free car, seats the
next candidate, starts the exam remotely through the bridge (the `start_exam`
remote command with its expiry, audited), waits for the car's result in the
bridge's record and takes the next one. An interrupted exam (the car's unit
died) is taken again.

When the bridge serves the console's JSON API (docs/exam-site.md) the
operator works through it as a person at the console would: imports the day's
candidates, checks each in on arrival, starts them on a free car and signs the
result off (`site_sim.exam_console`). A bridge without it (the API is being
built beside this simulation) is driven through the ops API that exists:
the `start_exam` remote command (`POST /api/units/{site}/{unit}/commands`).
Either way the result is read from the car's own record as the bridge stored
it (`GET /api/units/{unit}/events`), which is what the summary compares with
what the candidate's driving calls for.
"""

from __future__ import annotations

import datetime as dt
import random
import secrets
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from edge.contract import new_case_id
from site_sim.exam_car import PROFILES, Expect
from site_sim.exam_console import Console
from site_sim.exam_site import CarParts, ExamSite
from site_sim.site import OPS_USER, SITE_ID, passlane

DEMO_MIX = (
    "clean",
    "bay-stop-3s",
    "hill-rollback-15cm",
    "s-wheel-over-edge",
    "par-wrong-signal",
    "clean",
    "bay-over-back-line",
    "ra-stop-3s",
    "hill-edge-35cm",
    "belt-never",
    "par-stop-3s",
    "s-stop-3s",
    "ra-no-signal",
    "hill-no-handbrake",
    "rtk-lost-5s",
)
"""Driver profiles of the candidates, passing and failing, judged alike at any world speed."""
SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗"
GIVEN = "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀霞平刚桂英"
START_WAIT_S = 20.0  # real seconds for the car's exam.started before the start is tried again


@dataclass(frozen=True)
class Candidate:
    name: str
    id_number: str
    profile: str

    @property
    def expect(self) -> Expect:
        return PROFILES[self.profile][1]


def id_number(rng: random.Random) -> str:
    """An 18-character resident ID number with its check character (GB 11643)."""
    body = f"320115{rng.randint(1970, 2005)}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}{rng.randint(0, 999):03d}"
    weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
    return body + "10X98765432"[sum(int(c) * w for c, w in zip(body, weights)) % 11]


def candidates(count: int, seed: int = 1) -> list[Candidate]:
    """The day's candidates: seeded names, ID numbers and driving, every profile of the mix in turn."""
    rng = random.Random(seed)
    mix = list(DEMO_MIX)
    rng.shuffle(mix)
    return [
        Candidate(rng.choice(SURNAMES) + rng.choice(GIVEN) + rng.choice(GIVEN), id_number(rng), mix[i % len(mix)])
        for i in range(count)
    ]


@dataclass
class Outcome:
    """One candidate's judged exam, as the bridge stored it, and whether it is what their driving calls for."""

    candidate: Candidate
    car: str
    exam_id: str
    status: str  # passed | failed | invalid
    score: int | None
    deductions: tuple[str, ...]
    ended_by: str
    passed: bool | None
    interrupted: int = 0

    @property
    def mismatch(self) -> bool:
        e = self.candidate.expect
        return (self.deductions, self.ended_by, self.passed) != (e.deductions, e.ended_by, e.passed)


def ops_token(site: ExamSite) -> str:
    s = site.site
    argv = passlane(
        "bridge", "user", "token", OPS_USER, "--db", str(s.bridge_db), "--label", "exam-operator",
        "--audit-key-file", str(s.audit_key_file),
    )  # fmt: skip
    return subprocess.run(argv, check=True, capture_output=True, text=True, timeout=60).stdout.strip().splitlines()[-1]


@dataclass
class Operator:
    """Runs the candidates through the cars until all are judged (or `stop` is set)."""

    site: ExamSite
    queue: list[Candidate]
    token: str
    out: Callable[[str], None] = print
    outcomes: list[Outcome] = field(default_factory=list)
    interrupted: int = 0
    signed_off: int = 0
    console_used: bool = False
    stop: threading.Event = field(default_factory=threading.Event)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _not_checked_in: list[Candidate] = field(default_factory=list)
    _booked_on: dt.date | None = None  # the day the console's bookings are for

    def __post_init__(self) -> None:
        self._not_checked_in = list(self.queue)

    def run(self) -> list[Outcome]:
        with self._http() as http:
            self.console_used = Console.served(http)
            if self.console_used:
                self._book_today(Console(http))
        threads = [threading.Thread(target=self._car_loop, args=(p,), daemon=True) for p in self.site.car_parts]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        return self.outcomes

    def _book_today(self, console: Console) -> None:
        """Import today's bookings: every candidate at the start, and on a run past midnight the ones not yet
        checked in again, as the new day's list (check-in takes only a booking of the day)."""
        with self._lock:
            today = dt.date.today()
            if self._booked_on == today:
                return
            n = console.import_day(self._not_checked_in)
            self.out(f"console: {n} candidates imported" + (" for a new day" if self._booked_on else ""))
            self._booked_on = today

    def _check_in(self, console: Console, cand: Candidate) -> None:
        self._book_today(console)
        console.check_in(cand)
        with self._lock:
            self._not_checked_in.remove(cand)

    def _http(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.site.site.dashboard_url, timeout=30.0, headers={"Authorization": f"Bearer {self.token}"}
        )

    def _next(self) -> Candidate | None:
        with self._lock:
            return self.queue.pop(0) if self.queue else None

    def _car_loop(self, car: CarParts) -> None:
        examiner = self.site.examiners[car.unit]
        cursor = 0
        with self._http() as http:
            console = Console(http) if self.console_used else None
            while not self.stop.is_set():
                cand = self._next()
                if cand is None:
                    return
                if console is not None:
                    self._check_in(console, cand)
                tries = 0
                while not self.stop.is_set():
                    while not (car.world.ready and examiner.idle and _fixed(car)) and not self.stop.wait(0.2):
                        pass
                    examiner.seat(PROFILES[cand.profile][0])
                    exam_id = self._start(http, console, car, cand)
                    final, cursor = self._wait(http, car.unit, exam_id, cursor)
                    if final is None:  # the command expired or was refused: the candidate waits for the car
                        examiner.seated = None
                        self.out(f"  {car.unit} {cand.name}: the exam did not start; again")
                        continue
                    if final["kind"] == "exam.interrupted":  # the unit died or stopped: the exam is taken again
                        tries += 1
                        with self._lock:
                            self.interrupted += 1
                        self.out(f"  {car.unit} {cand.name}: exam {exam_id} interrupted; taken again")
                        continue
                    self._record(cand, car.unit, exam_id, final, tries)
                    if console is not None and console.sign_off(exam_id, "signed by the simulated examiner"):
                        with self._lock:
                            self.signed_off += 1
                    break

    def _start(self, http: httpx.Client, console: Console | None, car: CarParts, cand: Candidate) -> str:
        """Start the candidate on the car: through the console when it is served, else by the ops command."""
        if console is not None:
            try:
                return console.start(cand, car.unit)
            except httpx.HTTPStatusError as exc:
                self.out(f"  console refused the start on {car.unit}: {exc.response.text[:200]}; by ops command")
        exam_id = new_case_id(car.unit, time.strftime("%y%m%d"), secrets.token_hex(3))
        body = {
            "command": "start_exam",
            "args": {"candidate": cand.name, "exam_id": exam_id},
            "reason": f"exam of {cand.name}",
            "ttl_s": 30,
        }
        http.post(f"/api/units/{SITE_ID}/{car.unit}/commands", json=body).raise_for_status()
        return exam_id

    def _wait(self, http: httpx.Client, unit: str, exam_id: str, cursor: int) -> tuple[dict[str, Any] | None, int]:
        """The exam's final event (result or interrupted) from the bridge's record; None when it never started."""
        started_by = time.monotonic() + START_WAIT_S
        started = False
        events: list[dict[str, Any]] = []
        while not self.stop.wait(0.3):
            try:
                page = http.get(f"/api/units/{unit}/events", params={"after": cursor, "limit": 10000}).json()
            except httpx.TransportError:
                continue  # the bridge is restarting: a person at the console simply looks again
            if page:
                cursor = int(page[-1]["seq"])
            mine = [e for e in page if e.get("case_id") == exam_id]
            events += mine
            started = started or any(e["kind"] == "exam.started" for e in mine)
            final = next((e for e in events if e["kind"] in ("exam.result", "exam.interrupted")), None)
            if final is not None:
                final = {**final, "deductions": [e["data"]["rule_id"] for e in events if e["kind"] == "exam.deduction"]}
                return final, cursor
            if not started and time.monotonic() > started_by:
                return None, cursor
        return None, cursor

    def _record(self, cand: Candidate, unit: str, exam_id: str, final: dict[str, Any], tries: int) -> None:
        d = final["data"]
        status = "invalid" if d["passed"] is None else "passed" if d["passed"] else "failed"
        o = Outcome(
            cand, unit, exam_id, status, d.get("score"), tuple(final["deductions"]), d["ended_by"], d["passed"], tries
        )
        with self._lock:
            self.outcomes.append(o)
        flag = "" if not o.mismatch else f"  MISMATCH: expected {cand.expect}"
        self.out(f"  {unit} {cand.name} ({cand.profile}): {status} {o.score} {', '.join(o.deductions) or '-'}{flag}")


def _fixed(car: CarParts) -> bool:
    """The car's page shows an RTK fixed position and no exam under way."""
    st = car.status()
    if st is None or not st.get("fix") or st["fix"]["quality"] != "rtk_fixed":
        return False
    exam = st.get("exam")
    return not (exam and exam.get("running"))
