"""`passlane demo exam`: run a whole exam site, its candidates through its cars, and account for every event.

At the end each car's journal (its unit's page: the last seq it recorded) is
compared with the bridge's store, as the lane demo does: events published,
stored, duplicated and lost; and each judged exam with what its candidate's
driving calls for (mismatches).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable

import httpx
from pydantic import BaseModel, ConfigDict

from site_sim.exam_operator import Operator, Outcome, candidates, ops_token
from site_sim.exam_site import ExamSite


class ExamSiteSummary(BaseModel):
    model_config = ConfigDict(extra="forbid")
    cars: int
    speed: float
    candidates: int
    judged: int
    passed: int
    failed: int
    invalid: int
    interrupted: int
    mismatches: int
    events_published: int
    events_stored: int
    duplicates: int
    lost: int
    wall_seconds: float
    mismatched: list[str] = []
    profiles: dict[str, int] = {}


def account_events(site: ExamSite, token: str, drain_s: float = 60.0) -> tuple[int, int, int, int]:
    """(published, stored, duplicates, lost) over every car, once each car's outbox is drained (or `drain_s` passed)."""
    published = stored = duplicates = lost = 0
    with httpx.Client(
        base_url=site.site.dashboard_url, timeout=30.0, headers={"Authorization": f"Bearer {token}"}
    ) as http:
        for car in site.car_parts:
            deadline = time.monotonic() + drain_s
            outbox: dict[str, int] = {"last_seq": 0, "acked_seq": 0}
            while time.monotonic() < deadline:
                st = car.status()
                if st is not None:
                    outbox = st["outbox"]
                    if outbox["acked_seq"] >= outbox["last_seq"]:
                        break
                time.sleep(0.2)
            last_seq = int(outbox["last_seq"])
            seqs: list[int] = []
            while True:
                page = http.get(
                    f"/api/units/{car.unit}/events", params={"after": seqs[-1] if seqs else 0, "limit": 10000}
                ).json()
                if not page:
                    break
                seqs += [int(e["seq"]) for e in page]
            seqs = [s for s in seqs if s <= last_seq]
            counts = Counter(seqs)
            published += last_seq
            stored += len(seqs)
            duplicates += sum(n - 1 for n in counts.values() if n > 1)
            lost += sum(1 for s in range(1, last_seq + 1) if s not in counts)
    return published, stored, duplicates, lost


def summarise(
    site: ExamSite,
    outcomes: list[Outcome],
    count: int,
    interrupted: int,
    events: tuple[int, int, int, int],
    wall: float,
) -> ExamSiteSummary:
    status = Counter(o.status for o in outcomes)
    published, stored, duplicates, lost = events
    return ExamSiteSummary(
        cars=site.cars,
        speed=site.speed,
        candidates=count,
        judged=len(outcomes),
        passed=status["passed"],
        failed=status["failed"],
        invalid=status["invalid"],
        interrupted=interrupted,
        mismatches=sum(o.mismatch for o in outcomes),
        events_published=published,
        events_stored=stored,
        duplicates=duplicates,
        lost=lost,
        wall_seconds=round(wall, 1),
        mismatched=[
            f"{o.candidate.profile} on {o.car} ({o.exam_id}): {o.deductions} {o.ended_by}"
            for o in outcomes
            if o.mismatch
        ],
        profiles=dict(Counter(o.candidate.profile for o in outcomes)),
    )


def run_candidates(
    site: ExamSite, count: int, seed: int = 1, out: Callable[[str], None] = print, stop: threading.Event | None = None
) -> ExamSiteSummary:
    """The candidates through the running site's cars, then the accounting."""
    started = time.monotonic()
    token = ops_token(site)
    op = Operator(site, candidates(count, seed), token, out)
    if stop is not None:
        op.stop = stop
    outcomes = op.run()
    events = account_events(site, token)
    return summarise(site, outcomes, count, op.interrupted, events, time.monotonic() - started)
