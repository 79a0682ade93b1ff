"""kill -9 of the lane while it drives the simulated lane-bus boards (separate processes that live on):
every case resumes, barrier state is re-read from the board, and the issuer never makes a plate pair twice."""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from lane_helpers import wait_until, write_lane_toml

from edge.broker import free_port
from firmware.sim.control import SimControl

REPO = str(Path(__file__).resolve().parents[2])  # run the repo's code, whatever the cwd

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ORDER = [
    "case.opened",
    "case.partner_records",
    "case.admitted",
    "case.vin_confirmed",
    "case.inspected",
    "case.plate_reserved",
    "case.paid",
    "case.plates_issued",
    "case.plates_fitted",
    "case.exit_opened",
    "case.closed",
]


class LaneProcess:
    def __init__(self, config, port: int, log) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "edge.cli",
                "lane",
                "run",
                "--config",
                str(self.config),
                "--no-reader",
                "--port",
                str(self.port),
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
            cwd=REPO,
        )

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            os.kill(self.proc.pid, signal.SIGKILL)
            self.proc.wait()
            self.kills += 1

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.kill()


def _closed(http: httpx.Client) -> list[dict]:
    return http.get("/api/cases", params={"state": "closed", "limit": 1000}).json()["cases"]


def _sim(kind: str, port: int, ctl: int, scale: float, *extra: str) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "edge.cli",
            "sim",
            kind,
            "--listen",
            f"127.0.0.1:{port}",
            "--control",
            f"127.0.0.1:{ctl}",
            "--time-scale",
            str(scale),
            *extra,
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
        cwd=REPO,
    )


def _listening(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
        return True
    except OSError:
        return False


def test_kill_9_on_lane_bus_boards_resumes_every_case_and_issues_each_pair_once(tmp_path, mqtt_broker, site_pki, cloud):
    io_port, io_ctl, is_port, is_ctl, ui_port = (free_port() for _ in range(5))
    sims = [
        _sim("io-board", io_port, io_ctl, 20.0),
        _sim("plate-issuer", is_port, is_ctl, 50.0, "--journal", str(tmp_path / "issuer.flash")),
    ]
    for p in (io_port, io_ctl, is_port, is_ctl):
        wait_until(lambda p=p: _listening(p), 30, f"sim port {p}")
    world, issuer = SimControl("127.0.0.1", io_ctl), SimControl("127.0.0.1", is_ctl)
    secret = tmp_path / "session.secret"
    secret.write_text("s3cret")
    config = write_lane_toml(
        tmp_path,
        mqtt_broker,
        site_pki,
        io_url=f"socket://127.0.0.1:{io_port}",
        issuer_url=f"socket://127.0.0.1:{is_port}",
        authority=cloud.settings.authorities[0],
    )
    config.write_text(config.read_text().replace("[ui]\n", f'[ui]\nsession_secret = {{ file = "{secret}" }}\n'))
    n_cases = int(os.environ.get("PASSLANE_CRASH_CASES", "5"))
    ids = [v.owner_id_number for v in cloud.good[:n_cases]]
    rng = random.Random(int(os.environ.get("PASSLANE_CRASH_SEED", "7")))
    log = open(tmp_path / "lane.log", "ab")
    lane = LaneProcess(config, ui_port, log)
    lane.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{ui_port}", timeout=5, headers={})
    sent: dict[tuple[str, str], float] = {}  # (case, barrier) -> when the world was told to drive through
    taken: list[str] = []
    manual = 0

    def up() -> bool:
        try:
            return http.get("/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, 30, "lane up")
        http.headers["Authorization"] = (
            "Bearer " + http.post("/api/session", json={"inspector_id": "insp-1", "pin": "1234"}).json()["token"]
        )
        next_kill = time.monotonic() + rng.uniform(0.5, 3.0)
        deadline = time.monotonic() + 240
        while True:
            assert time.monotonic() < deadline, f"stuck: {http.get('/api/lane').json()}"
            if time.monotonic() > next_kill:
                lane.kill()
                lane.start()
                wait_until(up, 30, "lane up again")
                next_kill = time.monotonic() + rng.uniform(0.5, 3.0)
            try:
                s = http.get("/api/lane").json()["stations"]["A"]
                if s is None:
                    closed = len(_closed(http))
                    if closed >= n_cases:
                        break
                    http.post("/api/cases", json={"station": "A", "id_number": ids[closed]})
                    continue
                cid = s["case_id"]
                base = f"/api/cases/{cid}"
                c = http.get(base).json()["case"]
                st = c["stage"]
                if c["hold"]:
                    http.post(f"{base}/resume")
                elif st == "records_fetched" and not c["entry_requested"]:
                    http.post(f"{base}/admit")
                elif (st == "records_fetched" and c["entry_requested"]) or st == "exit_open":
                    barrier = "entry" if st == "records_fetched" else "exit"
                    w = world.state()["barriers"][barrier]
                    if (cid, barrier) not in sent and w["vehicle"] == "none":
                        world.vehicle_pass(barrier)
                        sent[(cid, barrier)] = time.monotonic()
                    elif (
                        (cid, barrier) in sent
                        and w["vehicle"] == "none"
                        and time.monotonic() - sent[(cid, barrier)] > 3
                    ):
                        # the vehicle passed while the lane was down: the inspector confirms it by eye
                        http.post(f"{base}/passed", json={"barrier": barrier})
                        manual += 1
                elif st == "admitted" and c["vin_read"] is not None:
                    http.post(f"{base}/vin/confirm", json={"vin": c["certificate_vin"], "reason": "checked by eye"})
                elif st == "vin_confirmed":
                    for item in c["checklist"]:
                        if item not in c["items"]:
                            http.post(f"{base}/items", json={"item": item, "result": "pass"})
                    for code in c["required_photos"]:
                        if code not in c["photos"]:
                            http.post(
                                f"{base}/photos/{code}",
                                files={"file": ("p.jpg", b"\xff\xd8\xff\xe0photo", "image/jpeg")},
                            )
                    http.post(f"{base}/conclude")
                elif st == "inspected" and c["plate_options"] and not c["plate_choice"]:
                    http.post(f"{base}/plate", json={"number": c["plate_options"][0]})
                elif st == "plates_issued":
                    taken.extend(issuer.take_plates())
                    http.post(f"{base}/fitted")
                elif st == "plates_fitted":
                    http.post(f"{base}/exit")
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.05)  # pacing of the simulated inspector, not synchronisation
        last_seq = http.get("/api/health").json()["outbox"]["last_seq"]
        wait_until(lambda: cloud.watermark("lane-01") >= last_seq, 30, "every event stored by the bridge")
    finally:
        lane.stop()
        log.close()
        issued = issuer.state()["issued"]
        log_io = world.world_log()
        world.close()
        issuer.close()
        for s in sims:
            s.terminate()
            s.wait(10)
    print(f"lane killed {lane.kills} times over {n_cases} cases; {manual} passages confirmed by eye")
    assert lane.kills >= 2
    stored = cloud.events("lane-01")
    assert sorted(stored) == list(range(1, max(stored) + 1))
    by_case: dict[str, list[str]] = {}
    plates: dict[str, str] = {}
    for seq in sorted(stored):
        e = stored[seq]
        if e["case_id"]:
            by_case.setdefault(e["case_id"], []).append(e["kind"])
            if e["kind"] == "case.plate_reserved":
                plates[e["case_id"]] = e["data"]["number"]
    assert len(by_case) == n_cases
    for cid, kinds in by_case.items():
        stages = [k for k in kinds if k in ORDER]
        assert all(v == 1 for v in Counter(stages).values()) and stages == ORDER, f"{cid}: {stages}"
    per_text = Counter(p["text"] for p in issued)
    assert set(per_text) == set(plates.values()), (per_text, plates)
    assert len(set(per_text.values())) == 1, f"a plate pair was made twice: {per_text}"
    bad = [
        e for e in log_io if e["event"] == "arm_struck_presence" or (e["event"] == "arm_closing" and e.get("presence"))
    ]
    assert not bad, bad
