"""The exam supervision rules: each fires on what it is about, stays quiet otherwise, and names its rule, exam, car and site."""

from __future__ import annotations

import time

import pytest
from bridge_helpers import make_settings
from test_exam_helpers import Car, exam_id_of, id_number, inbound

from cloud_bridge.rules import RiskRulesConfig, Rule, pass_rate_signals, track_missing_signals
from cloud_bridge.service import Service
from edge.contract import EventKind

DAY = 86400.0


@pytest.fixture
def car(tmp_path):
    c = Car(tmp_path, "car-01")
    yield c
    c.close()


def _alerts(store, rule: Rule) -> list[dict]:
    return [a for a in store.alerts.recent("active") if a["rule"] == rule.value]


def _exam(car, n: int, start: float, minutes: float, passed: bool | None, ended_by: str = "completed") -> list:
    exam_id = exam_id_of("car-01", n)
    return [
        car.event(EventKind.EXAM_STARTED, exam_id, start, candidate="张伟", course="example-site"),
        car.event(
            EventKind.EXAM_RESULT,
            exam_id,
            start + minutes * 60,
            score=100 if passed else 70,
            passed=passed,
            ended_by=ended_by,
            rules_version="c1-2022.1",
        ),
    ]


def _booked(store, n: int, idn: str, exam_id: str) -> None:
    cid = f"cand-{n:010x}"
    store.candidates.add(
        [
            {
                "candidate_id": cid,
                "site": "site-1",
                "name": "张伟",
                "id_number": idn,
                "licence_class": "C1",
                "booked_at": 1000.0 * n,
                "status": "checked_in",
                "created_at": 0.0,
            }
        ]
    )
    assert store.candidates.assign(cid, "car-01", exam_id, None)


def test_exam_too_fast_fires_for_a_completed_exam_under_the_minimum_only(store, ingest, car) -> None:
    ingest(inbound(_exam(car, 1, 1000.0, 2.0, True) + _exam(car, 2, 5000.0, 20.0, True)))
    ingest(inbound(_exam(car, 3, 9000.0, 1.0, False, ended_by="disqualified")))  # a fail ends it early: not too fast
    (a,) = _alerts(store, Rule.EXAM_TOO_FAST)
    assert a["case_id"] == exam_id_of("car-01", 1) and a["unit"] == "car-01" and a["site"] == "site-1"
    assert f"/exam/exams/{exam_id_of('car-01', 1)}" in a["detail"]


def test_a_retake_sooner_than_allowed_after_a_failed_exam_fires_and_a_later_one_does_not(store, ingest, car) -> None:
    idn = id_number(1)
    for n in (1, 2, 3):
        _booked(store, n, idn, exam_id_of("car-01", n))
    ingest(inbound(_exam(car, 1, 1000.0, 10.0, False)))
    ingest(inbound(_exam(car, 2, 1000.0 + 3 * DAY, 10.0, False)))  # 3 days after the failed one: too soon
    assert [a["case_id"] for a in _alerts(store, Rule.EXAM_RETAKE_TOO_SOON)] == [exam_id_of("car-01", 2)]
    ingest(inbound(_exam(car, 3, 1000.0 + 20 * DAY, 10.0, True)))  # 17 days after the last failure
    assert len(_alerts(store, Rule.EXAM_RETAKE_TOO_SOON)) == 1
    assert store.exams.get(exam_id_of("car-01", 3))["candidate_id"] == "cand-0000000003"


def test_a_second_result_that_changes_a_stored_one_fires(store, ingest, car) -> None:
    events = _exam(car, 1, 1000.0, 10.0, True)
    ingest(inbound(events))
    assert not _alerts(store, Rule.EXAM_RESULT_OVERRIDDEN)
    changed = car.event(
        EventKind.EXAM_RESULT, exam_id_of("car-01", 1), 1700.0, score=60, passed=False, ended_by="completed"
    )
    ingest(inbound([changed]))
    (a,) = _alerts(store, Rule.EXAM_RESULT_OVERRIDDEN)
    assert a["case_id"] == exam_id_of("car-01", 1) and "passed (100) changed to failed (60)" in a["detail"]


@pytest.mark.parametrize("profile,fires", [("rtk-lost-2s", True), ("clean", False)])
def test_an_exam_judged_on_a_degraded_fix_fires_when_its_track_shows_it(store, ingest, car, profile, fires) -> None:
    exam_id = exam_id_of("car-01", 1)
    ingest(inbound(car.exam(exam_id, profile)))
    x = store.exams.get(exam_id)
    assert x["status"] in ("passed", "failed") and (x["worst_quality"] != "rtk_fixed") == fires
    alerts = _alerts(store, Rule.EXAM_DEGRADED_FIX)
    assert [a["case_id"] for a in alerts] == ([exam_id] if fires else [])


def test_a_track_missing_after_the_grace_fires_in_the_sweep_and_an_arrived_one_does_not(
    store, ingest, car, tmp_path
) -> None:
    with_track, without = exam_id_of("car-01", 1), exam_id_of("car-01", 2)
    ingest(inbound(car.exam(with_track, "clean") + car.exam(without, "clean", upload=False)))
    ended = store.exams.get(without)["ended_at"]
    clock = [ended + 60.0]
    service = Service(make_settings(str(tmp_path / "x.sqlite3")), store, clock=lambda: clock[0])
    service.sweep()
    assert not _alerts(store, Rule.EXAM_TRACK_MISSING), "still within the grace"
    clock[0] = ended + RiskRulesConfig().exam_track_grace_s + 1
    service.sweep()
    (a,) = _alerts(store, Rule.EXAM_TRACK_MISSING)
    assert a["case_id"] == without and a["unit"] == "car-01" and f"/exam/exams/{without}" in a["detail"]


def test_pass_rate_deviation_fires_for_a_car_or_examiner_far_from_the_sites_rate_after_enough_exams() -> None:
    cfg = RiskRulesConfig(exam_rate_min_exams=10, exam_rate_max_gap=0.25)
    rows = [{"site": "s", "unit": "car-01", "signed_by": "ann", "status": "passed"} for _ in range(10)]
    rows += [
        {"site": "s", "unit": "car-02", "signed_by": "bob", "status": "failed" if i < 8 else "passed"}
        for i in range(10)
    ]
    rows += [
        {"site": "s", "unit": "car-03", "signed_by": None, "status": "passed" if i < 5 else "failed"} for i in range(10)
    ]
    keys = {s.key for s in pass_rate_signals(rows, cfg)}
    assert keys == {
        "exam-pass-rate-deviation:s:car:car-01",  # 100% against the site's 57%
        "exam-pass-rate-deviation:s:car:car-02",  # 20%
        "exam-pass-rate-deviation:s:examiner:ann",
        "exam-pass-rate-deviation:s:examiner:bob",
    }
    assert not pass_rate_signals(rows[:9] + rows[10:19], cfg), "too few exams per car and examiner"
    assert not pass_rate_signals(rows, RiskRulesConfig(disabled=[Rule.EXAM_PASS_RATE_DEVIATION]))


def test_track_missing_ignores_exams_within_the_grace() -> None:
    now = time.time()
    rows = [
        {
            "exam_id": "car-01-261206-000001",
            "site": "s",
            "unit": "car-01",
            "ended_at": now - 10,
            "track_state": "pending",
        }
    ]
    assert not track_missing_signals(rows, now, RiskRulesConfig())
    (sig,) = track_missing_signals(rows, now + 3600, RiskRulesConfig())
    assert sig.rule == Rule.EXAM_TRACK_MISSING and sig.case_id == "car-01-261206-000001" and sig.unit == "car-01"
