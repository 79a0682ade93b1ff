"""The web process's live positions over a real TLS Mosquitto: a car's `position` reaches it, with the bridge account."""

from __future__ import annotations

import ssl
import uuid

import paho.mqtt.client as mqtt
import pytest
from bridge_helpers import make_settings, wait_for
from paho.mqtt.enums import CallbackAPIVersion

from cloud_bridge.exam_live import LivePositions
from edge.broker import MosquittoBroker
from edge.contract import Leaf, PositionReport, topic
from edge.pki import SitePki

SITE = "site-1"


@pytest.fixture
def exam_site(tmp_path):
    pki = SitePki(tmp_path / "pki")
    pki.init(SITE, {"bridge": "bridge", "ops": "ops", "car-01": "exam-vehicle", "lane-01": "lane"})
    broker = MosquittoBroker(pki, tmp_path / "broker")
    broker.start()
    try:
        yield pki, broker
    finally:
        broker.stop()


def _unit_client(pki: SitePki, broker: MosquittoBroker, unit: str) -> mqtt.Client:
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{unit}-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    c.tls_set(ca_certs=str(pki.ca_cert), cert_reqs=ssl.CERT_REQUIRED)
    c.username_pw_set(unit, pki.password(unit))
    c.connect(broker.host, broker.port, 30)
    c.loop_start()
    return c


def test_a_cars_position_reaches_the_web_process_as_published(tmp_path, exam_site) -> None:
    pki, broker = exam_site
    live = LivePositions()
    assert live.subscribe(make_settings(str(tmp_path / "b.sqlite3"), broker=broker, pki=pki))
    car = _unit_client(pki, broker, "car-01")
    try:
        report = PositionReport(
            unit="car-01", t=1.0, lat=31.0, lon=121.0, e=12.5, n=-3.0, quality="rtk_fixed", score=90
        )

        def arrived() -> bool:
            car.publish(topic(SITE, "car-01", Leaf.POSITION), report.to_bytes(), qos=0)
            return "car-01" in live.latest

        wait_for(arrived, 15, "the car's position at the bridge's web process", poll=0.2)
        p = live.latest["car-01"]
        assert (p["site"], p["e"], p["n"], p["quality"], p["score"]) == (SITE, 12.5, -3.0, "rtk_fixed", 90)
    finally:
        car.loop_stop()
        car.disconnect()
        live.stop()


def test_without_the_bridge_accounts_password_there_are_no_live_positions(tmp_path) -> None:
    assert LivePositions().subscribe(make_settings(str(tmp_path / "b.sqlite3"))) is False


def test_a_running_bridge_starts_an_exam_on_a_car_and_stores_what_the_car_reports(tmp_path, exam_site) -> None:
    """The whole bridge over MQTT: the start command reaches the car, its events are ingested, its positions shown."""
    import json
    import time

    from fastapi.testclient import TestClient
    from test_exam_helpers import Car, id_number

    from cloud_bridge.auth import hash_password, new_token, token_hash
    from cloud_bridge.runner import Bridge
    from edge.contract import UnitState, UnitStatus

    pki, broker = exam_site
    bridge = Bridge(make_settings(str(tmp_path / "b.sqlite3"), broker=broker, pki=pki), sweep_s=0.5).start()
    car = _unit_client(pki, broker, "car-01")
    commands: list[dict] = []
    car.on_message = lambda c, u, m: commands.append(json.loads(m.payload))
    car.subscribe(topic(SITE, "car-01", Leaf.CMD), qos=1)
    journal = Car(tmp_path, "car-01")
    app = None
    try:
        store = bridge.store
        store.accounts.add_user("eve", "exam-operator", hash_password("correct horse battery"))
        tok = new_token()
        store.accounts.add_token(token_hash(tok), "eve", "t")
        app = bridge.app()
        api = TestClient(app, headers={"Authorization": f"Bearer {tok}"})
        status = UnitStatus(unit="car-01", state=UnitState.ONLINE, ts=time.time(), role="exam-vehicle")
        car.publish(topic(SITE, "car-01", Leaf.STATUS), status.to_bytes(), qos=1, retain=True)
        wait_for(lambda: any(u["unit"] == "car-01" for u in store.unit_records.units()), 15, "the car known")
        body = {
            "name": "张伟",
            "id_number": id_number(1),
            "licence_class": "C1",
            "booking_time": time.strftime("%Y-%m-%dT09:00"),
        }
        cand = api.post("/api/exam/candidates", json=body).json()
        assert api.post("/api/exam/check-in", json={"id_number": id_number(1)}).status_code == 200
        wait_for(lambda: api.get("/api/exam/cars").json()[0]["online"], 15, "the car online")
        started = api.post(f"/api/exam/candidates/{cand['candidate_id']}/start", json={"car": "car-01"}).json()
        cmd = wait_for(lambda: commands and commands[0], 15, "start_exam at the car")
        assert cmd["command"] == "start_exam" and cmd["args"]["exam_id"] == started["exam_id"]
        for ev in journal.exam(started["exam_id"], "clean", candidate="张伟"):
            car.publish(topic(SITE, "car-01", Leaf.EVENTS), ev.to_bytes(), qos=1)
        x = wait_for(
            lambda: (e := store.exams.get(started["exam_id"])) and e["track_state"] == "complete" and e, 30, "the exam"
        )
        assert x["status"] == "passed" and x["candidate_id"] == cand["candidate_id"]
        report = PositionReport(unit="car-01", t=1.0, lat=31.0, lon=121.0, e=1.0, n=2.0, quality="rtk_fixed")
        api.get("/api/exam/cars")  # the web process subscribes to positions on first use

        def shown() -> bool:
            car.publish(topic(SITE, "car-01", Leaf.POSITION), report.to_bytes(), qos=0)
            return bool(api.get("/api/exam/cars").json()[0]["position"])

        wait_for(shown, 15, "the car's position in /api/exam/cars", poll=0.2)
    finally:
        journal.close()
        car.loop_stop()
        car.disconnect()
        if app is not None:
            app.state.exam_live.stop()
        bridge.stop()
