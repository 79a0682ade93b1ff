"""The site broker's shipped config (deploy/mosquitto/passlane.conf): the same settings as the broker the tests
start (edge/broker.py), and a real Mosquitto started from it takes a unit's TLS login and refuses a wrong password."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from edge.broker import MosquittoBroker, find_dynsec_plugin, mosquitto_config
from edge.pki import SitePki

SHIPPED = Path(__file__).resolve().parents[2] / "deploy" / "mosquitto" / "passlane.conf"
# where the two differ by design: file locations, the listener's address, the log's destination, the user
PLACES = {"plugin", "plugin_opt_config_file", "persistence_location", "listener", "cafile", "certfile", "keyfile"}
PLACES |= {"log_dest", "user"}


def directives(text: str) -> list[tuple[str, str]]:
    """(name, value) per line, as Mosquitto reads them: comments and blank lines skipped."""
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, _, value = line.partition(" ")
            out.append((name, value.strip()))
    return out


def test_shipped_broker_config_has_the_tested_brokers_settings(tmp_path: Path) -> None:
    pki = SitePki(tmp_path)
    tested = mosquitto_config(pki, host="127.0.0.1", port=8883, data_dir=tmp_path)
    shipped = directives(SHIPPED.read_text())
    assert sorted(d for d in directives(tested) if d[0] not in PLACES) == sorted(
        d for d in shipped if d[0] not in PLACES
    )
    assert ("listener", "8883") in shipped
    paths = [v for n, v in shipped if n in ("cafile", "certfile", "keyfile", "plugin_opt_config_file")]
    assert all(p.startswith("/etc/mosquitto/passlane/") for p in paths), paths


class ShippedConfigBroker(MosquittoBroker):
    """The shipped file, its paths pointed at this test's site folder, as Debian's main config would wrap it."""

    def write_config(self) -> Path:
        text = SHIPPED.read_text().replace("/etc/mosquitto/passlane/", f"{self.pki.root}/")
        text = text.replace("/usr/lib/aarch64-linux-gnu/mosquitto_dynamic_security.so", find_dynsec_plugin())
        text = text.replace("listener 8883", f"listener {self.port} {self.host}")
        data = self.work_dir / "data"
        data.mkdir(parents=True, exist_ok=True)
        head = f"persistence_location {data}/\nlog_dest stderr\n" + ("user root\n" if os.geteuid() == 0 else "")
        self.config_file.write_text(head + text)
        return self.config_file


def _connect(broker: MosquittoBroker, user: str, password: str) -> int:
    """The CONNACK's reason code for a TLS login (0: accepted)."""
    got: list[int] = []
    done = threading.Event()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"{user}-probe", protocol=mqtt.MQTTv5)
    client.tls_set(ca_certs=str(broker.pki.ca_cert))
    client.username_pw_set(user, password)

    def on_connect(c: mqtt.Client, userdata: object, flags: object, reason: object, props: object) -> None:
        got.append(reason.value)  # type: ignore[attr-defined]
        done.set()

    client.on_connect = on_connect
    client.connect("localhost", broker.port)
    client.loop_start()
    try:
        assert done.wait(10), "no CONNACK"
    finally:
        client.disconnect()
        client.loop_stop()
    return got[0]


@pytest.mark.broker
def test_a_broker_started_from_the_shipped_config_takes_a_units_tls_login(tmp_path: Path) -> None:
    pki = SitePki(tmp_path / "site")
    pki.init("site-1", {"bridge": "bridge", "ops": "ops", "lane-01": "lane"})
    broker = ShippedConfigBroker(pki, tmp_path / "broker").start()
    try:
        assert _connect(broker, "lane-01", pki.password("lane-01")) == 0
        assert _connect(broker, "lane-01", "not-the-password") != 0
    finally:
        broker.stop()
