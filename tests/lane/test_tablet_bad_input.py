"""The tablet app against bad input (issue #16): each fault a security probe found on a running demo, pinned.

Most tests use a lane that is built but not started (real config, real SQLite journal, no broker or boards):
sign-in, sessions, limits and headers need nothing else. The case-file tests run a started lane on the
simulated boards and a real broker, because they need a real case in the journal.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path
from types import SimpleNamespace
from urllib.parse import quote

import pytest
from lane_helpers import PINS, lane_config, write_lane_toml
from starlette.testclient import TestClient

from lane_controller.hardware import BoardHardware
from lane_controller.runtime import Lane
from lane_controller.vin_camera import VinReading
from lane_controller.web import create_app

ROOT = Path(__file__).resolve().parents[2]
A_CASE = "lane-01-250101-abcdef"  # well-formed, not in the journal
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x00" * 64 + b"\xff\xd9"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


class Clock:
    """Time the test moves by hand."""

    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def cold_lane(tmp_path, site_pki):
    """A lane built from a real lane.toml with its real journal, not started (no broker, no boards)."""
    cfg = lane_config(
        tmp_path,
        SimpleNamespace(host="127.0.0.1", port=1),
        site_pki,
        io_url="socket://127.0.0.1:1",
        issuer_url="socket://127.0.0.1:1",
    )
    lane = Lane(cfg, hardware=BoardHardware(cfg.io_board.url, cfg.plate_issuer.url), reader=VinReading(load=False))
    yield lane
    lane.journal.close()


def tablet(app, address: str = "10.0.0.5", https: bool = False) -> TestClient:
    """A tablet at a client address; server errors come back as 500 answers (they must never happen)."""
    return TestClient(
        app,
        raise_server_exceptions=False,
        client=(address, 50000),
        base_url="https://lane" if https else "http://lane",
        follow_redirects=False,
    )


@pytest.fixture
def app(cold_lane):
    return create_app(cold_lane, manage_lifecycle=False)


def sign_in(client: TestClient, inspector: str = "insp-1") -> str:
    r = client.post("/api/session", json={"inspector_id": inspector, "pin": PINS[inspector]})
    assert r.status_code == 200, r.text
    return r.json()["token"]


def tablet_routes() -> list:
    """Every route of the tablet, from its routers (one per area)."""
    from lane_controller.web import ROUTERS

    return [r for router in ROUTERS for r in router.routes]


def journaled(lane: Lane, kind: str | None = None) -> list[dict]:
    return [e for e in lane.journal.events(0, 100000) if kind is None or e["kind"] == kind]


# ---------------------------------------------------------------- 1. over-long input is refused before it is journaled
@pytest.mark.parametrize(("length", "status"), [(65, 422), (140_000, 413), (600_000, 413)])
def test_an_over_long_inspector_id_is_refused_before_anything_is_journaled(app, cold_lane, length, status):
    r = tablet(app).post("/api/session", json={"inspector_id": "i" * length, "pin": "0000"})
    assert r.status_code == status
    assert r.json()["ok"] is False and r.json()["error"]
    assert len(r.content) < 4096  # the answer does not echo the input back
    assert journaled(cold_lane) == []


def test_a_failed_sign_in_journals_the_attempted_id_cut_to_64_chars_with_its_length_and_controls_escaped(cold_lane):
    attempted = "\x1b[2J\r\n" + "x" * 300
    assert cold_lane.check_pin(attempted, "0000") is None
    (event,) = journaled(cold_lane, "inspector.sign_in_failed")
    shown = event["data"]["inspector"]
    assert shown.startswith("\\x1b[2J\\r\\nxxx") and not any(ord(ch) < 32 for ch in shown)
    assert len(shown) == 64 and shown.endswith("…"), "the contract's actor limit (64) holds with the mark"
    assert event["data"]["inspector_truncated"] is True and event["data"]["inspector_length"] == len(attempted)
    assert event["actor"] == shown


def test_a_failed_sign_in_with_a_short_id_is_journaled_as_typed(cold_lane):
    assert cold_lane.check_pin("insp-9", "0000") is None
    (event,) = journaled(cold_lane, "inspector.sign_in_failed")
    assert event["data"] == {"inspector": "insp-9"} and event["actor"] == "insp-9"


OVER_LONG = [  # (path, JSON body) with one field one past its maximum
    ("/api/cases", {"station": "A" * 33, "id_number": "1"}),
    ("/api/cases", {"station": "A", "id_number": "1" * 65}),
    ("/api/cases", {"station": "A", "booking_number": "B" * 65}),
    (f"/api/cases/{A_CASE}/vin/confirm", {"vin": "V" * 33, "reason": "r"}),
    (f"/api/cases/{A_CASE}/vin/confirm", {"vin": "LSVAB4182E2100001", "reason": "r" * 501}),
    (f"/api/cases/{A_CASE}/items", {"item": "i" * 65, "result": "pass"}),
    (f"/api/cases/{A_CASE}/plate", {"number": "N" * 17}),
    (f"/api/cases/{A_CASE}/reject", {"reason": "r" * 501}),
    (f"/api/cases/{A_CASE}/hold", {"reason": "r" * 501}),
    (f"/api/cases/{'c' * 65}/admit", None),
    (f"/api/cases/{A_CASE}/photos/01111", None),
    (f"/api/alerts/{'k' * 129}/dismiss", None),
]


@pytest.mark.parametrize(
    ("path", "body"), OVER_LONG, ids=[f"{p.rsplit('/', 1)[-1]}-{i}" for i, (p, _) in enumerate(OVER_LONG)]
)
def test_every_field_from_outside_has_a_maximum_length(app, cold_lane, path, body):
    client = tablet(app)
    sign_in(client)
    before = journaled(cold_lane)
    r = client.post(path, json=body) if body is not None else client.post(path)
    assert r.status_code == 422, r.text
    assert r.json()["ok"] is False and r.json()["error"]
    assert journaled(cold_lane) == before


def test_a_json_body_over_64_kib_is_refused_with_413(app, cold_lane):
    client = tablet(app)
    sign_in(client)
    padded = json.dumps({"station": "A", "id_number": "110101199001011234"}) + " " * (65 * 1024)
    r = client.post("/api/cases", content=padded, headers={"content-type": "application/json"})
    assert r.status_code == 413 and r.json()["ok"] is False
    assert journaled(cold_lane, "case.opened") == []


def test_a_json_body_over_64_kib_without_a_content_length_is_refused_with_413(app):
    client = tablet(app)
    sign_in(client)

    def chunks():
        yield b'{"station": "A", "id_number": "1"'
        for _ in range(70):
            yield b" " * 1024
        yield b"}"

    r = client.post("/api/cases", content=chunks(), headers={"content-type": "application/json"})
    assert r.status_code == 413


# ---------------------------------------------------------------- 2. PIN back-off
def test_the_sign_in_back_off_allows_at_most_10_pin_checks_a_minute_from_one_address(cold_lane):
    """An attacker who tries as fast as the lane lets them (waiting exactly Retry-After when refused)."""
    clock = Clock()
    attacker = tablet(create_app(cold_lane, manage_lifecycle=False, clock=clock), "10.0.0.66")
    checked: list[float] = []  # when a PIN was actually checked (the lane answered 401, not 429)
    refused = 0
    end = clock.now + 60 * 60
    guess = 0
    while clock.now < end:
        r = attacker.post("/api/session", json={"inspector_id": "insp-1", "pin": f"{guess:04d}"})
        if r.status_code == 429:
            refused += 1
            wait = int(r.headers["retry-after"])
            assert wait >= 1 and r.json()["ok"] is False
            clock.now += wait
            continue
        assert r.status_code == 401
        checked.append(clock.now)
        guess += 1
        clock.now += 0.004  # the probe's 241 tries a second
    assert refused > 0
    started = checked[4]  # the back-off starts after the 5th failure
    after = [t for t in checked if t > started]
    per_minute = len(after) / ((end - started) / 60)
    busiest = max(sum(1 for u in after if t <= u < t + 60) for t in after)
    assert per_minute <= 1 and busiest <= 10, (per_minute, busiest)
    assert len(journaled(cold_lane, "inspector.sign_in_failed")) == len(
        checked
    )  # refused tries check no PIN and journal nothing


def test_a_locked_out_id_does_not_lock_out_another_inspector_at_another_address(cold_lane):
    clock = Clock()
    app = create_app(cold_lane, manage_lifecycle=False, clock=clock)
    attacker, colleague = tablet(app, "10.0.0.66"), tablet(app, "10.0.0.7")
    for guess in range(5):
        assert attacker.post("/api/session", json={"inspector_id": "insp-1", "pin": f"{guess:04d}"}).status_code == 401
    locked = attacker.post("/api/session", json={"inspector_id": "insp-1", "pin": PINS["insp-1"]})
    assert locked.status_code == 429 and int(locked.headers["retry-after"]) > 0  # even the right PIN: no oracle
    assert colleague.post("/api/session", json={"inspector_id": "insp-2", "pin": PINS["insp-2"]}).status_code == 200
    assert (
        colleague.post("/api/session", json={"inspector_id": "insp-1", "pin": PINS["insp-1"]}).status_code == 429
    )  # the id is locked
    assert (
        attacker.post("/api/session", json={"inspector_id": "insp-2", "pin": PINS["insp-2"]}).status_code == 429
    )  # so is the address
    clock.now += 10 * 60 + 1  # the lock has run out
    assert colleague.post("/api/session", json={"inspector_id": "insp-1", "pin": PINS["insp-1"]}).status_code == 200


def test_a_refused_sign_in_says_when_to_try_again_in_the_tablets_language(cold_lane):
    clock = Clock()
    client = tablet(create_app(cold_lane, manage_lifecycle=False, clock=clock))
    client.cookies.set("lang", "en")
    for guess in range(5):
        client.post("/api/session", json={"inspector_id": "insp-1", "pin": f"{guess:04d}"})
    r = client.post("/api/session", json={"inspector_id": "insp-1", "pin": "0000"})
    assert r.status_code == 429 and "Too many" in r.json()["error"] and r.headers["retry-after"] in r.json()["error"]


# ---------------------------------------------------------------- 3. case files: only the case's own photo folder
@pytest.fixture
def running(tmp_path, mqtt_broker, site_pki, boards):
    """A started lane on the simulated boards and a real broker (no bridge: the case waits for the cloud), with one open case."""
    io, issuer = boards
    cfg = lane_config(tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url)
    lane = Lane(cfg, hardware=BoardHardware(io.url, issuer.url, poll_s=0.2), reader=VinReading(load=False))
    with TestClient(create_app(lane), raise_server_exceptions=False, follow_redirects=False) as client:
        sign_in(client)
        cid = client.post("/api/cases", json={"station": "A", "id_number": "110101199001011234"}).json()["case"][
            "case_id"
        ]
        client.lane, client.cid = lane, cid
        yield client


def _secrets_beside_the_photos(lane: Lane, cid: str) -> dict[str, bytes]:
    """What the probe reached: a PIN file and the journal in the data folder, a sibling folder whose name starts with the case id."""
    data = lane.data_dir
    (data / "inspector.pin").write_text("4242\n")
    (data / "photos" / f"{cid}-x").mkdir(parents=True, exist_ok=True)
    (data / "photos" / f"{cid}-x" / "secret.txt").write_text("sibling secret")
    (data / "photos" / cid).mkdir(parents=True, exist_ok=True)
    (data / "photos" / cid / "0111-1.jpg").write_bytes(JPEG)
    (data / "photos" / cid / "out.jpg").symlink_to(data / "inspector.pin")
    return {"pin": b"4242", "journal": b"SQLite format 3", "sibling": b"sibling secret"}


TRAVERSALS = [
    "/api/cases/%2E%2E/files/inspector.pin",
    "/api/cases/%2E%2E/files/lane.sqlite",
    "/api/cases/%2e%2e/files/photos%2F..%2Finspector.pin",
    "/api/cases/{cid}/files/photos%2F{cid}%2F..%2F..%2Finspector.pin",
    "/api/cases/{cid}/files/photos/{cid}/%2E%2E/%2E%2E/inspector.pin",
    "/api/cases/%2E%2E/files/{data}/lane.sqlite",
    "/api/cases/{cid}/files/{data}/inspector.pin",
    "/api/cases/{cid}/files//etc/passwd",
    "/api/cases/{cid}/files/photos/{cid}-x/secret.txt",
    "/api/cases/{cid}/files/photos/{cid}/out.jpg",
    "/api/cases/{cid}/files/photos/{cid}/%00.jpg",
    "/api/cases/{cid}/files/" + "a" * 5000,
    "/api/cases/.%2E/files/inspector.pin",
    "/api/cases/%2E/files/photos/{cid}/0111-1.jpg",
]


def test_case_files_serve_no_file_outside_the_cases_photo_folder_in_any_traversal_form(running):
    lane, cid = running.lane, running.cid
    secret = _secrets_beside_the_photos(lane, cid)
    assert (
        running.get(f"/api/cases/{cid}/files/photos/{cid}/0111-1.jpg").content == JPEG
    )  # the case's own photo is served
    served = {}
    for form in TRAVERSALS:
        url = form.format(cid=cid, data=quote(str(lane.data_dir.resolve())))
        r = running.get(url)
        if r.status_code not in (404, 422) or any(s in r.content for s in secret.values()):
            served[form] = (r.status_code, r.content[:40])
    assert served == {}


def test_case_files_of_a_case_that_does_not_exist_are_not_served(running):
    folder = running.lane.data_dir / "photos" / A_CASE
    folder.mkdir(parents=True)
    (folder / "0111-1.jpg").write_bytes(JPEG)
    assert running.get(f"/api/cases/{A_CASE}/files/photos/{A_CASE}/0111-1.jpg").status_code == 404


# ---------------------------------------------------------------- photos: only real JPEG or PNG, at most 10 MB
@pytest.mark.parametrize(
    ("content_type", "data", "status"),
    [
        ("image/jpeg", b"<html><script>alert(1)</script>", 422),
        ("text/html", JPEG, 422),
        ("image/png", JPEG[:2], 422),
        ("image/jpeg", b"", 422),
        ("image/jpeg", b"\xff\xd8\xff" + b"\x00" * (10 * 1024 * 1024), 413),
    ],
)
def test_a_photo_that_is_not_a_jpeg_or_png_or_over_10_mb_is_refused_and_not_stored(running, content_type, data, status):
    r = running.post(f"/api/cases/{running.cid}/photos/0111", files={"file": ("p.jpg", data, content_type)})
    assert r.status_code == status and r.json()["ok"] is False
    assert not (running.lane.data_dir / "photos" / running.cid).exists()


@pytest.mark.parametrize("data", [JPEG, PNG])
def test_a_jpeg_or_png_photo_passes_the_boundary_to_the_case_machine(running, data):
    r = running.post(
        f"/api/cases/{running.cid}/photos/0111",
        files={"file": ("p", data, "image/png" if data == PNG else "image/jpeg")},
    )
    assert (
        r.status_code == 409
    )  # past the boundary: the case machine answers (the case is not at the checklist yet), as before


@pytest.mark.parametrize(
    "upload",
    [
        {"files": [("file", ("a.jpg", JPEG, "image/jpeg")), ("file", ("b.jpg", JPEG, "image/jpeg"))]},  # two files
        {"data": {"file": "not a file"}},
        {
            "content": b'--x\r\nContent-Disposition: form-data; name="file"\r\n',
            "headers": {"content-type": "multipart/form-data; boundary=x"},
        },
        {"content": b"garbage", "headers": {"content-type": "multipart/form-data"}},
    ],
)
def test_a_malformed_photo_upload_is_a_clear_4xx(app, upload):
    client = tablet(app)
    sign_in(client)
    r = client.post(f"/api/cases/{A_CASE}/photos/0111", **upload)
    assert r.status_code in (400, 413, 422), (r.status_code, r.text)
    assert r.json()["ok"] is False and r.json()["error"]


# ---------------------------------------------------------------- 4. sign-out revokes the session
def test_a_token_presented_after_sign_out_is_refused(app):
    client = tablet(app)
    token = sign_in(client)
    bearer = {"Authorization": f"Bearer {token}"}
    assert client.get("/api/lane", headers=bearer).status_code == 200
    assert client.delete("/api/session", headers=bearer).status_code == 200
    assert client.get("/api/lane", headers=bearer).status_code == 401
    other = tablet(app, "10.0.0.8")
    other.cookies.set("passlane_session", token)  # the cookie that carried the same session
    assert other.get("/api/lane").status_code == 401 and other.get("/api/session").json()["ok"] is False


def test_signing_out_with_the_cookie_revokes_it_and_leaves_other_sessions_alone(app):
    mine, theirs = tablet(app), tablet(app, "10.0.0.8")
    sign_in(mine)
    their_token = sign_in(theirs, "insp-2")
    stolen = mine.cookies.get("passlane_session")
    assert mine.delete("/api/session").status_code == 200
    replay = tablet(app, "10.0.0.9")
    replay.cookies.set("passlane_session", stolen)
    assert replay.get("/api/lane").status_code == 401
    assert theirs.get("/api/lane", headers={"Authorization": f"Bearer {their_token}"}).status_code == 200


def test_a_session_survives_a_restart_when_the_session_secret_is_configured(tmp_path, site_pki):
    """The crash test relies on it: a lane killed and restarted keeps its inspectors signed in."""
    (tmp_path / "session.secret").write_text("s3cret")
    extra_ui = f'session_secret = {{ file = "{tmp_path / "session.secret"}" }}\n'
    cfg_path = write_lane_toml(
        tmp_path,
        SimpleNamespace(host="127.0.0.1", port=1),
        site_pki,
        io_url="socket://127.0.0.1:1",
        issuer_url="socket://127.0.0.1:1",
    )
    cfg_path.write_text(cfg_path.read_text().replace("[ui]\n", "[ui]\n" + extra_ui))
    from edge.config import load_config

    def app_of_a_fresh_lane() -> tuple:
        cfg = load_config(cfg_path)
        lane = Lane(cfg, hardware=BoardHardware(cfg.io_board.url, cfg.plate_issuer.url), reader=VinReading(load=False))
        return lane, create_app(lane, manage_lifecycle=False)

    lane, first = app_of_a_fresh_lane()
    token = sign_in(tablet(first))
    lane.journal.close()
    lane, second = app_of_a_fresh_lane()
    assert tablet(second).get("/api/lane", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    lane.journal.close()


# ---------------------------------------------------------------- 5. no open redirect
@pytest.mark.parametrize(
    "target",
    [
        "//evil.example/x",
        "/\\evil.example/x",
        "https://evil.example/x",
        "\\\\evil.example",
        "/%2F/evil.example",
        "javascript:alert(1)",
        "/\r\nSet-Cookie: a=b",
        " //evil.example",
        "/" + "a" * 5000,
    ],
)
def test_the_language_toggle_redirects_only_to_a_local_path(app, target):
    r = tablet(app).get("/lang/en", params={"next": target})
    assert r.status_code in (303, 422)
    if r.status_code == 303:
        assert r.headers["location"] == "/"


def test_the_language_toggle_returns_to_the_local_page_it_came_from(app):
    r = tablet(app).get("/lang/en", params={"next": "/cases/lane-01-250101-abcdef"})
    assert r.status_code == 303 and r.headers["location"] == "/cases/lane-01-250101-abcdef"
    assert "lang=en" in r.headers["set-cookie"]


# ---------------------------------------------------------------- 6. the API description only for a signed-in inspector
@pytest.mark.parametrize("path", ["/openapi.json", "/docs", "/redoc", "/docs/oauth2-redirect"])
def test_the_api_description_is_not_public(app, path):
    assert tablet(app).get(path).status_code in (401, 404)


def test_a_signed_in_inspector_can_read_the_api_description(app):
    client = tablet(app)
    sign_in(client)
    spec = client.get("/openapi.json")
    assert spec.status_code == 200 and "/api/cases/{case_id}/files/{path}" in spec.json()["paths"]


# ---------------------------------------------------------------- 7. health without the pid
def test_health_tells_a_monitor_what_it_needs_and_not_the_pid(app):
    health = tablet(app).get("/api/health").json()
    assert "pid" not in health
    assert {"ok", "unit", "cloud_connected", "outbox", "open_cases", "alerts", "step_ms"} <= set(health)


# ---------------------------------------------------------------- 8. no input gives a 500
@pytest.mark.parametrize("action", ["reject", "admit", "hold", "resume"])
@pytest.mark.parametrize(
    "body",
    [
        b"not json",
        b"[1, 2]",
        b"null",
        b'{"reason": 5}',
        b'{"reason": "x", "extra": 1}',
        b"\xff\xfe",
        b"[" * 30000,
        b'{"reason": "x"',
    ],
)
def test_a_bad_body_to_a_case_action_is_a_clear_4xx(app, action, body):
    client = tablet(app)
    sign_in(client)
    r = client.post(f"/api/cases/{A_CASE}/{action}", content=body, headers={"content-type": "application/json"})
    assert r.status_code in (400, 422), (r.status_code, r.text)
    assert r.json()["ok"] is False and r.json()["error"]


NASTY = ["..", "%2E%2E", "%00", "x" * 3000, "\u202e", "%F0%9F%92%A9", A_CASE, "-1", "1e999", "%0d%0a"]


def test_no_path_or_query_value_gives_a_server_error(app):
    """Every route of the tablet, every path parameter and query replaced by nasty values."""
    client = tablet(app)
    sign_in(client)
    routes = [r for r in tablet_routes() if r.path != "/api/stream"]
    errors = []
    for route in routes:
        for value in NASTY:
            path = route.path
            for name in route.param_convertors:
                path = path.replace("{" + name + "}", value).replace("{" + name + ":path}", value)
            for method in sorted(route.methods - {"HEAD"}):
                for query in ("", f"?next={value}&state={value}&limit={value}&since={value}"):
                    r = client.request(
                        method, path + query, content=value.encode(), headers={"content-type": "application/json"}
                    )
                    if method == "DELETE":
                        sign_in(client)  # signing out was one of the routes
                    if r.status_code >= 500:
                        errors.append((method, path[:80], query[:40], r.status_code))
    assert errors == []


@pytest.mark.parametrize("since", ["abc", "1" * 5000, "-5"])
def test_a_bad_stream_position_is_refused_before_the_stream_starts(app, since):
    client = tablet(app)
    sign_in(client)
    assert client.get("/api/stream", params={"since": since}).status_code == 422


# ---------------------------------------------------------------- 9. headers and cookies
SECURITY_HEADERS = {"x-frame-options": "DENY", "x-content-type-options": "nosniff", "referrer-policy": "no-referrer"}


@pytest.mark.parametrize(
    "path", ["/login", "/api/health", "/static/app.js", "/no-such-page", "/api/lane", "/lang/en?next=//x"]
)
def test_every_response_carries_the_security_headers(app, path):
    r = tablet(app).get(path)
    for name, value in SECURITY_HEADERS.items():
        assert r.headers.get(name) == value, (name, r.headers.get(name))
    csp = {d.split()[0]: d.split()[1:] for d in r.headers["content-security-policy"].split(";") if d.strip()}
    assert csp["default-src"] == ["'self'"] and csp["frame-ancestors"] == ["'none'"]
    assert csp["script-src"] == ["'self'"] and "'unsafe-inline'" not in r.headers["content-security-policy"]


def test_the_pages_carry_no_inline_script_or_event_handler(app):
    client = tablet(app)
    sign_in(client)
    for name in sorted((ROOT / "lane_controller" / "templates").glob("*.html")):
        text = name.read_text()
        assert "<script>" not in text and not [
            a for a in ("onclick=", "onload=", "onsubmit=", "onchange=", "javascript:") if a in text
        ], name
    for page in (client.get("/login").text, client.get("/").text):
        assert "<script src=" in page and "<script>" not in page and " onclick=" not in page


@pytest.mark.parametrize("https", [False, True])
def test_cookies_are_httponly_strict_and_secure_over_tls(app, https):
    client = tablet(app, https=https)
    r = client.post("/api/session", json={"inspector_id": "insp-1", "pin": PINS["insp-1"]})
    for cookie in (r.headers["set-cookie"], client.get("/lang/en").headers["set-cookie"]):
        attrs = {a.strip().split("=")[0].lower(): a for a in cookie.split(";")}
        assert "httponly" in attrs and attrs["samesite"].split("=")[1].lower() == "strict", cookie
        assert ("secure" in attrs) == https, cookie


# ---------------------------------------------------------------- 10. small modules: routers, no long functions
def _tablet_sources() -> list[Path]:
    return [ROOT / "lane_controller" / "web.py", *sorted((ROOT / "lane_controller" / "tablet").glob("*.py"))]


def test_the_tablet_code_has_no_function_over_80_lines_and_no_class_over_300():
    long = []
    for path in _tablet_sources():
        for node in ast.walk(ast.parse(path.read_text())):
            limit = 300 if isinstance(node, ast.ClassDef) else 80
            if (
                isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef)
                and node.end_lineno - node.lineno + 1 > limit
            ):
                long.append(f"{path.name}:{node.name} {node.end_lineno - node.lineno + 1} lines")
    assert long == []


def test_every_url_of_the_tablet_is_still_served():
    paths = {(m, r.path) for r in tablet_routes() for m in r.methods - {"HEAD"}}
    expected = {
        ("GET", "/"),
        ("GET", "/login"),
        ("GET", "/cases/{case_id}"),
        ("GET", "/fragments/overview"),
        ("GET", "/fragments/cases/{case_id}"),
        ("GET", "/lang/{code}"),
        ("POST", "/api/session"),
        ("DELETE", "/api/session"),
        ("GET", "/api/session"),
        ("GET", "/api/health"),
        ("GET", "/api/lane"),
        ("POST", "/api/cases"),
        ("GET", "/api/cases"),
        ("GET", "/api/cases/{case_id}"),
        ("POST", "/api/cases/{case_id}/vin/confirm"),
        ("POST", "/api/cases/{case_id}/vin/reread"),
        ("POST", "/api/cases/{case_id}/items"),
        ("POST", "/api/cases/{case_id}/photos/{code}"),
        ("POST", "/api/cases/{case_id}/plate"),
        ("POST", "/api/cases/{case_id}/passed"),
        ("POST", "/api/cases/{case_id}/{action}"),
        ("GET", "/api/cases/{case_id}/files/{path:path}"),
        ("POST", "/api/alerts/{key}/dismiss"),
        ("GET", "/api/stream"),
    }
    assert expected <= paths
