"""The unit's MQTT session: retained status online / stopped / offline (Last Will), requests with correlation, telemetry."""

from __future__ import annotations

import os
import signal
import ssl
import subprocess
import sys
import textwrap
import threading
import uuid
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from rt_helpers import session_settings as ss
from rt_helpers import wait_until

from edge.contract import Leaf, RequestKind, Telemetry, UnitStatus, topic
from edge.mqtt_session import CloudUnreachable, MqttSession
from edge.telemetry import TelemetryPublisher, sample

REPO = str(Path(__file__).resolve().parents[2])  # run the repo's code, whatever the cwd

pytestmark = pytest.mark.broker


class Watcher:
    """The ops viewer: reads every unit's status and telemetry."""

    def __init__(self, broker, pki) -> None:
        self.msgs: list[tuple[str, bytes]] = []
        self.lock = threading.Lock()
        c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ops-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
        c.tls_set_context(ssl.create_default_context(cafile=str(pki.ca_cert)))
        c.username_pw_set("ops", pki.password("ops"))
        c.on_connect = lambda cl, *a: cl.subscribe([("passlane/v1/+/+/status", 1), ("passlane/v1/+/+/telemetry", 0)])
        c.on_message = self._on
        c.connect(broker.host, broker.port)
        c.loop_start()
        self.c = c

    def _on(self, c, u, msg) -> None:
        with self.lock:
            self.msgs.append((msg.topic, msg.payload))

    def states(self, unit: str) -> list[str]:
        with self.lock:
            return [
                UnitStatus.from_bytes(p).state.value for t, p in self.msgs if t == topic("site-1", unit, Leaf.STATUS)
            ]

    def telemetry(self, unit: str) -> list[Telemetry]:
        with self.lock:
            return [Telemetry.from_bytes(p) for t, p in self.msgs if t == topic("site-1", unit, Leaf.TELEMETRY)]

    def stop(self) -> None:
        self.c.loop_stop()
        self.c.disconnect()


def test_status_is_online_then_stopped_on_clean_shutdown(mqtt_broker, site_pki):
    w = Watcher(mqtt_broker, site_pki)
    try:
        s = MqttSession(ss(mqtt_broker, site_pki, "lane-02"))
        s.start()
        assert s.wait_connected(10)
        wait_until(lambda: "online" in w.states("lane-02"), 10, "online status")
        s.stop()
        wait_until(lambda: w.states("lane-02")[-1:] == ["stopped"], 10, "stopped status")
    finally:
        w.stop()


def test_a_vanished_unit_is_reported_offline_by_its_last_will(mqtt_broker, site_pki, tmp_path):
    st = ss(mqtt_broker, site_pki, "lane-03")
    script = textwrap.dedent(f"""
        import time
        from pathlib import Path
        from edge.mqtt_session import MqttSession, SessionSettings
        s = MqttSession(SessionSettings(site="site-1", unit="lane-03", host={st.host!r}, port={st.port}, username="lane-03",
                                        password={st.password!r}, ca_file=Path({str(st.ca_file)!r}), keepalive_s=5))
        s.start()
        assert s.wait_connected(10)
        print("connected", flush=True)
        time.sleep(600)
    """)
    w = Watcher(mqtt_broker, site_pki)
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        assert proc.stdout.readline().strip() == "connected"
        wait_until(lambda: "online" in w.states("lane-03"), 10, "online")
        os.kill(proc.pid, signal.SIGKILL)
        wait_until(lambda: w.states("lane-03")[-1:] == ["offline"], 20, "Last Will offline")
    finally:
        proc.kill()
        proc.wait()
        w.stop()


def test_request_gets_the_response_with_the_same_correlation(session, cloud):
    v = cloud.good[0]
    resp = session.request(
        RequestKind.PARTNER_LOOKUP, {"id_number": v.owner_id_number}, case_id="lane-01-261206-0000c1", timeout=5
    )
    assert resp.ok and v.vin in [x["certificate"]["vin"] for x in resp.body["vehicles"]]
    bad = session.request(
        RequestKind.PARTNER_LOOKUP, {"id_number": "110101190001010000"}, case_id="lane-01-261206-0000c1", timeout=5
    )
    assert not bad.ok and bad.error == "not_found"


def test_a_request_without_an_answer_fails_as_cloud_unreachable(session):
    with pytest.raises(CloudUnreachable):
        session.request(RequestKind.PARTNER_LOOKUP, {"id_number": "1"}, timeout=0.5)


def test_telemetry_is_published_online_and_dropped_and_counted_offline(mqtt_broker, site_pki, session, tmp_path):
    def make(dropped: int) -> Telemetry:
        return sample(
            "lane-01",
            outbox_depth=3,
            outbox_alarm=False,
            dropped=dropped,
            boards=[],
            camera_fps=None,
            disk_path=tmp_path,
        )

    pub = TelemetryPublisher(session, make, interval_s=3600)
    w = Watcher(mqtt_broker, site_pki)
    try:
        # QoS 0 and not retained: tick until the (just subscribed) watcher has one
        wait_until(lambda: (pub.tick(), w.telemetry("lane-01"))[1], 10, "telemetry")
        t = w.telemetry("lane-01")[0]
        assert t.outbox_depth == 3 and 0 <= t.mem_used_pct <= 100 and t.load_1m >= 0 and t.telemetry_dropped == 0
    finally:
        w.stop()
    mqtt_broker.stop()
    wait_until(lambda: not session.connected.is_set(), 10, "offline")
    sent = pub.sent
    assert not pub.tick() and not pub.tick()
    assert pub.dropped == 2 and pub.sent == sent
    mqtt_broker.start()
    wait_until(lambda: session.connected.is_set(), 20, "reconnected")
    w = Watcher(mqtt_broker, site_pki)
    try:
        wait_until(
            lambda: (pub.tick(), any(x.telemetry_dropped == 2 for x in w.telemetry("lane-01")))[1],
            10,
            "the drop count reported",
        )
    finally:
        w.stop()
