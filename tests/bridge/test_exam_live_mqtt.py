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
