"""The bad-input probe's reproductions on a real `passlane lane run` with the real bridge and broker: no input cuts a lane off.

1. An anonymous sign-in with a 140,000-character id was journaled and dead-lettered by the bridge,
   and the lane's watermark stuck there while its outbox grew.
2. The same with 600,000 characters exceeded the broker's packet limit: the lane's MQTT session
   dropped and reconnected in a loop.
Now both are refused before anything is journaled, and even a message that the bridge has to
refuse on the lane's own stream (sent with the lane's account) does not stop its watermark.
"""

from __future__ import annotations

import json
import socket
import ssl
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from lane_helpers import PINS, wait_until, write_lane_toml
from paho.mqtt.enums import CallbackAPIVersion

from edge.contract import MAX_PAYLOAD_BYTES, Leaf, topic

REPO = str(Path(__file__).resolve().parents[2])
pytestmark = pytest.mark.broker


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class ConnectionWatch:
    """Polls the lane's health in the background and remembers whether it ever lost the broker."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.lost = 0
        self.samples = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.wait(0.05):
            try:
                health = httpx.get(f"{self.base}/api/health", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                continue
            self.samples += 1
            self.lost += not health["cloud_connected"]

    def __enter__(self) -> ConnectionWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(5)


def _publish_as(broker, pki, unit: str, payload: bytes) -> None:
    """Publish on the unit's events leaf with the unit's own account (what the probe did), as a second client."""
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{unit}-intruder", protocol=mqtt.MQTTv5)
    c.tls_set_context(ssl.create_default_context(cafile=str(pki.ca_cert)))
    c.username_pw_set(unit, pki.password(unit))
    c.connect(broker.host, broker.port)
    c.loop_start()
    try:
        c.publish(topic("site-1", unit, Leaf.EVENTS), payload, qos=1).wait_for_publish(10)
    finally:
        c.disconnect()
        c.loop_stop()


@pytest.mark.timeout(180)
def test_oversize_sign_ins_are_refused_and_the_lanes_watermark_and_outbox_keep_moving(
    tmp_path, mqtt_broker, site_pki, boards, cloud
) -> None:
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    io, issuer = boards
    config = write_lane_toml(tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "lane", "run", "--config", str(config), "--no-reader", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        cwd=REPO,
    )
    try:

        def health() -> dict:
            try:
                return httpx.get(f"{base}/api/health", timeout=2).json()
            except (httpx.HTTPError, ValueError):
                return {}

        wait_until(lambda: health().get("cloud_connected"), 30, "lane connected")
        with ConnectionWatch(base) as watch, httpx.Client(base_url=base, timeout=30) as tablet:
            for n in (140_000, 600_000):
                r = tablet.post("/api/session", json={"inspector_id": "A" * n, "pin": "0000"})
                assert r.status_code in (413, 422), (n, r.status_code)
            # the lane's own stream carries a message the bridge must refuse, sent with the lane's account
            after = cloud.storage.unit_records.watermarks()
            last = max([int(w["acked_seq"]) for w in after if w["unit"] == "lane-01"] or [0])
            junk = json.dumps(
                {
                    "v": 1,
                    "unit": "lane-01",
                    "seq": last + 1,
                    "ts": 1.0,
                    "kind": "device.fault",
                    "data": {"x": "A" * MAX_PAYLOAD_BYTES},
                }
            )
            _publish_as(mqtt_broker, site_pki, "lane-01", junk.encode())
            # 40 real events after it: sign-ins of the lane's inspectors
            for i in range(40):
                who = "insp-1" if i % 2 else "insp-2"
                assert tablet.post("/api/session", json={"inspector_id": who, "pin": PINS[who]}).status_code == 200
            wait_until(lambda: (health().get("outbox") or {}).get("depth") == 0, 60, "the lane's outbox drained")
            assert health()["outbox"]["acked_seq"] == health()["outbox"]["last_seq"] >= 40
        lane_events = cloud.events("lane-01")
        assert len(lane_events) == 40 and watch.samples >= 3, "the refused sign-ins journaled nothing"
        assert watch.lost == 0, f"the lane lost the broker in {watch.lost} of {watch.samples} samples"
        connects = mqtt_broker.log_file.read_text().count(" as lane-01 (")
        assert connects == 1, f"the lane connected {connects} times: its session dropped"
        stored = cloud.storage.unit_records.events("lane-01", 0, 10_000)
        assert all(e["kind"] != "event.refused" for e in stored), [
            (e["seq"], e["kind"]) for e in stored if e["kind"] == "event.refused"
        ] + [last, len(stored)]
        assert any("oversize" in d["reason"] for d in cloud.storage.unit_records.dead_letters()), (
            "the refused message is kept"
        )
        counts = cloud.storage.counts()
        assert counts["missing_seqs"] == 0 and counts["events_stored"] == len(stored)
        assert max(len(json.dumps(e["data"])) for e in stored) < 1000, "no event carries the 140,000-character id"
    finally:
        proc.terminate()
        proc.wait(20)
