"""The exam console in headless Chromium, over a real bridge, broker and exam-car MQTT account.

An exam operator imports candidates (a file with a bad row imports nothing and names the row), checks one in
and starts the exam on a free car; the car (this test, with the car's own account, journal and judge) answers
the bridge's `start_exam` with the exam it judges from a simulated drive: positions on the `position` leaf
move the car on the live map, the judge's events and the track pieces reach the bridge as events. The result
page then shows the track, each deduction where it happened and a replay slider; the examiner signs it off and
overrides it; it prints on one A4 page. Set PASSLANE_EXAM_SCREENSHOTS to a folder to keep the screenshots.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
import threading
import time
from functools import cache
from pathlib import Path
from typing import Any

import pytest
from bridge_helpers import Lane, make_settings, wait_for

from cloud_bridge.auth import hash_password
from cloud_bridge.reference import id_check_char
from cloud_bridge.runner import Bridge
from edge.broker import MosquittoBroker
from edge.contract import EventKind, Leaf, PositionReport, UnitState, UnitStatus, new_case_id
from edge.journal import Journal, NewEvent
from edge.pki import SitePki
from exam_vehicle.car import load_car
from exam_vehicle.course import load_course
from exam_vehicle.exam_run import ExamRun
from exam_vehicle.gnss.epoch import Epoch
from exam_vehicle.judge import Judge
from exam_vehicle.rules import load_rules
from exam_vehicle.track import Input, TrackHeader
from exam_vehicle.track_upload import compress_once, pieces
from site_sim.exam_car import PROFILES, drive_exam

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("local_noon")]  # "today's" candidates stay today's

CHROMIUM = "/usr/bin/chromium"
PASSWORD = "correct horse battery"
SITE = "site-1"
PROFILE = "bay-stop-3s"  # one stop over 2 s in the bay: -5, passed
SHOTS = os.environ.get("PASSLANE_EXAM_SCREENSHOTS")
LIVE_POSITIONS = 20


def id_number(serial: int) -> str:
    first17 = f"32010219900101{serial:03d}"
    return first17 + id_check_char(first17)


@cache
def drive() -> tuple[TrackHeader, tuple[Input, ...]]:
    header, inputs, _ = drive_exam(PROFILES[PROFILE][0])
    return header, tuple(inputs)


class ExamCar:
    """An exam vehicle as the bridge sees it: its MQTT account, its journal (chained, gap-free events), its judge."""

    def __init__(self, broker: MosquittoBroker, pki: SitePki, tmp: Path, unit: str) -> None:
        self.unit, self.tmp = unit, tmp
        self.link = Lane(broker, pki, unit, SITE)
        self.journal = Journal(tmp / f"{unit}.journal.sqlite", unit)
        self.course = load_course("example-site")
        status = UnitStatus(unit=unit, state=UnitState.ONLINE, ts=time.time(), role="exam-vehicle")
        self.link.publish_raw(Leaf.STATUS, status.to_bytes())
        self.run: ExamRun | None = None

    def send(self, events: list[NewEvent]) -> None:
        for env in self.journal.record(events):
            self.link.publish_event(env)

    def start_command(self) -> dict[str, Any]:
        cmd = wait_for(
            lambda: next((c for c in self.link.commands if c["command"] == "start_exam"), None), 15, "start_exam"
        )
        return cmd["args"]

    def begin(self, exam_id: str, candidate: str, inputs: list[Input]) -> None:
        """`exam.started`, then the judge fed with the drive's inputs up to where the live part starts."""
        header, _ = drive()
        p = PROFILES[PROFILE][0]
        header = header.model_copy(update={"exam_id": exam_id, "candidate": candidate, "started_at": inputs[0].t})
        data = {"exam_id": exam_id, "candidate": candidate, "car": header.car, "course": header.course}
        self.send([NewEvent(EventKind.EXAM_STARTED, case_id=exam_id, actor="examiner", ts=inputs[0].t,
                            data={**data, "rules_version": header.rules_version})])  # fmt: skip
        judge = Judge(self.course, load_car(p.car), load_rules(p.rules))
        self.run = ExamRun(header, judge, self.tmp / f"{exam_id}.jsonl", self.send, str)

    def feed(self, inp: Input, live: bool = False) -> dict[str, float] | None:
        """One input to the judge; a live epoch also goes out as the car's position. Returns where the car is."""
        assert self.run is not None
        self.run.feed(inp)
        if not (live and isinstance(inp, Epoch) and inp.lat is not None and inp.lon is not None):
            return None
        e, n, _ = self.course.enu(inp.lat, inp.lon)
        v = self.run.view
        report = PositionReport(
            unit=self.unit, t=inp.t, lat=inp.lat, lon=inp.lon, e=e, n=n, heading_deg=inp.heading_deg,
            speed_mps=inp.speed_mps, quality=inp.quality.value, exam_id=v.exam_id, item=v.item, score=v.score,
        )  # fmt: skip
        self.link.publish_raw(Leaf.POSITION, report.to_bytes(), qos=0)
        return {"e": e, "n": n}

    def finish(self, exam_id: str, t: float) -> None:
        assert self.run is not None
        self.run.finish(t)
        gz = compress_once(self.tmp / f"{exam_id}.jsonl")
        self.send(
            [
                NewEvent(
                    EventKind.EXAM_TRACK_CHUNK, case_id=exam_id, actor="system", data=p.model_dump(), ts=time.time()
                )
                for p in pieces(exam_id, gz)
            ]
        )

    def close(self) -> None:
        self.link.close()
        self.journal.close()


@pytest.fixture
def site(tmp_path: Path):
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    import uvicorn

    pki = SitePki(tmp_path / "pki")
    pki.init(SITE, {"bridge": "bridge", "ops": "ops", "car-01": "exam-vehicle", "car-02": "exam-vehicle"})
    broker = MosquittoBroker(pki, tmp_path / "broker")
    broker.start()
    bridge = Bridge(make_settings(str(tmp_path / "b.sqlite3"), broker=broker, pki=pki), sweep_s=1.0).start()
    for name, role in (("eve", "exam-operator"), ("vic", "ops-viewer"), ("ada", "ops-admin")):
        bridge.store.accounts.add_user(name, role, hash_password(PASSWORD))
    cars = [ExamCar(broker, pki, tmp_path, unit) for unit in ("car-01", "car-02")]
    wait_for(lambda: sum(u.get("role") == "exam-vehicle" for u in bridge.store.units()) == 2, 15, "cars online")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    srv = uvicorn.Server(uvicorn.Config(bridge.app(), host="127.0.0.1", port=port, log_level="warning",
                                        timeout_graceful_shutdown=1))  # fmt: skip
    t = threading.Thread(target=srv.run, daemon=True)
    t.start()
    wait_for(lambda: srv.started, 30, "uvicorn started")
    try:
        yield f"http://127.0.0.1:{port}", bridge, cars
    finally:
        srv.should_exit = True
        t.join(10)
        for car in cars:
            car.close()
        bridge.stop()
        broker.stop()


def _browser(p: Any) -> Any:
    args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
    return p.chromium.launch(executable_path=CHROMIUM, args=[*args, "--disable-sync", "--no-first-run"])


def _sign_in(page: Any, url: str, name: str) -> None:
    page.goto(url + "/login")
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", PASSWORD)
    page.click("#sign-in")


def _shot(page: Any, name: str) -> None:
    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SHOTS) / f"exam-{name}.png"), full_page=False)


def _csv(rows: list[tuple[str, str, str, str]]) -> bytes:
    return ("name,id_number,licence_class,booking_time\n" + "".join(",".join(r) + "\n" for r in rows)).encode()


def _upload(page: Any, name: str, data: bytes) -> None:
    page.set_input_files("#import-file", files=[{"name": name, "mimeType": "text/csv", "buffer": data}])
    page.click("#import")


def _shifted(now: float) -> list[Input]:
    """The drive's inputs moved to today, ending a little before `now` (or starting just after midnight)."""
    _, inputs = drive()
    midnight = dt.datetime.fromtimestamp(now).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    start = max(now - (inputs[-1].t - inputs[0].t) - 5, midnight.timestamp() + 1)
    return [i.model_copy(update={"t": i.t - inputs[0].t + start}) for i in inputs]


def _first_moving(inputs: list[Input]) -> int:
    return next(k for k, i in enumerate(inputs) if isinstance(i, Epoch) and (i.speed_mps or 0) > 1.0)


def _import_and_check_in(page: Any, booked: str) -> None:
    """A file with one bad row imports nothing and names the row; the good file imports both; one checks in."""
    bad = _csv([("张伟", id_number(1), "C1", booked), ("李娜", id_number(2)[:-1] + "0", "C1", booked)])
    _upload(page, "bad.csv", bad)
    page.wait_for_selector("#import-msg li.import-error")
    assert page.locator("#import-msg li.import-error").count() == 1
    assert page.get_attribute("#import-msg li.import-error", "data-row") == "2"
    assert page.get_attribute("#import-msg li.import-error", "data-field") == "id_number"
    words = page.inner_text("#import-msg")
    assert "未导入" in words and "第 2 行 · 身份证号" in words and "校验位" in words
    assert page.locator("#candidates tbody tr[data-candidate]").count() == 0  # nothing imported half-way
    page.locator("#add-one").scroll_into_view_if_needed()
    _shot(page, "console-import-error-zh-CN-1280x800")
    good = _csv([("张伟", id_number(1), "C1", booked), ("李娜", id_number(2), "C2", booked)])
    _upload(page, "good.csv", good)
    page.wait_for_selector("#import-msg.ok")
    page.wait_for_function("() => document.querySelectorAll('#candidates tbody tr[data-candidate]').length === 2")
    page.click("#add-one summary")  # one more, by hand: booking time typed as 24-hour HH:MM
    page.fill("#add-form input[name=name]", "李强")
    page.fill("#add-form input[name=id_number]", id_number(3))
    page.fill("#add-form input[name=booking_hm]", "15:45")
    page.click("#add")
    page.wait_for_selector(f"#candidates tr[data-id-number='{id_number(3)}']")
    assert "15:45" in page.inner_text(f"#candidates tr[data-id-number='{id_number(3)}']")
    page.fill("#check-in-id", id_number(9))  # no booking today
    page.click("#check-in")
    page.wait_for_selector("#check-in-msg.error")
    assert "今日没有该身份证号的预约" in page.inner_text("#check-in-msg")
    page.fill("#check-in-id", id_number(1))
    page.click("#check-in")
    page.wait_for_selector("#check-in-msg.ok")
    assert "张伟" in page.inner_text("#check-in-msg")
    page.wait_for_selector(f"#candidates tr[data-id-number='{id_number(1)}'] button.start")


def _watch_live(page: Any, car: ExamCar, inputs: list[Input], first: int) -> tuple[list[str], int]:
    """Live positions at 10 Hz: each moves the car's marker on the map to where the car is. The marker's places,
    and the index of the first input not yet fed."""
    moves, k, sent = [], first, 0
    while sent < LIVE_POSITIONS:
        at = car.feed(inputs[k], live=True)
        k += 1
        if at is None:
            continue
        sent += 1
        want = f"{at['e']:.2f},{at['n']:.2f}"
        page.wait_for_function(
            "w => { const g = document.querySelector('#course-map g.car[data-unit=\"car-01\"]');"
            " return g && `${g.dataset.e},${g.dataset.n}` === w; }",
            arg=want,
            timeout=3000,
        )
        moves.append(page.get_attribute("#course-map g.car[data-unit='car-01']", "transform"))
        time.sleep(0.1)  # the car's 10 Hz, not a wait for the page
    return moves, k


def test_operator_runs_a_candidate_from_import_to_signed_result_with_the_live_map(site) -> None:
    from playwright.sync_api import sync_playwright

    url, bridge, cars = site
    car = cars[0]
    now = time.time()
    booked = dt.datetime.fromtimestamp(now).astimezone().replace(hour=8, minute=30).strftime("%Y-%m-%dT%H:%M")
    inputs = _shifted(now)
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        external: list[str] = []
        page.on("request", lambda r: None if r.url.startswith(url) else external.append(r.url))
        _sign_in(page, url, "eve")
        page.wait_for_url(url + "/exam")
        page.wait_for_selector("body[data-ready='1']")
        assert page.locator("#cars tbody tr[data-car]").count() == 2 and "在线" in page.inner_text("#cars")
        page.wait_for_selector("#course-map polygon.area")  # the course drawn before any car has driven it
        _import_and_check_in(page, booked)
        row = f"#candidates tr[data-id-number='{id_number(1)}']"
        page.select_option(f"{row} select.car-choice", "car-01")
        page.click(f"{row} button.start")
        page.wait_for_selector("#start-msg.ok")
        args = car.start_command()
        exam_id = args["exam_id"]
        assert args["candidate"] == "张伟" and exam_id in page.inner_text("#start-msg")
        first = _first_moving(inputs)
        car.begin(exam_id, args["candidate"], inputs)
        for inp in inputs[:first]:
            car.feed(inp)
        page.wait_for_selector(f"#exams-running tr[data-exam='{exam_id}']")
        began = time.monotonic()
        moves, rest = _watch_live(page, car, inputs, first)
        # each position was on the map before the next was sent: the map followed the car at 2 Hz or more
        assert time.monotonic() - began < LIVE_POSITIONS / 2
        assert len(set(moves)) >= LIVE_POSITIONS // 2, f"the car hardly moved on the map: {moves}"
        assert "RTK" in page.inner_text("#cars tr[data-car='car-01'] .fix")
        assert page.inner_text("#cars tr[data-car='car-01'] .score") == "100"
        page.evaluate("() => window.scrollTo(0, 0)")
        _shot(page, "console-live-zh-CN-1280x800")
        for inp in inputs[rest:]:
            car.feed(inp)
        car.finish(exam_id, inputs[-1].t)
        page.wait_for_selector("#live-deductions li")
        assert "扣5分" in page.inner_text("#live-deductions")
        assert page.locator(f"#course-map g.live-ded[data-exam='{exam_id}']").count() == 1  # where, on the map
        page.wait_for_selector(f"#exams-done tr[data-exam='{exam_id}'] .st-passed")
        assert page.inner_text(f"#exams-done tr[data-exam='{exam_id}'] td:nth-child(5)") == "95"  # the score column
        wait_for(lambda: (bridge.store.exams.get(exam_id) or {}).get("track_state") == "complete", 20, "track stored")
        _result_page(page, url, exam_id, bridge)
        _screens(page, url, exam_id)
        interrupted = _interrupted_on(cars[1], bridge)
        _dashboard(browser.new_page(viewport={"width": 1280, "height": 800}), url, interrupted)
        browser.close()
    assert external == [], f"the console fetched from outside: {external}"


def _result_page(page: Any, url: str, exam_id: str, bridge: Bridge) -> None:
    page.click(f"#exams-done tr[data-exam='{exam_id}'] a")
    page.wait_for_url(f"{url}/exam/exams/{exam_id}")
    page.wait_for_selector("body[data-ready='1']")
    detail = bridge.store.exams.detail(exam_id)
    assert detail is not None and len(detail["deductions"]) == 1
    assert page.inner_text("#exam-score") == "95" and "合格" in page.inner_text("#exam-status")
    assert page.inner_text("#f-id-number") == id_number(1) and page.inner_text("#f-licence") == "C1"
    assert page.locator("#deductions tbody tr[data-k]").count() == 1
    assert page.locator("#track-map polyline.track").count() >= 1
    assert page.locator("#track-map g.ded").count() == 1  # the deduction marked where it happened
    d = detail["deductions"][0]
    mark = page.get_attribute("#track-map g.ded", "transform")
    assert mark == f"translate({d['e']:.2f},{-d['n']:.2f})"
    slider = page.locator("#replay-slider")
    last = int(slider.get_attribute("max") or 0)
    assert last > 100
    end = page.get_attribute("#track-map g.car", "transform")
    slider.fill("0")
    start = page.get_attribute("#track-map g.car", "transform")
    assert start != end and "100" in page.inner_text("#replay-readout")  # the score before any deduction
    page.click("#deductions tbody tr[data-k='0']")  # to where the deduction happened
    k = int(slider.input_value())
    assert 0 < k < last and page.locator("#deductions tr.passed-by").count() == 1
    page.click("#reproduce")  # the stored track judged again with its stored rules gives the stored result
    page.wait_for_selector("#reproduce-msg[data-equal='true']")
    assert "一致" in page.inner_text("#reproduce-msg")
    page.fill("#sign-note", "现场复核无异议")
    page.click("#sign")
    page.wait_for_function("() => document.getElementById('sign-state').textContent.includes('eve')")
    assert bridge.store.exams.get(exam_id)["signed_by"] == "eve"
    assert page.locator("#sign-form").is_hidden()
    page.click("#override-box summary")
    page.select_option("#override-passed", "false")
    page.fill("#override-reason", "考生未按规定使用安全带（视频复核）")
    page.click("#override")
    page.wait_for_function("() => document.getElementById('override-state').textContent.includes('安全带')")
    assert bridge.store.exams.get(exam_id)["override"]["passed"] is False
    assert "不合格" in page.inner_text("#f-final") and "合格" in page.inner_text("#f-electronic")
    page.goto(url + "/exam")  # the console shows the result that stands, marked as overridden
    page.wait_for_selector(f"#exams-done tr[data-exam='{exam_id}'] .st-failed")
    assert "考官已更改" in page.inner_text(f"#exams-done tr[data-exam='{exam_id}'] .result")
    page.go_back()
    page.wait_for_selector("body[data-ready='1'] #deductions tbody tr[data-k]")


def _pdf_pages(pdf: bytes) -> int:
    return len(re.findall(rb"/Type\s*/Page[^s]", pdf))


def _screens(page: Any, url: str, exam_id: str) -> None:
    """The result sheet prints on one A4 page without navigation; both languages at 1280x800 and 1024x768."""
    page.emulate_media(media="print")
    assert page.locator("header").is_hidden() and page.locator("#replay").is_hidden()
    assert page.locator(".sig-lines").is_visible()
    if SHOTS:
        page.set_viewport_size({"width": 794, "height": 1123})  # A4 at 96 dpi
        page.screenshot(path=str(Path(SHOTS) / "exam-result-print-zh-CN.png"), full_page=True)
    pdf = page.pdf(format="A4", print_background=True)
    if SHOTS:
        (Path(SHOTS) / "exam-result-sheet.pdf").write_bytes(pdf)
    assert _pdf_pages(pdf) == 1
    page.emulate_media(media="screen")
    for lang in ("zh-CN", "en"):
        for w, h in ((1280, 800), (1024, 768), (768, 1024)):
            page.set_viewport_size({"width": w, "height": h})
            page.goto(f"{url}/exam/exams/{exam_id}?lang={lang}")
            page.wait_for_selector("body[data-ready='1']")
            _shot(page, f"result-{lang}-{w}x{h}")
            page.goto(f"{url}/exam?lang={lang}")
            page.wait_for_selector("body[data-ready='1']")
            page.wait_for_selector("#course-map g.car")
            _shot(page, f"console-{lang}-{w}x{h}")
    assert "Live course map" in page.inner_text("main") and "Reverse into bay" in (
        page.text_content("#course-map") or ""
    )


def _interrupted_on(car: ExamCar, bridge: Bridge) -> str:
    """An exam started on the car itself (no booking) that its unit reports interrupted: its id."""
    now = time.time()
    midnight = dt.datetime.fromtimestamp(now).astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
    t0 = max(now - 90, midnight.timestamp() + 1)  # today's, whatever the time the test runs
    exam_id = new_case_id(car.unit, dt.datetime.fromtimestamp(t0).astimezone().strftime("%y%m%d"), "00abcd")
    header, _ = drive()
    data = {"exam_id": exam_id, "candidate": "王芳", "car": header.car, "course": header.course}
    car.send(
        [
            NewEvent(EventKind.EXAM_STARTED, case_id=exam_id, actor="examiner", ts=t0,
                     data={**data, "rules_version": header.rules_version}),
            NewEvent(EventKind.EXAM_INTERRUPTED, case_id=exam_id, actor="system", ts=t0 + 40,
                     data={"reason": "the unit restarted mid-exam"}),
        ]
    )  # fmt: skip
    wait_for(lambda: (bridge.store.exams.get(exam_id) or {}).get("status") == "interrupted", 15, "interrupted")
    return exam_id


def _dashboard(page: Any, url: str, interrupted: str) -> None:
    """The ops dashboard shows the exam site beside the lanes: the day's results, pass rates per item, the
    interrupted run with its reason (linked to its result page, which an ops viewer may read)."""
    _sign_in(page, url, "vic")
    page.wait_for_selector(f"#exam-abnormal tr[data-exam='{interrupted}']")
    cells = page.locator("#exam-sites tbody tr[data-site='site-1'] td").all_inner_texts()
    assert cells == ["site-1", "2 / 2", "0", "1", "0", "0", "1", "100%"], cells
    run = page.inner_text(f"#exam-abnormal tr[data-exam='{interrupted}']")
    assert "car-02" in run and "中断" in run and "the unit restarted mid-exam" in run
    items = page.inner_text("#exam-items")
    # an item is passed when driven to its end without a failing deduction: the stop in the bay cost 5, not the item
    rows = page.locator("#exam-items tbody tr").all_inner_texts()
    assert [r.split("\t")[1] for r in rows] == ["倒车入库", "坡道定点停车和起步", "侧方停车", "曲线行驶", "直角转弯"]
    assert items.count("100% (1/1)") == 5
    _shot(page, "dashboard-zh-CN-1280x800")
    page.click(f"#exam-abnormal tr[data-exam='{interrupted}'] a")
    page.wait_for_selector("body[data-ready='1']")
    assert "中断" in page.inner_text("#exam-status") and page.locator("#sign-form").count() == 0
    assert "轨迹尚未上传" in page.inner_text("#track-msg")


def test_page_roles_in_the_browser_viewer_refused_the_console_and_signed_out_sent_to_sign_in(site) -> None:
    from playwright.sync_api import sync_playwright

    url, _, _ = site
    with sync_playwright() as p:
        browser = _browser(p)
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(url + "/exam")
        assert page.url == url + "/login"
        _sign_in(page, url, "vic")
        page.wait_for_url(url + "/")
        assert page.locator("#nav-exam").count() == 0
        r = page.goto(url + "/exam")
        assert r is not None and r.status == 403
        page.goto(url + "/")  # the ops dashboard shows the exam site beside the lanes
        page.wait_for_selector("#exam-sites tbody tr[data-site='site-1']")
        assert "2 / 2" in page.inner_text("#exam-sites")
        browser.close()
