"""The exam vehicle unit end to end: `passlane exam run` as a process, a simulated car (NMEA over socket:// at 10 Hz, the real
vehicle-board firmware on the simulated car's switches), the real broker and the real bridge.

The car's events reach the bridge with nothing lost; the track it uploads, judged again, gives exactly the car's own
events; a unit killed mid-exam reports the exam interrupted when it comes back and loses nothing it had recorded.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from lane_cloud import RealCloud

from edge.broker import MosquittoBroker, free_port
from edge.contract import CommandName
from edge.pki import SitePki
from exam_vehicle.car import load_car
from exam_vehicle.course import load_course
from exam_vehicle.judge import Judge
from exam_vehicle.replay import replay
from exam_vehicle.rules import default_rules
from exam_vehicle.track import Track, parse_line
from exam_vehicle.track_upload import TrackPiece, reassemble
from firmware.sim.server import SimBoardServer
from site_sim.exam_car import PROFILES, drive_exam, nmea_sentences
from site_sim.exam_drive import CarSignals, ExamDrive, NmeaServer
from site_sim.polling import wait_until
from site_sim.unit_configs import exam_vehicle_toml

pytestmark = [pytest.mark.broker, pytest.mark.slow]
REPO = str(Path(__file__).resolve().parents[2])
UNIT, SITE = "car-01", "site-1"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> SitePki:
    p = SitePki(tmp_path_factory.mktemp("pki"))
    p.init(SITE, {"bridge": "bridge", "ops": "ops", UNIT: "exam-vehicle"})
    return p


@pytest.fixture
def site(tmp_path: Path, pki: SitePki) -> Iterator[dict[str, Any]]:
    broker = MosquittoBroker(pki, tmp_path / "broker")
    broker.start()
    cloud = RealCloud(tmp_path / "bridge", broker, pki).start()
    board = SimBoardServer("vehicle-board").start()
    nmea = NmeaServer()
    try:
        yield {"broker": broker, "cloud": cloud, "board": board, "nmea": nmea, "pki": pki}
    finally:
        nmea.close()
        board.stop()
        cloud.stop()
        broker.stop()


def _config(tmp: Path, s: dict[str, Any]) -> Path:
    path = tmp / "exam-vehicle.toml"
    path.write_text(
        exam_vehicle_toml(
            SITE, UNIT, s["broker"], s["pki"], s["nmea"].url, s["board"].url, free_port(), resend_after_s=2
        )
    )
    return path


class Unit:
    """`passlane exam run` as a process, and its page."""

    def __init__(self, config: Path, start: str | None = None) -> None:
        self.port = int(config.read_text().split("[page]\nport = ")[1].split()[0])
        args = [sys.executable, "-m", "edge.cli", "exam", "run", "--config", str(config)] + (
            ["--start", start] if start else []
        )
        self.proc = subprocess.Popen(
            args,
            cwd=config.parent,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            env={**os.environ, "PYTHONPATH": REPO},
        )

    def status(self) -> dict[str, Any] | None:
        try:
            return httpx.get(f"http://127.0.0.1:{self.port}/api/status", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return None

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.proc.wait(20)


def _exam_events(cloud: RealCloud) -> list[dict[str, Any]]:
    return [e for e in cloud.storage.unit_records.events(UNIT, 0, 100_000) if e["kind"].startswith("exam.")]


def _uploaded_track(events: list[dict[str, Any]], exam_id: str) -> Track:
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


def _drive(s: dict[str, Any], seconds: float) -> ExamDrive:
    _, inputs, _ = drive_exam(PROFILES["clean"][0])
    t0 = inputs[0].t
    return ExamDrive(
        [i for i in inputs if i.t - t0 <= seconds], s["nmea"], CarSignals(s["board"].control()), nmea_sentences
    ).start()


@pytest.mark.timeout(240)
def test_an_exam_on_the_car_reaches_the_bridge_whole_and_its_uploaded_track_replays_to_the_same_events(
    tmp_path, site
) -> None:
    unit = Unit(_config(tmp_path, site), start="张伟")
    try:
        wait_until(lambda: unit.status(), 30, "the unit's page")
        drive = _drive(site, 30.0)  # the car drives off and into the first item
        exam = wait_until(
            lambda: (s := unit.status()) and s["exam"] and s["exam"]["running"] and s["exam"], 30, "the exam started"
        )
        wait_until(
            lambda: (unit.status() or {}).get("exam", {}).get("item") == "reverse_into_bay",
            60,
            "the first item seen from position",
        )
        drive.done.wait(60)
        site["cloud"].service.send_command(
            SITE, UNIT, CommandName.END_EXAM, {"exam_id": exam["exam_id"]}, "examiner-1", "end of the test run"
        )
        wait_until(lambda: (unit.status() or {}).get("exam", {}).get("result"), 30, "the result")
        wait_until(
            lambda: any(e["kind"] == "exam.track_chunk" for e in _exam_events(site["cloud"])), 30, "the track uploaded"
        )
        wait_until(lambda: (unit.status() or {}).get("outbox", {}).get("depth") == 0, 30, "every event delivered")
        _look_at_the_examiners_page(unit.port, tmp_path)
    finally:
        assert unit.stop() == 0
    events = _exam_events(site["cloud"])
    kinds = [e["kind"] for e in events if e["kind"] != "exam.track_chunk"]
    assert kinds[0] == "exam.started" and kinds[-1] == "exam.result" and "exam.item_started" in kinds
    result = next(e for e in events if e["kind"] == "exam.result")["data"]
    assert (
        result["passed"] is False
    )  # ended in the first item: the bay was never entered (a fail), and items were not driven
    track = _uploaded_track(events, exam["exam_id"])
    assert track.header is not None and track.header.candidate == "张伟" and len(track.inputs) > 200
    course, car = load_course("example-site"), load_car("c1-example")
    replayed = replay(Judge(course, car, default_rules(car.licence)), track)
    car_events = [e for e in events if e["kind"] not in ("exam.started", "exam.track_chunk")]
    assert [(e["kind"], e["ts"]) for e in car_events] == [(f"exam.{_KIND[ev.kind]}", ev.t) for ev in replayed], (
        "the replay is the car's judgement"
    )


CHROMIUM = "/usr/bin/chromium"
SHOTS = os.environ.get("PASSLANE_SCREENSHOTS")  # a folder to save the page's screenshots in (docs/screenshots)


def _look_at_the_examiners_page(port: int, tmp: Path) -> None:
    """The page in a real browser, zh-CN and English, landscape and portrait tablet sizes: the result, the deduction, no
    English in the Chinese page's labels, nothing wider than the screen, no Content-Security-Policy violation."""
    if not os.path.exists(CHROMIUM):
        pytest.fail("Debian chromium is installed by `make test` (scripts/ensure-sysdeps.sh)")
    from playwright.sync_api import sync_playwright

    if SHOTS:
        Path(SHOTS).mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            for lang, words in (
                ("zh-CN", ("考试车状态", "得分", "扣分", "不合格", "卫星定位接收机")),
                ("en", ("Exam car status", "Score", "Deductions")),
            ):
                for w, h in ((1024, 768), (768, 1024)):
                    page = browser.new_page(viewport={"width": w, "height": h})
                    problems: list[str] = []
                    page.on(
                        "console",
                        lambda m, problems=problems: (
                            problems.append(m.text) if "Content Security Policy" in m.text else None
                        ),
                    )
                    page.goto(f"http://127.0.0.1:{port}/lang/{lang}")
                    text = page.inner_text("body")
                    assert all(word in text for word in words), (lang, text[:400])
                    assert page.locator("#deductions li").count() >= 1, (
                        "the deduction, in the standard's Chinese wording"
                    )
                    if lang == "zh-CN":
                        labels = page.eval_on_selector_all("h1, h2, th, .label", "els => els.map(e => e.innerText)")
                        assert not [
                            x
                            for x in labels
                            if any(c.isascii() and c.isalpha() for c in x.replace("RTK", "").replace("car-01", ""))
                        ], labels
                    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth"), (
                        f"wider than {w}px"
                    )
                    assert not problems, problems
                    if SHOTS:
                        page.screenshot(path=str(Path(SHOTS) / f"exam-page-{lang}-{w}x{h}.png"), full_page=True)
                    page.close()
        finally:
            browser.close()


_KIND = {
    "item_started": "item_started",
    "item_ended": "item_ended",
    "deduction": "deduction",
    "run_invalid": "invalid",
    "result": "result",
}


@pytest.mark.timeout(240)
def test_a_unit_killed_mid_exam_reports_it_interrupted_when_back_and_loses_nothing_recorded(tmp_path, site) -> None:
    config = _config(tmp_path, site)
    unit = Unit(config, start="李娜")
    drive = _drive(site, 25.0)
    try:
        exam = wait_until(
            lambda: (s := unit.status()) and s["exam"] and s["exam"]["running"] and s["exam"], 60, "the exam started"
        )
        wait_until(
            lambda: (unit.status() or {}).get("exam", {}).get("item") == "reverse_into_bay", 60, "into the first item"
        )
        recorded = (tmp_path / "var" / "tracks" / f"{exam['exam_id']}.jsonl").read_text().count("\n")
        unit.stop(signal.SIGKILL)
        drive.stop()
        again = Unit(config)
        try:
            wait_until(
                lambda: any(e["kind"] == "exam.interrupted" for e in _exam_events(site["cloud"])),
                60,
                "interrupted reported",
            )
            wait_until(
                lambda: any(e["kind"] == "exam.track_chunk" and e["data"]["last"] for e in _exam_events(site["cloud"])),
                60,
                "the partial track uploaded",
            )
            wait_until(lambda: (again.status() or {}).get("outbox", {}).get("depth") == 0, 30, "every event delivered")
        finally:
            assert again.stop() == 0
    finally:
        unit.stop(signal.SIGKILL)
    events = _exam_events(site["cloud"])
    kinds = [e["kind"] for e in events if e["kind"] != "exam.track_chunk"]
    assert kinds[0] == "exam.started" and kinds[-1] == "exam.interrupted" and "exam.item_started" in kinds
    track = _uploaded_track(events, exam["exam_id"])
    assert len(track.inputs) + 1 >= recorded, "every input recorded before the kill is in the uploaded track"
    journal = site["cloud"].events(UNIT)
    assert sorted(journal) == list(range(1, max(journal) + 1)), "no gap in the unit's stream"
    json.dumps(kinds)
