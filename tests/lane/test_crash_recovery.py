"""kill -9 at random moments over many cases: every case resumes from its journal; nothing lost, nothing repeated."""

from __future__ import annotations

import os
from pathlib import Path
import random
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import httpx
import pytest

from lane_helpers import wait_until, write_lane_toml

REPO = str(Path(__file__).resolve().parents[2])  # run the repo's code, whatever the cwd

pytestmark = [pytest.mark.broker, pytest.mark.slow]

ORDER = ["case.opened", "case.partner_records", "case.admitted", "case.vin_confirmed", "case.inspected",
         "case.plate_reserved", "case.paid", "case.plates_issued", "case.plates_fitted", "case.exit_opened", "case.closed"]


class LaneProcess:
    def __init__(self, config, port: int, log) -> None:
        self.config, self.port, self.log = config, port, log
        self.proc: subprocess.Popen | None = None
        self.kills = 0

    def start(self) -> None:
        self.proc = subprocess.Popen([sys.executable, "-m", "edge.cli", "lane", "run", "--config", str(self.config), "--no-reader",
                                      "--port", str(self.port)], stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=REPO)

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


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def drive_one_step(http: httpx.Client, station: str, done: list[str], ids: list[str]) -> None:
    """One inspector decision from what the lane says now (idempotent: a refused step is simply retried)."""
    lane = http.get("/api/lane").json()
    s = lane["stations"][station]
    if s is None:
        closed = len(_closed(http))  # counted now, after seeing the station free (a case may have just closed)
        if closed >= len(ids):
            return
        http.post("/api/cases", json={"station": station, "id_number": ids[closed]})
        return
    cid = s["case_id"]
    c = http.get(f"/api/cases/{cid}").json()["case"]
    base = f"/api/cases/{cid}"
    st = c["stage"]
    if c["hold"]:
        http.post(f"{base}/resume")
    elif st == "records_fetched" and not c["entry_requested"]:
        http.post(f"{base}/admit")
    elif st == "admitted" and c["vin_read"] is not None:
        http.post(f"{base}/vin/confirm", json={"vin": c["certificate_vin"], "reason": "checked by eye"})
    elif st == "vin_confirmed":
        for item in c["checklist"]:
            if item not in c["items"]:
                http.post(f"{base}/items", json={"item": item, "result": "pass"})
        for code in c["required_photos"]:
            if code not in c["photos"]:
                http.post(f"{base}/photos/{code}", files={"file": ("p.jpg", b"\xff\xd8photo", "image/jpeg")})
        http.post(f"{base}/conclude")
    elif st == "inspected" and c["plate_options"] and not c["plate_choice"]:
        http.post(f"{base}/plate", json={"number": c["plate_options"][0]})
    elif st == "plates_issued":
        http.post(f"{base}/fitted")
    elif st == "plates_fitted":
        http.post(f"{base}/exit")


def test_kill_9_at_random_points_loses_and_repeats_nothing(tmp_path, mqtt_broker, site_pki, cloud):
    secret = tmp_path / "session.secret"
    secret.write_text("test-session-secret")
    config = write_lane_toml(tmp_path, mqtt_broker, site_pki, extra="")
    text = config.read_text().replace("[ui]\n", f'[ui]\nsession_secret = {{ file = "{secret}" }}\n')
    config.write_text(text)
    port = _free_port()
    n_cases = int(os.environ.get("PASSLANE_CRASH_CASES", "8"))
    ids = [f"1101011990{i:08d}" for i in range(n_cases)]
    rng = random.Random(int(os.environ.get("PASSLANE_CRASH_SEED", "4")))
    log = open(tmp_path / "lane.log", "ab")
    lane = LaneProcess(config, port, log)
    lane.start()
    http = httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=5)
    done: list[str] = []

    def up() -> bool:
        try:
            return http.get("/api/health").status_code == 200
        except httpx.HTTPError:
            return False

    def sign_in() -> None:
        r = http.post("/api/session", json={"inspector_id": "insp-1", "pin": "1234"})
        http.headers["Authorization"] = "Bearer " + r.json()["token"]

    try:
        wait_until(up, 30, "lane up")
        sign_in()
        next_kill = time.monotonic() + rng.uniform(0.3, 2.5)
        deadline = time.monotonic() + 240
        while True:
            assert time.monotonic() < deadline, f"stuck; closed {len(done)} of {n_cases}; log: {(tmp_path / 'lane.log').read_text()[-3000:]}"
            if time.monotonic() > next_kill:
                lane.kill()
                lane.start()
                wait_until(up, 30, "lane up again")
                next_kill = time.monotonic() + rng.uniform(0.3, 2.5)
            try:
                lane_view = http.get("/api/lane").json()
                done = [r["case_id"] for r in _closed(http)]
                if len(done) >= n_cases and lane_view["stations"]["A"] is None:
                    break
                drive_one_step(http, "A", done, ids)
            except (httpx.HTTPError, ValueError, KeyError):
                pass
            time.sleep(0.05)  # pacing of the simulated inspector, not synchronisation
        health = http.get("/api/health").json()
        last_seq = health["outbox"]["last_seq"]
        assert cloud.wait_for(lambda: cloud.watermark.get("lane-01", 0) >= last_seq, 30), "not every event reached the cloud"
    finally:
        lane.stop()
        log.close()
    print(f"lane killed {lane.kills} times over {n_cases} cases")
    assert lane.kills >= 3, "the test did not kill the lane often enough to mean anything"
    stored = cloud.events["lane-01"]
    assert sorted(stored) == list(range(1, max(stored) + 1)), "a gap in the event sequence"
    by_case: dict[str, list[str]] = {}
    for seq in sorted(stored):
        e = stored[seq]
        if e.case_id:
            by_case.setdefault(e.case_id, []).append(e.kind.value)
    assert len(by_case) == n_cases, {c: [k for k in ks if k in ORDER][-3:] for c, ks in by_case.items()}
    for cid, kinds in by_case.items():
        stages = [k for k in kinds if k in ORDER]
        counts = Counter(stages)
        assert all(v == 1 for v in counts.values()), f"{cid}: a transition recorded twice: {counts}"
        assert stages == ORDER, f"{cid}: {stages}"
    ledger = [l for l in (tmp_path / "var" / "sim-issuer-jobs.jsonl").read_text().splitlines() if l.strip()]
    assert len(ledger) == n_cases, "a plate pair was issued twice (or not at all)"


def _closed(http: httpx.Client) -> list[dict]:
    return http.get("/api/cases", params={"state": "closed", "limit": 1000}).json()["cases"]
