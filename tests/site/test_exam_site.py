"""A whole exam site end to end: the real broker, bridge and exam vehicle units, simulated cars, examiners and operator.

Every candidate is judged as their driving calls for (their profile's `Expect`), the bridge's record of each car is
the car's journal event for event, and each uploaded track, replayed, gives the car's own judgement. Faults: a
car's unit killed mid-exam (the exam is reported interrupted, its track until then kept and uploaded, the
candidate examined again), a broker restart and a bridge killed and restarted: nothing lost or doubled; the
bridge reproduces every stored result by replaying its stored track.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from exam_vehicle.car import load_car
from exam_vehicle.course import load_course
from exam_vehicle.judge import Judge
from exam_vehicle.replay import replay
from exam_vehicle.rules import default_rules
from exam_vehicle.track import Track, parse_line
from exam_vehicle.track_upload import TrackPiece, reassemble
from site_sim.exam_demo import ExamSiteSummary, run_candidates
from site_sim.exam_operator import ops_token
from site_sim.exam_site import ExamSite
from site_sim.polling import wait_until

pytestmark = [pytest.mark.broker, pytest.mark.slow]
SPEED = 10.0
KIND = {"item_started": "exam.item_started", "item_ended": "exam.item_ended", "deduction": "exam.deduction",
        "run_invalid": "exam.invalid", "result": "exam.result"}  # fmt: skip


def journal(site: ExamSite, unit: str) -> list[dict[str, Any]]:
    """The car's SQLite journal, read straight from the file as an auditor would."""
    path = site.car(unit).root / "journal.sqlite3"
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as db:
        rows = db.execute("SELECT seq, kind, case_id, data FROM events ORDER BY seq").fetchall()
    return [{"seq": r[0], "kind": r[1], "case_id": r[2], "data": json.loads(r[3])} for r in rows]


def stored(site: ExamSite, token: str, unit: str) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    with httpx.Client(base_url=site.site.dashboard_url, headers={"Authorization": f"Bearer {token}"}) as http:
        while page := http.get(
            f"/api/units/{unit}/events/unmasked", params={"after": events[-1]["seq"] if events else 0, "limit": 10000}
        ).json():
            events += page
    return events


def uploaded_track(events: list[dict[str, Any]], exam_id: str) -> Track:
    chunks = [
        TrackPiece.model_validate(e["data"])
        for e in events
        if e["kind"] == "exam.track_chunk" and e["case_id"] == exam_id
    ]
    track = Track()
    for line in reassemble(chunks).decode().splitlines():
        item = parse_line(line)
        if item is None:
            continue
        name = type(item).__name__
        if name == "TrackHeader":
            track.header = item  # type: ignore[assignment]
        elif name == "ExamEnded":
            track.ended_at = item.t  # type: ignore[union-attr]
        else:
            track.inputs.append(item)  # type: ignore[arg-type]
    return track


def check_records(site: ExamSite, token: str) -> None:
    """Each car's journal equals the bridge's record of it; each judged exam's uploaded track replays to its events."""
    course, car = load_course("example-site"), load_car("c1-example")
    for unit in site.units:
        mine, theirs = journal(site, unit), stored(site, token, unit)
        assert [(e["seq"], e["kind"], e["case_id"], e["data"]) for e in mine] == [
            (e["seq"], e["kind"], e["case_id"], e["data"]) for e in theirs
        ], f"{unit}: the bridge's record is the car's journal"
        for exam_id in {e["case_id"] for e in theirs if e["kind"] == "exam.result"}:
            events = [
                e for e in theirs if e["case_id"] == exam_id and e["kind"] not in ("exam.started", "exam.track_chunk")
            ]
            replayed = replay(Judge(course, car, default_rules(car.licence)), uploaded_track(theirs, exam_id))
            assert [(e["kind"], e["ts"]) for e in events] == [(KIND[ev.kind], ev.t) for ev in replayed], exam_id
            # the bridge itself reproduces its stored result from its stored track and rules version
            with httpx.Client(base_url=site.site.dashboard_url, headers={"Authorization": f"Bearer {token}"}) as http:
                again = http.get(f"/api/exam/exams/{exam_id}/reproduce")
            assert again.status_code == 200 and again.json()["equal"], (exam_id, again.text)


def assert_clean(s: ExamSiteSummary, candidates: int) -> None:
    assert s.judged == s.candidates == candidates, s
    assert s.mismatches == 0, s.mismatched
    assert s.lost == 0 and s.duplicates == 0 and s.events_stored == s.events_published > 0, s
    assert s.passed > 0 and s.failed > 0, "a mix of skill"


def zone_with_midnight_in(seconds: float, now: float) -> str:
    """A POSIX fixed-offset zone, to the second, whose local midnight comes `seconds` after `now`."""
    offset = round(now + seconds) % 86400  # UTC seconds of the day at that midnight = UTC minus local
    offset = offset - 86400 if offset > 43200 else offset
    sign = "-" if offset < 0 else ""
    h, rest = divmod(abs(offset), 3600)
    return f"<LOC>{sign}{h}:{rest // 60:02d}:{rest % 60:02d}"


def test_the_zone_puts_midnight_where_asked() -> None:
    for now in (0.0, 1_765_000_000.0, 1_765_040_000.5):
        zone = zone_with_midnight_in(40, now)
        with pytest.MonkeyPatch.context() as mp:
            mp.setenv("TZ", zone)
            time.tzset()
            midnight = time.localtime(now + 40)
            before = time.localtime(now + 39)
        time.tzset()
        assert (midnight.tm_hour, midnight.tm_min, midnight.tm_sec) == (0, 0, 0), zone
        assert (before.tm_hour, before.tm_min, before.tm_sec) == (23, 59, 59), zone


@pytest.fixture
def midnight_soon(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """Local midnight 40 s from now, for this process and every process the site starts (they inherit TZ):
    the exam day changes while the candidates are examined, whatever hour the suite runs at."""
    monkeypatch.setenv("TZ", zone_with_midnight_in(40, time.time()))
    time.tzset()
    yield
    monkeypatch.undo()
    time.tzset()


@pytest.mark.timeout(480)
def test_three_cars_and_ten_candidates_every_one_judged_as_they_drove_and_nothing_lost_or_doubled(
    tmp_path: Path, midnight_soon: None
) -> None:
    """Run across local midnight: check-in takes only a booking of the day, so the operator imports the
    candidates not yet checked in as the new day's list; those checked in before midnight are still examined."""
    log: list[str] = []
    with ExamSite(tmp_path / "site", cars=3, speed=SPEED) as site:
        summary = run_candidates(site, 10, seed=1, out=log.append)
        assert_clean(summary, 10)
        check_records(site, ops_token(site))
    assert summary.interrupted == 0, log
    assert any(line.endswith("imported for a new day") for line in log), log  # the run did cross midnight


@pytest.mark.timeout(480)
def test_a_unit_killed_mid_exam_and_broker_and_bridge_restarts_lose_nothing_and_the_interrupted_track_is_kept(
    tmp_path: Path,
) -> None:
    log: list[str] = []
    with ExamSite(tmp_path / "site", cars=2, speed=SPEED) as site:
        result: list[ExamSiteSummary] = []
        runner = threading.Thread(target=lambda: result.append(run_candidates(site, 4, seed=2, out=log.append)))
        runner.start()
        car = site.car("car-01")
        exam = wait_until(
            lambda: (st := car.status()) and st["exam"] and st["exam"]["running"] and st["exam"]["item"] and st["exam"],
            180,
            "car-01 in the middle of an exam",
        )
        site.kill_unit("car-01")  # kill -9: a power cut
        site.restart_broker(down_s=3.0)
        site.start_unit(car)
        site.site.processes["bridge"].kill()  # the bridge dies too (kill -9) and comes back
        time.sleep(2.0)  # the bridge's downtime, a physical wait
        site.site.start_bridge()
        runner.join(420)
        assert result, log
        token = ops_token(site)
        events = stored(site, token, "car-01")
        assert any(e["kind"] == "exam.interrupted" and e["case_id"] == exam["exam_id"] for e in events), log
        track = uploaded_track(events, exam["exam_id"])
        assert track.header is not None and track.header.exam_id == exam["exam_id"] and len(track.inputs) > 50
        check_records(site, token)
    s = result[0]
    assert s.interrupted >= 1, log
    assert s.judged == 4 and s.mismatches == 0 and s.lost == 0 and s.duplicates == 0, (s, log)
