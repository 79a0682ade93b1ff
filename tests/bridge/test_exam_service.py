"""The exam service: candidates imported all or nothing, checked in, started on a car by a real command, signed off, overridden."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from bridge_helpers import make_settings
from test_exam_helpers import Car, exam_id_of, id_number, inbound, online

from cloud_bridge.exams import ExamError, ExamService, ImportRefused
from cloud_bridge.service import Service
from edge.contract import CASE_ID_RE, CommandName, RemoteCommand, case_owner

HEADER = "name,id_number,licence_class,booking_time\n"


def _at(hour: int, minute: int = 0) -> str:
    return dt.datetime.now().replace(hour=hour, minute=minute, second=0, microsecond=0).isoformat(timespec="minutes")


@pytest.fixture
def env(store, tmp_path):
    sent: list[tuple[str, bytes]] = []
    service = Service(
        make_settings(str(tmp_path / "unused.sqlite3")), store, publish=lambda t, p, q, r: sent.append((t, p))
    )
    car = Car(tmp_path, "car-01")
    service.ingest.ingest([online("car-01")])
    yield ExamService(service), service.ingest, car, sent
    car.close()


def _audit(store, action: str) -> list[dict]:
    return [e for e in store.audit.entries() if e["action"] == action]


def test_a_csv_with_bad_rows_names_each_and_imports_nothing(env, store) -> None:
    exams, _, _, _ = env
    text = (
        HEADER
        + f"张伟,{id_number(1)},C1,{_at(9)}\n"
        + f"李娜,{id_number(2)[:-1]}0,C1,{_at(9, 30)}\n"  # wrong check character
        + f"王芳,{id_number(3)},B2,not a time\n"
    )
    with pytest.raises(ImportRefused) as refused:
        exams.import_csv(text, "site-1", "olga")
    assert refused.value.errors == [
        {"row": 2, "field": "id_number", "message": refused.value.errors[0]["message"]},
        {"row": 3, "field": "licence_class", "message": "licence class must be one of C1, C2"},
        {"row": 3, "field": "booking_time", "message": refused.value.errors[2]["message"]},
    ]
    assert "check character" in refused.value.errors[0]["message"]
    assert store.candidates.of_day(0, 2e10) == [] and not _audit(store, "exam.candidates_added")


def test_a_good_csv_imports_every_row_once_and_a_repeat_imports_nothing(env, store) -> None:
    exams, _, _, _ = env
    text = HEADER + f"张伟,{id_number(1)},C1,{_at(9)}\n李娜,{id_number(2)},c2,{_at(9, 30)}\n"
    assert exams.import_csv(text, None, "olga") == 2  # the one site the bridge hears from
    rows = store.candidates.of_day(0, 2e10)
    assert [(r["name"], r["licence_class"], r["status"], r["site"]) for r in rows] == [
        ("张伟", "C1", "booked", "site-1"),
        ("李娜", "C2", "booked", "site-1"),
    ]
    assert all(r["candidate_id"].startswith("cand-") and len(r["candidate_id"]) == 15 for r in rows)
    with pytest.raises(ImportRefused) as refused:
        exams.import_csv(text + f"王芳,{id_number(3)},C1,{_at(10)}\n", "site-1", "olga")
    assert refused.value.errors[0]["row"] == 1 and len(store.candidates.of_day(0, 2e10)) == 2
    assert _audit(store, "exam.candidates_added")[0]["actor"] == "olga"
    with pytest.raises(ImportRefused) as header:
        exams.import_csv("name,id\n", "site-1", "olga")
    assert header.value.errors[0]["field"] == "header"


def test_check_in_by_id_number_once(env, store) -> None:
    exams, _, _, _ = env
    exams.add_one(
        {"name": "张伟", "id_number": id_number(1), "licence_class": "C1", "booking_time": _at(8)}, None, "olga"
    )
    with pytest.raises(ExamError) as unknown:
        exams.check_in(id_number(2), "olga")
    assert unknown.value.status == 404
    row = exams.check_in(id_number(1).lower(), "olga")
    assert row["status"] == "checked_in" and row["checked_in_at"] is not None
    with pytest.raises(ExamError) as again:
        exams.check_in(id_number(1), "olga")
    assert again.value.status == 409
    assert _audit(store, "exam.check_in")[0]["target"] == f"candidate/{row['candidate_id']}"


def _checked_in(exams, n: int = 1) -> dict:
    exams.add_one(
        {"name": f"考生{n}", "id_number": id_number(n), "licence_class": "C1", "booking_time": _at(8)}, None, "olga"
    )
    return exams.check_in(id_number(n), "olga")


def test_start_sends_start_exam_with_a_bridge_made_exam_id_and_the_cars_exam_links_to_the_candidate(env, store) -> None:
    exams, ingest, car, sent = env
    cand = _checked_in(exams)
    with pytest.raises(ExamError) as unknown_car:
        exams.start(cand["candidate_id"], "car-09", "olga")
    assert unknown_car.value.status == 404
    out = exams.start(cand["candidate_id"], "car-01", "olga")
    assert CASE_ID_RE.match(out["exam_id"]) and case_owner(out["exam_id"]) == "car-01"
    ((topic_name, payload),) = sent
    cmd = RemoteCommand.model_validate_json(payload)
    assert topic_name == "passlane/v1/site-1/car-01/cmd" and cmd.command == CommandName.START_EXAM
    assert cmd.args == {"candidate": "考生1", "exam_id": out["exam_id"]} and cmd.request_id == out["command_id"]
    assert cmd.expires_at - cmd.issued_at == pytest.approx(30.0) and cmd.issued_by == "olga"
    assert _audit(store, "command.sent") and _audit(store, "exam.start")[0]["actor"] == "olga"
    with pytest.raises(ExamError) as twice:
        exams.start(cand["candidate_id"], "car-01", "olga")
    assert twice.value.status == 409
    other = _checked_in(exams, 2)
    with pytest.raises(ExamError) as held:  # the start is on its way to the car: the car is taken
        exams.start(other["candidate_id"], "car-01", "olga")
    assert held.value.status == 409 and "busy" in held.value.detail
    ingest.ingest(inbound(car.exam(out["exam_id"], "clean", candidate="考生1")))
    x = store.exams.get(out["exam_id"])
    assert x["candidate_id"] == cand["candidate_id"] and x["status"] == "passed"
    assert store.candidates.get(cand["candidate_id"])["status"] == "done"


def test_a_run_without_a_verdict_lets_the_candidate_drive_again(env, store) -> None:
    exams, ingest, car, _ = env
    cand = _checked_in(exams)
    first = exams.start(cand["candidate_id"], "car-01", "olga")
    ingest.ingest(inbound(car.exam(first["exam_id"], "rtk-lost-5s")))
    assert store.exams.get(first["exam_id"])["status"] == "invalid"
    assert store.candidates.get(cand["candidate_id"])["status"] == "checked_in"
    again = exams.start(cand["candidate_id"], "car-01", "olga")
    assert again["exam_id"] != first["exam_id"]
    assert store.candidates.get(cand["candidate_id"])["exam_id"] == again["exam_id"]


def test_a_busy_or_offline_car_is_refused(env, store) -> None:
    exams, ingest, car, _ = env
    ingest.ingest(inbound(car.exam(exam_id_of("car-01", 7), "clean", end=False)))
    cand = _checked_in(exams)
    with pytest.raises(ExamError) as busy:
        exams.start(cand["candidate_id"], "car-01", "olga")
    assert busy.value.status == 409 and "busy" in busy.value.detail
    assert store.candidates.get(cand["candidate_id"])["status"] == "checked_in"


def test_sign_off_of_a_finished_exam_once_and_override_is_kept_audited_and_alerted(env, store) -> None:
    exams, ingest, car, _ = env
    running = exam_id_of("car-01", 1)
    ingest.ingest(inbound(car.exam(running, "clean", end=False)))
    with pytest.raises(ExamError) as under_way:
        exams.sign_off(running, "exa", "")
    assert under_way.value.status == 409
    done = exam_id_of("car-01", 2)
    ingest.ingest(inbound(car.exam(done, "par-stop-3s")))
    signed = exams.sign_off(done, "exa", "ok")
    assert signed["signed_by"] == "exa" and signed["sign_note"] == "ok"
    with pytest.raises(ExamError):
        exams.sign_off(done, "exa", "again")
    before = store.exams.get(done)
    x = exams.override(done, "exa", False, "the candidate touched the line, seen from the tower")
    assert x["status"] == before["status"] and x["score"] == before["score"], "the electronic result stays"
    assert x["override"]["passed"] is False and x["override"]["electronic"]["status"] == before["status"]
    alert = next(a for a in store.alerts.recent("active") if a["rule"] == "exam-result-overridden")
    assert alert["case_id"] == done and alert["unit"] == "car-01" and alert["site"] == "site-1"
    assert f"/exam/exams/{done}" in alert["detail"]
    entry = _audit(store, "exam.override")[0]
    assert entry["actor"] == "exa" and json.loads(entry["detail"])["passed"] is False
    with pytest.raises(ExamError) as unknown:
        exams.override(exam_id_of("car-01", 99), "exa", True, "x")
    assert unknown.value.status == 404


@pytest.mark.parametrize("profile", ["clean", "par-stop-3s", "belt-never", "rtk-lost-5s", "rtk-lost-2s"])
def test_a_stored_result_is_reproduced_by_replaying_its_stored_track(env, store, profile) -> None:
    exams, ingest, car, _ = env
    exam_id = exam_id_of("car-01", 3)
    ingest.ingest(inbound(car.exam(exam_id, profile)))
    out = exams.reproduce(exam_id)
    assert out["equal"], out
    assert out["stored"]["status"] == store.exams.get(exam_id)["status"] and out["rules_version"] == "c1-2022.1"


def test_a_stored_result_that_was_altered_no_longer_reproduces(env, store) -> None:
    exams, ingest, car, _ = env
    exam_id = exam_id_of("car-01", 4)
    ingest.ingest(inbound(car.exam(exam_id, "par-stop-3s")))
    with store.engine.tx() as cur:
        cur.x("UPDATE exams SET score = 100, status = 'passed' WHERE exam_id = ?", (exam_id,))
    out = exams.reproduce(exam_id)
    assert not out["equal"] and out["replayed"]["score"] < 100
    with pytest.raises(ExamError) as no_track:
        missing = exam_id_of("car-01", 5)
        ingest.ingest(inbound(car.exam(missing, "clean", upload=False)))
        exams.reproduce(missing)
    assert no_track.value.status == 404
