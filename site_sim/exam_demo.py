"""`passlane demo exam`: run a whole exam site, its candidates through its cars, and account for every event.

At the end each car's journal (its unit's page: the last seq it recorded) is
compared with the bridge's store, as the lane demo does: events published,
stored, duplicated and lost; and each judged exam with what its candidate's
driving calls for (mismatches).
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
import threading
import time
import webbrowser
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from pydantic import BaseModel, ConfigDict

from site_sim.exam_operator import Operator, candidates, ops_token
from site_sim.exam_site import ExamSite
from site_sim.shutdown import StopSignals
from site_sim.site import OPS_USER


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
    signed_off: int
    console: bool
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
    site: ExamSite, op: Operator, count: int, events: tuple[int, int, int, int], wall: float
) -> ExamSiteSummary:
    outcomes = op.outcomes
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
        interrupted=op.interrupted,
        signed_off=op.signed_off,
        console=op.console_used,
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
    op.run()
    events = account_events(site, token)
    return summarise(site, op, count, events, time.monotonic() - started)


def print_summary(s: ExamSiteSummary, out: Callable[[str], None] = print) -> None:
    out("")
    out(f"summary ({s.cars} cars, speed {s.speed:g}x, {s.wall_seconds:.0f} s wall time)")
    out(
        f"  candidates {s.candidates}: judged {s.judged} (passed {s.passed}, failed {s.failed}, invalid {s.invalid}), "
        f"interrupted runs {s.interrupted}, mismatches {s.mismatches}"
    )
    out(f"  operator: {'console API' if s.console else 'ops API (no console API served)'}, signed off {s.signed_off}")
    out(f"  events: published {s.events_published}, stored {s.events_stored}, duplicates {s.duplicates}, lost {s.lost}")
    for line in s.mismatched:
        out(f"  mismatch: {line}")


def run_exam_cli(ns: Any) -> int:
    """`passlane demo exam`: exit 0 when every candidate was judged as their driving calls for and no event was lost or doubled."""
    root = Path(ns.dir) if ns.dir else Path(tempfile.mkdtemp(prefix="passlane-exam-demo-"))
    ns.speed = ns.speed or 8.0
    site = ExamSite(root, cars=ns.cars, speed=ns.speed, seed=ns.seed)
    print(f"starting an exam site with {ns.cars} cars in {root} (speed {ns.speed:g}x)", flush=True)
    stop = threading.Event()
    status = 1
    with StopSignals(on_first=stop.set) as signals:
        try:
            site.start()
            password = site.site.ops_password_file.read_text().strip()
            print(f"dashboard: {site.site.dashboard_url}/   (user {OPS_USER}, password {password})", flush=True)
            for parts in site.car_parts:
                print(f"examiner's page {parts.unit}: {parts.page_url}/", flush=True)
            if not ns.no_browser and (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
                webbrowser.open(f"{site.site.dashboard_url}/exam")
            summary = run_candidates(site, ns.candidates, ns.seed, lambda line: print(line, flush=True), stop)
            print_summary(summary)
            if ns.summary_json:
                Path(ns.summary_json).write_text(summary.model_dump_json(indent=2))
                print(f"summary written to {ns.summary_json}")
            ok = summary.judged == summary.candidates and summary.mismatches == 0
            status = 0 if signals.requested or (ok and summary.lost == 0 and summary.duplicates == 0) else 1
            return status
        except Exception as exc:  # noqa: BLE001 - say what failed; the site is stopped below
            if signals.requested:
                return 0
            print(f"error: {exc}", file=sys.stderr)
            return 1
        finally:
            site.stop()
            print("exam site stopped", flush=True)
            if not ns.dir and not ns.keep and status == 0:
                shutil.rmtree(root, ignore_errors=True)
            else:
                print(f"site folder {root} kept", flush=True)
