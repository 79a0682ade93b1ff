"""The exam console's JSON API: every route's roles, a candidate from import to a signed, reproduced result, bad input as 4xx."""

from __future__ import annotations

import asyncio
import datetime as dt
import re

import pytest
from bridge_helpers import make_settings
from fastapi.testclient import TestClient
from test_exam_helpers import Car, exam_id_of, id_number, inbound, online

from cloud_bridge.app import ROUTE_PERMS, create_app
from cloud_bridge.auth import GRANTS, Perm, Role, hash_password, new_token, token_hash
from cloud_bridge.exam_live import LivePositions, live_stream
from cloud_bridge.store import open_store

PASSWORD = "correct horse battery"
USERS = {"ada": Role.OPS_ADMIN, "vic": Role.OPS_VIEWER, "eve": Role.EXAM_OPERATOR}
EXAM_ROUTES = sorted(k for k in ROUTE_PERMS if k[1].startswith("/api/exam"))
HEADER = "name,id_number,licence_class,booking_time\n"


def _at(hour: int) -> str:
    return dt.datetime.now().replace(hour=hour, minute=0, second=0, microsecond=0).isoformat(timespec="minutes")


@pytest.fixture
def env(tmp_path, db_url):
    db = db_url
    store = open_store(db)
    store.migrate()
    tokens = {}
    for name, role in USERS.items():
        store.accounts.add_user(name, role.value, hash_password(PASSWORD))
        tok = new_token()
        store.accounts.add_token(token_hash(tok), name, "test")
        tokens[role] = {"Authorization": f"Bearer {tok}"}
    app = create_app(make_settings(db), store=store)
    car = Car(tmp_path, "car-01")
    app.state.service.ingest.ingest([online("car-01")])
    yield TestClient(app), store, tokens, car, app
    car.close()
    store.close()


def _body(path: str):
    return {
        "/api/exam/candidates/import": HEADER + f"张伟,{id_number(1)},C1,{_at(9)}\n",
        "/api/exam/candidates": {
            "name": "李娜",
            "id_number": id_number(2),
            "licence_class": "C2",
            "booking_time": _at(10),
        },
        "/api/exam/check-in": {"id_number": id_number(1)},
        "/api/exam/candidates/{candidate_id}/start": {"car": "car-01"},
        "/api/exam/exams/{exam_id}/sign-off": {"note": "ok"},
        "/api/exam/exams/{exam_id}/override": {"passed": True, "reason": "seen from the tower"},
    }.get(path)


def _call(client, method, path, headers):
    url = re.sub(
        r"\{(\w+)\}",
        lambda m: {"candidate_id": "cand-0000000000", "exam_id": "car-01-261206-000001", "name": "example-site"}[
            m.group(1)
        ],
        path,
    )
    body = _body(path)
    if isinstance(body, str):
        return client.request(method, url, content=body.encode(), headers={**headers, "content-type": "text/csv"})
    return client.request(method, url, json=body if method == "POST" else None, headers=headers)


def test_the_console_and_the_readers_routes_are_declared() -> None:
    perms = {k: ROUTE_PERMS[k] for k in EXAM_ROUTES}
    assert perms[("POST", "/api/exam/candidates/import")] == Perm.EXAM
    assert perms[("GET", "/api/exam/summary")] == Perm.EXAM_READ
    assert len(EXAM_ROUTES) == 15, EXAM_ROUTES
    assert GRANTS[Perm.EXAM] == {Role.EXAM_OPERATOR, Role.OPS_ADMIN}
    assert GRANTS[Perm.EXAM_READ] == {Role.EXAM_OPERATOR, Role.OPS_ADMIN, Role.OPS_VIEWER}


@pytest.mark.parametrize("method,path", EXAM_ROUTES)
def test_every_exam_route_refuses_anonymous_and_underprivileged_and_admits_the_granted(env, method, path) -> None:
    client, _, tokens, _, _ = env
    assert _call(client, method, path, {}).status_code == 401
    for role, headers in tokens.items():
        r = _call(client, method, path, headers)
        assert r.status_code < 500, f"{role} on {method} {path}: {r.status_code} {r.text[:200]}"
        if role in GRANTS[ROUTE_PERMS[(method, path)]]:
            assert r.status_code not in (401, 403), f"{role} refused on {method} {path}: {r.text[:200]}"
        else:
            assert r.status_code == 403, f"{role} admitted on {method} {path}: {r.status_code}"


def test_a_session_needs_the_csrf_token_to_act(env) -> None:
    client, _, _, _, _ = env
    page = client.get("/login")
    csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)
    assert (
        client.post(
            "/login", data={"name": "eve", "password": PASSWORD, "csrf": csrf}, follow_redirects=False
        ).status_code
        == 303
    )
    token = re.search(r'<meta name="csrf-token" content="([^"]+)"', client.get("/exam").text).group(1)
    body = {"id_number": id_number(1)}
    assert client.post("/api/exam/check-in", json=body).status_code == 403
    assert client.post("/api/exam/check-in", json=body, headers={"X-CSRF-Token": token}).status_code == 404


def test_a_candidate_from_import_to_a_signed_reproduced_result(env) -> None:
    client, store, tokens, car, app = env
    op = tokens[Role.EXAM_OPERATOR]
    bad = client.post(
        "/api/exam/candidates/import",
        content=(HEADER + "张伟,123,C1,soon\n").encode(),
        headers={**op, "content-type": "text/csv"},
    )
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"id_number", "booking_time"}
    good = client.post(
        "/api/exam/candidates/import",
        content=_body("/api/exam/candidates/import").encode(),
        headers={**op, "content-type": "text/csv"},
    )
    assert good.status_code == 200 and good.json() == {"imported": 1}
    (cand,) = client.get("/api/exam/candidates", headers=op).json()
    assert cand["status"] == "booked" and cand["name"] == "张伟"
    assert (
        client.post("/api/exam/check-in", json={"id_number": id_number(1)}, headers=op).json()["status"] == "checked_in"
    )
    (c,) = client.get("/api/exam/cars", headers=op).json()
    assert c["unit"] == "car-01" and c["online"] and not c["busy"]
    started = client.post(f"/api/exam/candidates/{cand['candidate_id']}/start", json={"car": "car-01"}, headers=op)
    assert started.status_code == 200, started.text
    exam_id = started.json()["exam_id"]
    assert store.commands.recent()[0]["request_id"] == started.json()["command_id"]
    app.state.service.ingest.ingest(inbound(car.exam(exam_id, "par-stop-3s", candidate="张伟")))
    x = client.get(f"/api/exam/exams/{exam_id}", headers=tokens[Role.OPS_VIEWER]).json()
    assert x["candidate_id"] == cand["candidate_id"] and x["status"] in ("passed", "failed") and x["deductions"]
    day = dt.datetime.fromtimestamp(x["started_at"]).astimezone().date().isoformat()
    listed = client.get(f"/api/exam/exams?day={day}&status={x['status']}", headers=op).json()
    assert [e["exam_id"] for e in listed] == [exam_id] and listed[0]["candidate_name"] == "张伟"
    track = client.get(f"/api/exam/exams/{exam_id}/track", headers=op).json()
    assert len(track["epochs"]) > 1000 and all(len(ep) == 4 and isinstance(ep[1], float) for ep in track["epochs"])
    assert track["signals"] and track["epochs"][0][3] == "rtk_fixed"
    assert client.get(f"/api/exam/exams/{exam_id}/reproduce", headers=op).json()["equal"] is True
    signed = client.post(f"/api/exam/exams/{exam_id}/sign-off", json={"note": "ok"}, headers=op)
    assert signed.status_code == 200 and signed.json()["signed_by"] == "eve"
    assert client.post(f"/api/exam/exams/{exam_id}/sign-off", json={}, headers=op).status_code == 409
    over = client.post(
        f"/api/exam/exams/{exam_id}/override", json={"passed": True, "reason": "line not touched"}, headers=op
    )
    assert over.status_code == 200 and over.json()["override"]["by"] == "eve"
    (site,) = client.get(f"/api/exam/summary?day={day}", headers=tokens[Role.OPS_VIEWER]).json()
    assert site["site"] == "site-1" and site["cars"] == 1 and sum(site["results"].values()) == 1
    assert {i["item"] for i in site["items"]} >= {"reverse_into_bay", "parallel_park"}
    course = client.get("/api/exam/courses/example-site", headers=op).json()
    assert {f["kind"] for f in course["features"]} == {"area", "line"}


@pytest.mark.parametrize(
    "method,url,body",
    [
        ("GET", "/api/exam/candidates?day=2026-13-01", None),
        ("GET", "/api/exam/exams?status=won", None),
        ("GET", "/api/exam/exams/a b", None),
        ("GET", "/api/exam/exams/car-01-261206-00000f", None),
        ("GET", "/api/exam/exams/car-01-261206-00000f/track", None),
        ("GET", "/api/exam/exams/car-01-261206-00000f/reproduce", None),
        ("GET", "/api/exam/courses/..%2F..%2Fetc", None),
        ("GET", "/api/exam/courses/nowhere", None),
        ("GET", "/api/exam/live", None),
        ("POST", "/api/exam/candidates/cand-xyz/start", {"car": "car-01"}),
        ("POST", "/api/exam/candidates/cand-0123456789/start", {"car": "car-01"}),
        ("POST", "/api/exam/candidates/cand-0123456789/start", {"car": "Car 1"}),
        ("POST", "/api/exam/check-in", {"id_number": "x" * 19}),
        ("POST", "/api/exam/check-in", {"id_number": id_number(1), "extra": 1}),
        (
            "POST",
            "/api/exam/candidates",
            {"name": "\x00", "id_number": "1", "licence_class": "C1", "booking_time": "x"},
        ),
        ("POST", "/api/exam/candidates", {"name": "a", "id_number": "1", "licence_class": "C1", "booking_time": "x"}),
        ("POST", "/api/exam/exams/car-01-261206-00000f/override", {"passed": "maybe", "reason": "r"}),
        ("POST", "/api/exam/exams/car-01-261206-00000f/override", {"passed": True, "reason": ""}),
        ("POST", "/api/exam/exams/car-01-261206-00000f/sign-off", {"note": "n"}),
    ],
)
def test_bad_input_is_a_clear_4xx(env, method, url, body) -> None:
    client, _, tokens, _, _ = env
    r = client.request(method, url, json=body, headers=tokens[Role.OPS_ADMIN])
    assert 400 <= r.status_code < 500 and r.json().get("detail"), (r.status_code, r.text[:200])


def test_an_import_that_is_not_utf8_or_has_no_site_is_refused(env) -> None:
    client, store, tokens, _, _ = env
    headers = {**tokens[Role.OPS_ADMIN], "content-type": "text/csv"}
    assert client.post("/api/exam/candidates/import", content=b"\xff\xfe", headers=headers).status_code == 400
    with store.engine.tx() as cur:
        store.unit_records.ensure_units_in(cur, {"car-09": "site-2"})
    r = client.post(
        "/api/exam/candidates/import", content=_body("/api/exam/candidates/import").encode(), headers=headers
    )
    assert r.status_code == 422 and "site" in r.json()["detail"]
    ok = client.post(
        "/api/exam/candidates/import?site=site-2",
        content=_body("/api/exam/candidates/import").encode(),
        headers=headers,
    )
    assert ok.status_code == 200 and store.candidates.of_day(0, 2e10)[0]["site"] == "site-2"


def test_the_live_stream_sends_positions_as_received_and_exam_changes_with_each_deduction(env) -> None:
    _, store, _, car, app = env
    live = LivePositions()
    exam_id = exam_id_of("car-01", 5)

    async def run() -> list[str]:
        seen: list[str] = []

        async def disconnected() -> bool:
            return any(c.startswith("event: exam") for c in seen)  # one poll sends every change it found

        stream = live_stream(live, store, disconnected, 0.0)
        report = (
            '{"v":1,"unit":"car-01","t":1.0,"lat":31.0,"lon":121.0,"e":5.0,"n":6.0,"quality":"rtk_fixed",'
            f'"exam_id":"{exam_id}"}}'
        )
        seen.append(await anext(stream))
        live.offer("passlane/v1/site-1/car-01/position", report.encode())
        live.offer("passlane/v1/site-1/car-02/position", report.encode())  # names another unit than its topic: dropped
        app.state.service.ingest.ingest(inbound(car.exam(exam_id, "par-stop-3s")))
        async for chunk in stream:
            seen.append(chunk)
        return seen

    chunks = asyncio.run(asyncio.wait_for(run(), 30))
    positions = [c for c in chunks if c.startswith("event: position")]
    assert len(positions) == 1 and '"e":5.0' in positions[0] and '"site":"site-1"' in positions[0]
    exams = [c for c in chunks if c.startswith("event: exam")]
    assert exams and all(exam_id in c for c in exams)
    deductions = store.exams.detail(exam_id)["deductions"]
    assert len(deductions) == sum('"deduction":{' in c for c in exams) > 0, "each deduction once, as it happened"
    assert set(live.latest) == {"car-01"}
