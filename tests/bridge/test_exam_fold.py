"""The ingest fold projects a car's exam events into the exam tables: whole, idempotent, owner-checked, never raising."""

from __future__ import annotations

import base64
import gzip
import hashlib
import time

import pytest
from test_exam_helpers import Car, exam_id_of, inbound

from edge.contract import EventKind
from edge.journal import NewEvent
from exam_vehicle.track_upload import TrackPiece


@pytest.fixture
def car(tmp_path):
    c = Car(tmp_path, "car-01")
    yield c
    c.close()


def _rules(store) -> set[str]:
    return {a["rule"] for a in store.alerts.recent("active")}


def test_a_whole_exam_is_stored_with_its_items_deductions_result_and_reassembled_track(store, ingest, car) -> None:
    exam_id = exam_id_of("car-01", 1)
    events = car.exam(exam_id, "par-stop-3s")
    ingest(inbound(events))
    x = store.exams.detail(exam_id)
    assert x is not None and x["unit"] == "car-01" and x["site"] == "site-1" and x["candidate"] == "张伟"
    result = next(e for e in events if e.kind == EventKind.EXAM_RESULT).data
    assert x["status"] == ("passed" if result["passed"] else "failed") and x["score"] == result["score"]
    assert x["rules_version"] == "c1-2022.1" and x["ended_by"] == result["ended_by"] and x["course"] == "example-site"
    deductions = [e.data for e in events if e.kind == EventKind.EXAM_DEDUCTION]
    assert [d["rule_id"] for d in x["deductions"]] == [d["rule_id"] for d in deductions] and deductions
    assert all(d["e"] is not None and d["lat"] is not None for d in x["deductions"])
    started = [e.data["item"] for e in events if e.kind == EventKind.EXAM_ITEM_STARTED]
    assert [i["item"] for i in x["items"]] == started
    par = next(i for i in x["items"] if i["item"] == "parallel_park")
    assert par["points_lost"] == sum(d["points"] for d in deductions if d["item"] == "parallel_park" and "points" in d)
    assert x["track_state"] == "complete" and x["worst_quality"] == "rtk_fixed" and x["item"] is None
    gz = store.exams.track(exam_id)
    assert gz is not None and hashlib.sha256(gz).hexdigest() == x["track_sha256"]
    assert gzip.decompress(gz) == (car.tmp / f"{exam_id}.jsonl").read_bytes(), "the car's track, byte for byte"
    assert not _rules(store) - {"exam-too-fast"}


def test_a_duplicate_delivery_and_a_second_fold_of_the_same_events_change_nothing(store, ingest, car) -> None:
    exam_id = exam_id_of("car-01", 2)
    events = car.exam(exam_id, "stall")
    ingest(inbound(events))
    before = store.exams.detail(exam_id)
    res = ingest(inbound(events))
    assert res.stored == 0 and res.duplicates == len(events)
    assert store.exams.detail(exam_id) == before
    with store.engine.tx() as cur:  # fold every event again, as a fold repeated after a crash would
        for ev in events:
            store.exams.fold_in(cur, "site-1", ev, time.time())
    again = store.exams.detail(exam_id)
    assert {k: v for k, v in again.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }


def test_exam_events_naming_another_units_exam_change_nothing_and_are_alerted(store, ingest, car, tmp_path) -> None:
    exam_id = exam_id_of("car-01", 3)
    ingest(inbound(car.exam(exam_id, "clean", upload=False)))
    stored = store.exams.detail(exam_id)
    other = Car(tmp_path, "car-02")
    try:
        forged = other.journal.record(
            [
                NewEvent(EventKind.EXAM_RESULT, case_id=exam_id, data={"score": 0, "passed": False}, ts=time.time()),
                NewEvent(EventKind.EXAM_STARTED, case_id=exam_id_of("car-01", 9), data={"candidate": "x"}, ts=1.0),
            ]
        )
    finally:
        other.close()
    ingest(inbound(forged))
    assert store.exams.detail(exam_id) == stored
    assert store.exams.get(exam_id_of("car-01", 9)) is None
    assert "case_of_another_unit" in _rules(store)


def test_a_track_with_an_altered_piece_is_corrupt_and_alerted(store, ingest, car) -> None:
    exam_id = exam_id_of("car-01", 4)
    events = car.exam(exam_id, "clean", upload=False)
    good = car.pieces(exam_id, piece_bytes=8 * 1024)
    assert len(good) >= 2
    first = TrackPiece.model_validate(good[0].data)
    bad = first.model_copy(update={"data": base64.b64encode(b"not the track").decode(), "index": 1, "last": True})
    forged = car.journal.record(
        [NewEvent(EventKind.EXAM_TRACK_CHUNK, case_id=exam_id, data=bad.model_dump(), ts=time.time())]
    )
    ingest(inbound(events + [good[0]] + forged))
    x = store.exams.get(exam_id)
    assert x["track_state"] == "corrupt" and store.exams.track(exam_id) is None
    assert "exam-track-missing" in _rules(store)


def test_a_track_whose_last_piece_came_before_a_missing_one_is_corrupt_until_it_arrives(store, ingest, car) -> None:
    exam_id = exam_id_of("car-01", 5)
    events = car.exam(exam_id, "clean", upload=False)
    chunks = car.pieces(exam_id, piece_bytes=8 * 1024)
    ingest(inbound(events + chunks[:1]))
    assert store.exams.get(exam_id)["track_state"] == "pending"
    ingest(inbound(chunks[2:]))  # the last piece, with one still missing
    assert store.exams.get(exam_id)["track_state"] == "corrupt"
    ingest(inbound(chunks[1:2]))
    assert store.exams.get(exam_id)["track_state"] == "complete" and store.exams.track(exam_id) is not None


def test_odd_exam_data_never_stops_ingest(store, ingest, car) -> None:
    exam_id = exam_id_of("car-01", 6)
    weird = [
        car.event(EventKind.EXAM_STARTED, exam_id, 100.0, candidate={"x": 1}, car="c" * 500, rules_version=7),
        car.event(EventKind.EXAM_ITEM_STARTED, exam_id, 101.0, item=["no"]),
        car.event(EventKind.EXAM_DEDUCTION, exam_id, 102.0, rule_id="r" * 100, points="ten", e="x", item="general"),
        car.event(EventKind.EXAM_DEDUCTION, exam_id, 102.5, points=5),
        car.event(EventKind.EXAM_TRACK_CHUNK, exam_id, 103.0, index="a", last=True),
        car.event(EventKind.EXAM_RESULT, exam_id, 104.0, score="high", passed="yes"),
        car.event(EventKind.DEVICE_FAULT, None, 105.0, device="gnss"),
    ]
    res = ingest(inbound(weird))
    assert res.stored == len(weird)
    x = store.exams.detail(exam_id)
    assert x["car"] == "c" * 200 and x["candidate"] is None and x["status"] == "invalid"
    assert [d["rule_id"] for d in x["deductions"]] == ["r" * 64] and x["deductions"][0]["points"] == 0
    assert x["track_state"] == "corrupt"
    assert store.unit_records.totals()["events_stored"] == len(weird)
