"""`passlane lane run` as a process: it starts, answers, and on SIGTERM shuts down cleanly with a retained `stopped`."""

from __future__ import annotations

import signal
import ssl
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import pytest
from lane_helpers import wait_until, write_lane_toml
from paho.mqtt.enums import CallbackAPIVersion

from edge.contract import Leaf, UnitStatus, topic

REPO = str(Path(__file__).resolve().parents[2])  # run the repo's code, whatever the cwd

pytestmark = pytest.mark.broker


def _retained_status(broker, pki, unit: str) -> str | None:
    got: list[bytes] = []
    done = threading.Event()
    c = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"ops-{uuid.uuid4().hex[:6]}", protocol=mqtt.MQTTv5)
    c.tls_set_context(ssl.create_default_context(cafile=str(pki.ca_cert)))
    c.username_pw_set("ops", pki.password("ops"))
    c.on_connect = lambda cl, *a: cl.subscribe(topic("site-1", unit, Leaf.STATUS), 1)

    def on_message(cl, u, msg) -> None:
        got.append(msg.payload)
        done.set()

    c.on_message = on_message
    c.connect(broker.host, broker.port)
    c.loop_start()
    done.wait(5)
    c.loop_stop()
    c.disconnect()
    return UnitStatus.from_bytes(got[-1]).state.value if got else None


def test_sigterm_stops_the_lane_cleanly_and_leaves_status_stopped(tmp_path, mqtt_broker, site_pki, boards):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    io, issuer = boards
    config = write_lane_toml(tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url)
    proc = subprocess.Popen(
        [sys.executable, "-m", "edge.cli", "lane", "run", "--config", str(config), "--no-reader", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=REPO,
    )
    try:

        def healthy() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/api/health", timeout=2).json()["cloud_connected"]
            except (httpx.HTTPError, ValueError):
                return False

        wait_until(healthy, 30, "lane connected")
        wait_until(lambda: _retained_status(mqtt_broker, site_pki, "lane-01") == "online", 10, "online")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(20) == 0
        assert _retained_status(mqtt_broker, site_pki, "lane-01") == "stopped"
    finally:
        if proc.poll() is None:
            proc.kill()
        proc.wait()


def test_a_lane_whose_vin_reader_cannot_load_refuses_to_start_with_the_cause(tmp_path, mqtt_broker, site_pki, boards):
    """No silent fallback: without --no-reader a broken reader stops the start, and says how to proceed."""
    io, issuer = boards
    config = write_lane_toml(tmp_path, mqtt_broker, site_pki, io_url=io.url, issuer_url=issuer.url)
    # the model installation is broken (here: the reader class cannot be constructed), the rest is the real `lane run`
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, vision; vision.VinReader = None; "
            "from edge.cli import main; sys.exit(main(['lane', 'run', '--config', sys.argv[1]]))",
            str(config),
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert r.returncode == 1, r.stdout + r.stderr
    assert "VIN reader could not be loaded" in r.stderr and "--no-reader" in r.stderr
