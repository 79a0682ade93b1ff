"""The exam vehicle's live position: a real unit publishes `PositionReport`s on its position leaf through the real
broker at `[exam] position_hz`, with the exam under way, its item and score; none of them is journaled."""

from __future__ import annotations

import os
import signal
import sqlite3
import ssl
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoBroker, free_port
from edge.contract import CommandName, Leaf, PositionReport, RemoteCommand, topic
from edge.pki import SitePki
from site_sim.exam_world import SimCar
from site_sim.polling import wait_until
from site_sim.unit_configs import exam_vehicle_toml

pytestmark = [pytest.mark.broker, pytest.mark.slow]
REPO = str(Path(__file__).resolve().parents[2])
UNIT, SITE = "car-01", "site-1"


def _listen(broker: MosquittoBroker, pki: SitePki, got: list[tuple[float, PositionReport]]) -> mqtt.Client:
    """The bridge's account reading every car's positions."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-positions", protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=str(pki.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
    c.username_pw_set("bridge", pki.password("bridge"))
    subscribed = threading.Event()
    c.on_subscribe = lambda *a: subscribed.set()
    c.on_connect = lambda cl, *a: cl.subscribe(f"passlane/v1/{SITE}/+/position", qos=0)
    c.on_message = lambda cl, u, m: got.append((time.monotonic(), PositionReport.from_bytes(m.payload)))
    c.connect(broker.host, broker.port)
    c.loop_start()
    assert subscribed.wait(10)
    return c


@pytest.mark.timeout(180)
def test_a_car_publishes_its_position_at_position_hz_with_the_exam_and_never_journals_it(tmp_path: Path) -> None:
    pki = SitePki(tmp_path / "pki")
    pki.init(SITE, {"bridge": "bridge", "ops": "ops", UNIT: "exam-vehicle"})
    broker = MosquittoBroker(pki, tmp_path / "broker")
    broker.start()
    car = SimCar(UNIT, 1.0)
    got: list[tuple[float, PositionReport]] = []
    listener = _listen(broker, pki, got)
    port = free_port()
    config = tmp_path / "exam-vehicle.toml"
    config.write_text(
        exam_vehicle_toml(SITE, UNIT, broker, pki, car.nmea.url, car.board_url, port, exam={"position_hz": 4})
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "exam", "run", "--config", str(config)],
        cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env={**os.environ, "PYTHONPATH": REPO},
    )  # fmt: skip

    def status() -> dict[str, Any]:
        try:
            return httpx.get(f"http://127.0.0.1:{port}/api/status", timeout=2).json()  # type: ignore[no-any-return]
        except (httpx.HTTPError, ValueError):
            return {}

    try:
        wait_until(lambda: len(got) >= 8, 60, "positions while the car stands")
        idle = [p for _, p in got]
        assert all(p.unit == UNIT and p.quality == "rtk_fixed" and p.exam_id is None for p in idle)
        assert all(abs(p.n) < 1.0 and -2.0 < p.e < 8.0 for p in idle), "at the start of the course, in course metres"
        _start_by_command(broker, pki)  # as the bridge starts an exam
        exam = wait_until(lambda: (s := status().get("exam")) and s.get("running") and s, 30, "the exam started")
        mark = time.monotonic()
        wait_until(lambda: sum(1 for t, _ in got if t > mark) >= 12, 30, "positions during the exam")
        during = [p for t, p in got if t > mark + 0.5]
        assert during and all(p.exam_id == exam["exam_id"] and p.score == 100 for p in during)
        span = got[-1][0] - got[-13][0]
        assert 12 / span == pytest.approx(4.0, abs=1.0), "position_hz, whatever the receiver's 10 Hz"
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(20)
        listener.loop_stop()
        listener.disconnect()
        car.close()
        broker.stop()
    with sqlite3.connect(tmp_path / "var" / "exam-vehicle.sqlite") as db:
        kinds = {k for (k,) in db.execute("SELECT DISTINCT kind FROM events")}
    assert "exam.started" in kinds and not [k for k in kinds if "position" in k], kinds


def _start_by_command(broker: MosquittoBroker, pki: SitePki) -> None:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="t-bridge-cmd", protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=str(pki.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
    c.username_pw_set("bridge", pki.password("bridge"))
    c.connect(broker.host, broker.port)
    c.loop_start()
    now = time.time()
    cmd = RemoteCommand(
        request_id="cmd-position-1",
        command=CommandName.START_EXAM,
        args={"candidate": "张伟"},
        issued_by="examiner-1",
        reason="test",
        issued_at=now,
        expires_at=now + 30,
    )
    c.publish(topic(SITE, UNIT, Leaf.CMD), cmd.to_bytes(), qos=1).wait_for_publish(5)
    c.loop_stop()
    c.disconnect()
